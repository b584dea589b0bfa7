import type { EventFrame, HistoryMessage } from "@parley/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ChatItem, RoomModel } from "./room.js";

const ROOM = "lobby";
const TS = 1_700_000_000_000;

const msg = (seq: number, from = "bob", body = `message ${seq}`, replyTo?: number): EventFrame => ({
  t: "msg",
  room: ROOM,
  seq,
  id: `m${seq}`,
  cid: `c${seq}`,
  from,
  body,
  ts: TS + seq,
  ...(replyTo === undefined ? {} : { replyTo }),
});
const edited = (at: number, seq: number, body: string, from = "bob"): EventFrame => ({
  t: "edited",
  room: ROOM,
  at,
  seq,
  id: `e${at}`,
  cid: `c${at}`,
  from,
  body,
  editedAt: TS + at,
});
const deleted = (at: number, seq: number, by = "bob"): EventFrame => ({
  t: "deleted",
  room: ROOM,
  at,
  seq,
  id: `d${at}`,
  cid: `c${at}`,
  by,
  ts: TS + at,
});
const reaction = (at: number, seq: number, user: string, emoji: string, on: boolean): EventFrame => ({
  t: "reaction",
  room: ROOM,
  at,
  seq,
  id: `r${at}`,
  cid: `c${at}`,
  user,
  emoji,
  on,
  ts: TS + at,
});

/** A message as the history API or the inbox gives it. */
const stored = (seq: number, extra: Partial<HistoryMessage> = {}): HistoryMessage => ({
  room: ROOM,
  seq,
  id: `m${seq}`,
  cid: `c${seq}`,
  from: "bob",
  ts: TS + seq,
  body: `message ${seq}`,
  reactions: [],
  ...extra,
});

function joined(me = "me"): RoomModel {
  const room = new RoomModel(ROOM, me);
  room.onJoined(0, true);
  return room;
}

/** What the UI shows of each message, without keys and times. */
const shown = (room: RoomModel) =>
  room.snapshot().items.map(({ seq, from, body, deleted, editedAt, reactions, replyTo }: ChatItem) => ({
    seq,
    from,
    body,
    deleted,
    ...(editedAt === undefined ? {} : { editedAt }),
    reactions,
    ...(replyTo === undefined ? {} : { replyTo }),
  }));

describe("RoomModel stream", () => {
  it("advances the gap-free position over the `at` of edits, deletions and reactions, not only over messages", () => {
    const room = joined();
    expect(room.onEvent(msg(1))).toBe("new");
    expect(room.onEvent(edited(2, 1, "fixed"))).toBe("new");
    expect(room.onEvent(reaction(3, 1, "carol", "👍", true))).toBe("new");
    expect(room.onEvent(msg(4))).toBe("new");
    expect(room.onEvent(deleted(5, 4))).toBe("new");
    expect(room.lastSeq).toBe(5);
    // The message an event changes is not its position: seq 1 again says nothing about a gap.
    expect(room.onEvent(reaction(6, 1, "dave", "🎉", true))).toBe("new");
    expect(room.onEvent(reaction(6, 1, "dave", "🎉", true))).toBe("duplicate");
    expect(room.onEvent(reaction(8, 1, "erin", "🎉", true))).toBe("gap");
    expect(room.lastSeq).toBe(6);
    expect(room.onEvent(edited(7, 1, "fixed again"))).toBe("new");
    expect(room.lastSeq).toBe(8);
  });

  it("shows edits, the edited time, tombstones and reactions on the messages they change", () => {
    const room = joined();
    room.onEvent(msg(1, "bob", "helo"));
    room.onEvent(msg(2, "me", "hi bob"));
    room.onEvent(edited(3, 1, "hello"));
    room.onEvent(reaction(4, 1, "me", "👍", true));
    room.onEvent(reaction(5, 1, "carol", "👍", true));
    room.onEvent(reaction(6, 1, "carol", "👍", true));
    room.onEvent(reaction(7, 2, "bob", "❤️", true));
    room.onEvent(deleted(8, 2, "me"));
    expect(shown(room)).toEqual([
      {
        seq: 1,
        from: "bob",
        body: "hello",
        deleted: false,
        editedAt: TS + 3,
        reactions: [{ emoji: "👍", count: 2, mine: true }],
      },
      { seq: 2, from: "me", body: "", deleted: true, reactions: [] },
    ]);
  });

  it("takes a replayed tombstone (a deletion at the message's own seq) as the deleted message", () => {
    const room = joined();
    room.onEvent(deleted(1, 1, "bob"));
    room.onEvent(deleted(2, 1, "bob")); // an edit of it, replayed as a deletion at its own position
    room.onEvent(msg(3, "carol", "what did bob say?", 1));
    expect(room.lastSeq).toBe(3);
    expect(shown(room)).toEqual([
      { seq: 1, from: "bob", body: "", deleted: true, reactions: [] },
      {
        seq: 3,
        from: "carol",
        body: "what did bob say?",
        deleted: false,
        reactions: [],
        replyTo: { seq: 1, from: "bob", deleted: true },
      },
    ]);
  });

  it("quotes the first line of the message a reply answers, as it stands now, or just its seq if not loaded", () => {
    const room = joined();
    room.onEvent(msg(5, "bob", "\nfirst line\nsecond line"));
    room.onEvent(msg(6, "me", "agreed", 5));
    room.onEvent(msg(7, "me", "and this", 2));
    expect(room.snapshot().items.map((item) => item.replyTo)).toEqual([
      undefined,
      { seq: 5, from: "bob", excerpt: "first line", deleted: false },
      { seq: 2, deleted: false },
    ]);
    room.onEvent(edited(8, 5, "better first line"));
    expect(room.snapshot().items[1]?.replyTo).toEqual({
      seq: 5,
      from: "bob",
      excerpt: "better first line",
      deleted: false,
    });
  });

  it("folds a room's events to the same state in whatever order, and however often, they arrive", () => {
    const users = ["me", "bob", "carol"];
    const action = fc.oneof(
      fc.record({ kind: fc.constant("msg" as const), from: fc.constantFrom(...users) }),
      fc.record({ kind: fc.constant("edit" as const), target: fc.nat(3), text: fc.constantFrom("a", "b", "c") }),
      fc.record({ kind: fc.constant("delete" as const), target: fc.nat(3) }),
      fc.record({
        kind: fc.constant("react" as const),
        target: fc.nat(3),
        user: fc.constantFrom(...users),
        emoji: fc.constantFrom("👍", "🎉", ":tada:"),
        on: fc.boolean(),
      }),
    );
    const stream = fc.array(action, { minLength: 1, maxLength: 30 }).map((actions) => {
      // Positions 1.. in order; changes name one of the messages posted so far (or are dropped).
      const frames: EventFrame[] = [];
      const messages: number[] = [];
      for (const step of actions) {
        const at = frames.length + 1;
        if (step.kind === "msg") {
          messages.push(at);
          frames.push(msg(at, step.from));
          continue;
        }
        const target = messages[step.target % Math.max(messages.length, 1)];
        if (target === undefined) continue;
        if (step.kind === "edit") frames.push(edited(at, target, step.text));
        else if (step.kind === "delete") frames.push(deleted(at, target));
        else frames.push(reaction(at, target, step.user, step.emoji, step.on));
      }
      return frames;
    });
    fc.assert(
      fc.property(
        stream.chain((frames) =>
          fc.tuple(fc.constant(frames), fc.shuffledSubarray(frames, { minLength: frames.length }), fc.subarray(frames)),
        ),
        ([frames, shuffled, repeated]) => {
          const inOrder = joined();
          for (const frame of frames) inOrder.onEvent(frame);
          const anyOrder = joined();
          for (const frame of [...shuffled, ...repeated]) anyOrder.onEvent(frame);
          expect(shown(anyOrder)).toEqual(shown(inOrder));
          expect(anyOrder.lastSeq).toBe(frames.length);
          expect(shown(inOrder)).toEqual(reference(frames));
        },
      ),
    );
  });

  it("starts a rebased run at the first replayed event, even when it is a reaction, and fills the hole", () => {
    const room = joined();
    room.onEvent(msg(1));
    room.onEvent(msg(2));
    room.onDisconnected();
    room.onJoined(500, false);
    room.onEvent(reaction(481, 2, "carol", "👍", true));
    room.onEvent(msg(482));
    expect(room.lastSeq).toBe(482);
    expect(room.takeHole()).toEqual({ after: 2, before: 481 });
  });
});

describe("RoomModel history", () => {
  it("merges a page of messages as they stand, with holes between their seqs, under what the stream gave", () => {
    const room = new RoomModel(ROOM, "me");
    room.onJoined(60, false);
    // The replay reaches back only to seq 50: its reactions and edits name messages older than that.
    room.onEvent(reaction(50, 10, "carol", "👍", true));
    room.onEvent(edited(51, 12, "edited in the replay"));
    room.onEvent(msg(52));
    // The page above the replay, asked for after it: it reflects those events already.
    const asOf = room.historyMark();
    room.onHistory(
      [
        stored(10, { reactions: [{ emoji: "👍", count: 1, mine: false }] }),
        stored(12, { body: "edited in the replay", editedAt: TS + 51 }),
        stored(15, { deleted: true, body: undefined }),
        stored(20, { body: "plain", replyTo: 15 }),
      ],
      false,
      asOf,
    );
    expect(shown(room)).toEqual([
      { seq: 10, from: "bob", body: "message 10", deleted: false, reactions: [{ emoji: "👍", count: 1, mine: false }] },
      { seq: 12, from: "bob", body: "edited in the replay", deleted: false, editedAt: TS + 51, reactions: [] },
      { seq: 15, from: "bob", body: "", deleted: true, reactions: [] },
      {
        seq: 20,
        from: "bob",
        body: "plain",
        deleted: false,
        reactions: [],
        replyTo: { seq: 15, from: "bob", deleted: true },
      },
      { seq: 52, from: "bob", body: "message 52", deleted: false, reactions: [] },
    ]);
    expect(room.hasOlder).toBe(false);
  });

  it("applies on top of a page the events received after it was asked for", () => {
    const room = new RoomModel(ROOM, "me");
    room.onJoined(60, false);
    room.onEvent(reaction(50, 10, "carol", "👍", true));
    room.onEvent(reaction(51, 10, "me", "👍", true));
    room.onEvent(msg(52));
    const asOf = room.historyMark();
    room.onHistory([stored(10, { reactions: [{ emoji: "👍", count: 2, mine: true }] })], false, asOf);
    expect(room.snapshot().items[0]?.reactions).toEqual([{ emoji: "👍", count: 2, mine: true }]);
    room.onEvent(reaction(53, 10, "carol", "👍", false));
    expect(room.snapshot().items[0]?.reactions).toEqual([{ emoji: "👍", count: 1, mine: true }]);
  });

  it("reads a page from a server without reactions", () => {
    const room = joined();
    const { reactions: _none, ...older } = stored(3);
    room.onHistory([older], false, room.historyMark());
    expect(room.snapshot().items).toMatchObject([{ seq: 3, body: "message 3", reactions: [] }]);
  });
});

describe("RoomModel own changes", () => {
  const frames = (room: RoomModel) => room.takeUnsent().map(({ t, cid }) => `${t}:${cid}`);

  it("shows an edit, deletion or reaction at once, until its event comes back, and sends each until acked", () => {
    const room = joined();
    room.onEvent(msg(1, "me", "tpyo"));
    room.onEvent(msg(2, "bob", "nice"));
    room.addChange({ t: "edit", room: ROOM, seq: 1, body: "typo", cid: "e1" });
    room.addChange({ t: "react", room: ROOM, seq: 2, emoji: "👍", on: true, cid: "r1" });
    expect(shown(room).map(({ body, reactions }) => ({ body, reactions }))).toEqual([
      { body: "typo", reactions: [] },
      { body: "nice", reactions: [{ emoji: "👍", count: 1, mine: true }] },
    ]);
    expect(room.snapshot().items[0]?.saving).toBe("edit");
    expect(frames(room)).toEqual(["edit:e1", "react:r1"]);
    expect(frames(room)).toEqual([]);
    // The connection drops before the acks: both go out again, with the same cids.
    room.onDisconnected();
    room.onJoined(2, true);
    expect(frames(room)).toEqual(["edit:e1", "react:r1"]);
    room.onEvent({ ...edited(3, 1, "typo", "me"), cid: "e1" });
    room.onAck("e1", 3);
    room.onAck("r1", 4);
    room.onEvent({ ...reaction(4, 2, "me", "👍", true), cid: "r1" });
    expect(room.snapshot().items[0]).toMatchObject({ body: "typo", editedAt: TS + 3 });
    expect(room.snapshot().items[0]?.saving).toBeUndefined();
    expect(room.snapshot().items[1]?.reactions).toEqual([{ emoji: "👍", count: 1, mine: true }]);
    room.onDisconnected();
    room.onJoined(4, true);
    expect(frames(room)).toEqual([]);
  });

  it("surfaces a refused change on its message and stops showing it; a retriable one can be retried", () => {
    const room = joined();
    room.onEvent(msg(1, "me", "mine"));
    room.addChange({ t: "delete", room: ROOM, seq: 1, cid: "d1" });
    expect(room.snapshot().items[0]).toMatchObject({ deleted: true, saving: "delete" });
    room.takeUnsent();
    expect(room.onChangeError("d1", "too fast", true)).toBe(true);
    expect(room.snapshot().items[0]).toMatchObject({
      deleted: false,
      body: "mine",
      failedChange: { cid: "d1", action: "delete", reason: "too fast", retriable: true },
    });
    expect(room.retry("d1")).toBe(true);
    expect(room.snapshot().items[0]).toMatchObject({ deleted: true });
    expect(room.takeUnsent()).toEqual([{ t: "delete", room: ROOM, seq: 1, cid: "d1" }]);
    room.onChangeError("d1", "the message was not found.", false);
    room.dismiss("d1");
    expect(room.snapshot().items[0]?.failedChange).toBeUndefined();
  });

  it("sends a reply with the seq it answers, and quotes it while on its way", () => {
    const room = joined();
    room.onEvent(msg(1, "bob", "lunch?"));
    room.addSend("s1", "yes", TS, 1);
    expect(room.takeUnsent()).toEqual([{ t: "send", room: ROOM, cid: "s1", body: "yes", replyTo: 1 }]);
    expect(room.snapshot().items[1]).toMatchObject({
      body: "yes",
      delivery: "sending",
      replyTo: { seq: 1, from: "bob", excerpt: "lunch?" },
    });
  });
});

/** The state of every message from its events in seq order, by the rules as the protocol states them. */
function reference(frames: readonly EventFrame[]) {
  type State = {
    seq: number;
    from: string;
    body: string;
    deleted: boolean;
    editedAt?: number;
    reactions: Map<string, Map<string, boolean>>;
  };
  const messages = new Map<number, State>();
  for (const frame of frames) {
    if (frame.t === "msg") {
      messages.set(frame.seq, {
        seq: frame.seq,
        from: frame.from,
        body: frame.body,
        deleted: false,
        reactions: new Map(),
      });
      continue;
    }
    const state = messages.get(frame.seq);
    if (!state) continue;
    if (frame.t === "deleted") state.deleted = true;
    else if (frame.t === "edited") {
      state.body = frame.body;
      state.editedAt = frame.editedAt;
    } else {
      const users = state.reactions.get(frame.emoji) ?? new Map<string, boolean>();
      users.set(frame.user, frame.on);
      state.reactions.set(frame.emoji, users);
    }
  }
  return [...messages.values()].map(({ seq, from, body, deleted, editedAt, reactions }) =>
    deleted
      ? { seq, from, body: "", deleted, reactions: [] }
      : {
          seq,
          from,
          body,
          deleted,
          ...(editedAt === undefined ? {} : { editedAt }),
          reactions: [...reactions]
            .map(([emoji, users]) => ({
              emoji,
              count: [...users.values()].filter(Boolean).length,
              mine: users.get("me") === true,
            }))
            .filter((reaction) => reaction.count > 0),
        },
  );
}

describe("RoomModel inbox", () => {
  it("counts unread from the inbox while older pages are needed to reach the read position, then from the messages", () => {
    const room = new RoomModel(ROOM, "me");
    room.onInbox({ latest: 120, read: 10, unread: 90 });
    expect(room.lastRead).toBe(10);
    expect(room.snapshot().unread).toBe(90);
    room.onJoined(120, false);
    for (let seq = 101; seq <= 120; seq++) room.onEvent(msg(seq));
    expect(room.snapshot().unread).toBe(90);
    // Live messages above what the server counted add to its count; our own do not.
    room.onEvent(msg(121));
    room.onEvent(msg(122, "me"));
    expect(room.snapshot().unread).toBe(91);
    // Once history reaches back to the read position, the loaded messages are counted.
    const page = Array.from({ length: 90 }, (_, i) => stored(11 + i));
    room.onHistory(page, true, room.historyMark());
    expect(room.snapshot().unread).toBe(111);
  });

  it("lets a position only assumed by the first join give way to the server's, but keeps it when the server has none", () => {
    const assumed = new RoomModel(ROOM, "me");
    assumed.onJoined(10, true);
    expect(assumed.onInbox({ latest: 10, read: 4, unread: 6 })).toBe(true);
    expect(assumed.lastRead).toBe(4);
    expect(assumed.readUnreported()).toBe(false);
    const unknown = new RoomModel(ROOM, "me");
    unknown.onJoined(10, true);
    expect(unknown.onInbox({ latest: 10, read: 0, unread: 10 })).toBe(false);
    expect(unknown.lastRead).toBe(10);
    expect(unknown.readUnreported()).toBe(true);
    // A position the user saw is never lowered.
    const seen = new RoomModel(ROOM, "me");
    seen.onJoined(0, true);
    seen.onEvent(msg(1));
    seen.onEvent(msg(2));
    seen.markRead();
    expect(seen.onInbox({ latest: 2, read: 1, unread: 1 })).toBe(false);
    expect(seen.lastRead).toBe(2);
    expect(seen.snapshot().unread).toBe(0);
  });

  it("previews the newest message: the inbox's until a newer one is loaded, as it stands now", () => {
    const room = new RoomModel(ROOM, "me");
    room.onInbox({ latest: 3, read: 3, unread: 0, last: stored(3, { body: "hello\nworld" }) });
    expect(room.snapshot().last).toEqual({ seq: 3, from: "bob", excerpt: "hello", deleted: false });
    // A live entry carries no message: the one known stays.
    room.onInbox({ latest: 3, read: 3, unread: 0 });
    expect(room.snapshot().last).toEqual({ seq: 3, from: "bob", excerpt: "hello", deleted: false });
    room.onJoined(3, true);
    room.onEvent(msg(4, "me", "mine"));
    expect(room.snapshot().last).toEqual({ seq: 4, from: "me", excerpt: "mine", deleted: false });
    room.onEvent(deleted(5, 4, "me"));
    expect(room.snapshot().last).toEqual({ seq: 4, from: "me", deleted: true });
  });
});

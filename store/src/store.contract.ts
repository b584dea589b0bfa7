import { randomUUID } from "node:crypto";
import {
  type ChatMessage,
  chatMessageSchema,
  type Deletion,
  deletionSchema,
  dmRoom,
  type Edit,
  editSchema,
  isMessage,
  isRetriable,
  MAX_UNREAD,
  ParleyError,
  type Reaction,
  type ReactionCount,
  type RoomEvent,
  reactionSchema,
} from "@parley/protocol";
import { uniqueName } from "@parley/testkit";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NewFile, Store, StoredMessage } from "./store.js";

export interface StoreFactory {
  /** A store on a database no other test file uses; the suite migrates it. Tests keep apart by room name. */
  create(): Promise<Store>;
  /**
   * Every body the database holds for the room's rows, in seq order, read past the store's queries: reads hide a
   * deleted message's body whether or not it is still there, so only this shows that a deletion dropped it.
   */
  bodies(room: string): Promise<string[]>;
}

const BASE_TS = 1_700_000_000_000;

/** A valid message of `room` at `seq`, with fresh ids. */
export function testMessage(room: string, seq: number, overrides: Partial<ChatMessage> = {}): ChatMessage {
  return {
    room,
    seq,
    id: randomUUID(),
    cid: randomUUID(),
    from: "alice",
    body: `message ${seq}`,
    ts: BASE_TS + seq,
    ...overrides,
  };
}

/** An edit at `seq` of message `target`, with fresh ids. */
export function testEdit(room: string, seq: number, target: number, overrides: Partial<Edit> = {}): Edit {
  return { ...sequenced(room, seq), kind: "edit", target, body: `edit ${seq} of ${target}`, ...overrides };
}

/** A deletion at `seq` of message `target`, with fresh ids. */
export function testDeletion(room: string, seq: number, target: number, overrides: Partial<Deletion> = {}): Deletion {
  return { ...sequenced(room, seq), kind: "delete", target, ...overrides };
}

/** `from` putting `emoji` on message `target` (or taking it off), at `seq`, with fresh ids. */
export function testReaction(
  room: string,
  seq: number,
  target: number,
  { from, emoji, on }: Pick<Reaction, "from" | "emoji" | "on">,
): Reaction {
  return { ...sequenced(room, seq), kind: "react", target, from, emoji, on };
}

function sequenced(room: string, seq: number) {
  return { room, seq, id: randomUUID(), cid: randomUUID(), from: "alice", ts: BASE_TS + seq };
}

/** A message as history gives it when nothing changed it. */
function unchanged(message: ChatMessage): StoredMessage {
  return { ...message, reactions: [] };
}

/** A deleted message in history: who sent it when, what it answered, and nothing else. */
function deletedMessage({ body: _body, ...message }: ChatMessage): StoredMessage {
  return { ...message, deleted: true, reactions: [] };
}

/** What `events` gives for a deleted message, or for an edit of one: a deletion at its own seq. */
function tombstone(event: ChatMessage | Edit): Deletion {
  const { room, seq, id, cid, from, ts } = event;
  return { kind: "delete", room, seq, target: isMessage(event) ? seq : event.target, id, cid, from, ts };
}

function isDeletion(event: RoomEvent): event is Deletion {
  return !isMessage(event) && event.kind === "delete";
}

/**
 * The state `events` must end in, worked out the plainest way (in seq order, one event at a time), to hold every
 * insertion order against: what `events`, `history` for each viewer, and the stored bodies must be.
 */
function expectedState(events: readonly RoomEvent[]) {
  const sorted = [...events].sort((a, b) => a.seq - b.seq);
  const deleted = new Set(sorted.filter(isDeletion).map((deletion) => deletion.target));
  const isGone = (event: RoomEvent): event is ChatMessage | Edit =>
    isMessage(event) ? deleted.has(event.seq) : event.kind === "edit" && deleted.has(event.target);
  const history = (viewer: string): StoredMessage[] =>
    sorted.filter(isMessage).map((message) => {
      if (deleted.has(message.seq)) return deletedMessage(message);
      const amendments = sorted.filter(
        (event): event is Edit | Deletion | Reaction => !isMessage(event) && event.target === message.seq,
      );
      const latestEdit = amendments.filter((event): event is Edit => event.kind === "edit").at(-1);
      const byEmoji = new Map<string, Map<string, boolean>>();
      for (const reaction of amendments.filter((event): event is Reaction => event.kind === "react")) {
        // Map keeps insertion order: an emoji's place is set by its first `on`, later events only update users.
        if (reaction.on && !byEmoji.has(reaction.emoji)) byEmoji.set(reaction.emoji, new Map());
        byEmoji.get(reaction.emoji)?.set(reaction.from, reaction.on);
      }
      const reactions: ReactionCount[] = [];
      for (const [emoji, users] of byEmoji) {
        const on = [...users].filter(([, isOn]) => isOn).map(([user]) => user);
        if (on.length > 0) reactions.push({ emoji, count: on.length, mine: on.includes(viewer) });
      }
      const edit = latestEdit === undefined ? {} : { body: latestEdit.body, editedAt: latestEdit.ts };
      return { ...message, ...edit, reactions };
    });
  return {
    events: sorted.map((event) => (isGone(event) ? tombstone(event) : event)),
    history,
    bodies: sorted.map((event) => (isGone(event) || !("body" in event) ? "" : event.body)),
  };
}

/** The behaviour every {@link Store} must show; run it over each implementation. */
export function storeContract(name: string, factory: StoreFactory): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await factory.create();
      await store.migrate();
    });
    afterAll(async () => {
      await store?.close();
    });

    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);
    const seqs = (events: readonly { seq: number }[]) => events.map((event) => event.seq);
    const everything = (room: string) => store.events({ room, after: 0, limit: 1_000 });
    const viewer = "alice";

    it("migrates again, also concurrently, as a no-op", async () => {
      await Promise.all([store.migrate(), store.migrate()]);
      const room = uniqueName("room");
      expect(await store.insert([testMessage(room, 1)])).toBe(1);
    });

    it("stores messages exactly and returns them in seq order", async () => {
      const room = uniqueName("room");
      const unusual = { body: "emoji 🎉, accents é, CJK 漢字, quotes '\"", ts: Number.MAX_SAFE_INTEGER };
      const messages = [testMessage(room, 3, unusual), testMessage(room, 1), testMessage(room, 2)];
      expect(await store.insert(messages)).toBe(3);
      const sorted = [...messages].sort((a, b) => a.seq - b.seq);
      expect(await everything(room)).toEqual(sorted);
      expect(await store.history({ room, limit: 10, viewer })).toEqual(sorted.map(unchanged));
      expect(await everything(uniqueName("empty"))).toEqual([]);
      expect(await store.history({ room: uniqueName("empty"), limit: 10, viewer })).toEqual([]);
    });

    it("skips events already stored under the same (room, seq) or id, without error", async () => {
      const room = uniqueName("room");
      const message = testMessage(room, 1);
      const reaction = testReaction(room, 2, 1, { from: "bob", emoji: "👍", on: true });
      expect(await store.insert([message, reaction])).toBe(2);
      expect(await store.insert([message, reaction])).toBe(0);
      const fresh = testMessage(room, 4);
      const skipped = [
        testEdit(room, 1, 1, { body: "an edit claiming seq 1" }),
        testMessage(room, 3, { id: reaction.id }),
        // Skipped deletions delete nothing: the message keeps its body.
        testDeletion(room, 2, 1),
        testDeletion(room, 5, 1, { id: message.id }),
      ];
      expect(await store.insert([...skipped, fresh, fresh])).toBe(1);
      expect(await everything(room)).toEqual([message, reaction, fresh]);
      expect(await factory.bodies(room)).toEqual([message.body, "", fresh.body]);
    });

    it("keeps a reply's replyTo, and gives none to a message without one", async () => {
      const room = uniqueName("room");
      const question = testMessage(room, 1);
      const answer = testMessage(room, 2, { replyTo: 1 });
      await store.insert([answer, question]);
      expect(await everything(room)).toEqual([question, answer]);
      const history = await store.history({ room, limit: 10, viewer });
      expect(history).toEqual([unchanged(question), unchanged(answer)]);
      expect(history[0]).not.toHaveProperty("replyTo");
      expect(history[1]?.replyTo).toBe(1);
    });

    it("pages events with after, before and limit, every kind taking its seq", async () => {
      const room = uniqueName("room");
      // Odd seqs are messages, even ones reactions to the message before.
      const events = range(1, 30).map((seq) =>
        seq % 2 === 1
          ? testMessage(room, seq)
          : testReaction(room, seq, seq - 1, { from: "bob", emoji: "👍", on: true }),
      );
      await store.insert(events);
      const page = (query: { after: number; before?: number; limit: number }) =>
        store.events({ room, ...query }).then(seqs);
      expect(await page({ after: 0, limit: 5 })).toEqual(range(1, 5));
      expect(await page({ after: 10, limit: 5 })).toEqual(range(11, 15));
      expect(await page({ after: 28, limit: 5 })).toEqual([29, 30]);
      expect(await page({ after: 10, before: 13, limit: 5 })).toEqual([11, 12]);
      expect(await page({ after: 0, limit: 0 })).toEqual([]);
      expect(await everything(room)).toEqual(events);
    });

    it("pages history by messages alone, the newest below before", async () => {
      const room = uniqueName("room");
      const events = range(1, 30).map((seq) => (seq % 3 === 0 ? testEdit(room, seq, seq - 1) : testMessage(room, seq)));
      await store.insert(events);
      const page = (query: { before?: number; limit: number }) => store.history({ room, viewer, ...query }).then(seqs);
      expect(await page({ limit: 4 })).toEqual([25, 26, 28, 29]);
      expect(await page({ before: 10, limit: 3 })).toEqual([5, 7, 8]);
      expect(await page({ before: 3, limit: 5 })).toEqual([1, 2]);
      expect(await page({ limit: 0 })).toEqual([]);
    });

    it("inserts a batch beyond PostgreSQL's bind-parameter limit in one call", async () => {
      const room = uniqueName("room");
      const count = 20_000;
      expect(await store.insert(range(1, count).map((seq) => testMessage(room, seq)))).toBe(count);
      expect(seqs(await store.events({ room, after: 0, limit: count }))).toEqual(range(1, count));
    });

    it("rejects a batch holding data the database refuses with a non-retriable error, storing none of it", async () => {
      const room = uniqueName("room");
      // PostgreSQL text cannot hold NUL; rows after the first statement's chunk prove the whole call rolls back.
      const batch: RoomEvent[] = range(1, 10_000).map((seq) => testMessage(room, seq));
      batch.push(testMessage(room, 10_001, { id: "nul\u0000id" }));
      const error = await store.insert(batch).then(
        () => undefined,
        (rejection: unknown) => rejection,
      );
      expect(error).toBeInstanceOf(ParleyError);
      expect(isRetriable(error)).toBe(false);
      expect(await everything(room)).toEqual([]);
    });

    it("keeps concurrent inserts apart: one failing does not undo another", async () => {
      const room = uniqueName("room");
      // A deletion in each batch makes it a transaction of more than one statement.
      const big = 10_000;
      const good: RoomEvent[] = range(1, big).map((seq) => testMessage(room, seq));
      good.push(testDeletion(room, big + 1, 1));
      const small: RoomEvent[] = range(big + 2, big + 100).map((seq) => testMessage(room, seq));
      small.push(testDeletion(room, big + 101, big + 2));
      const bad: RoomEvent[] = range(1, big).map((seq) => testMessage(uniqueName("room"), seq));
      bad.push(testDeletion(room, big + 1_000, 2), testMessage(room, big + 1_001, { id: "nul\u0000id" }));
      const results = await Promise.allSettled([store.insert(good), store.insert(bad), store.insert(small)]);
      expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      const stored = await store.events({ room, after: 0, limit: 2 * big });
      expect(seqs(stored)).toEqual(range(1, big + 101));
      expect(await store.target(room, 2)).toEqual({ from: "alice", deleted: false });
    });

    it("applies the latest edit by seq, whatever order the edits arrive in", async () => {
      const room = uniqueName("room");
      const message = testMessage(room, 1);
      const other = testMessage(room, 2);
      const first = testEdit(room, 3, 1, { body: "first edit" });
      const second = testEdit(room, 4, 1, { body: "second edit" });
      // The later edit first, each in a call of its own: arrival order must not decide.
      for (const event of [second, other, first, message]) await store.insert([event]);
      expect(await store.history({ room, limit: 10, viewer })).toEqual([
        { ...unchanged(message), body: "second edit", editedAt: second.ts },
        unchanged(other),
      ]);
      // The stream keeps every event as it was.
      expect(await everything(room)).toEqual([message, other, first, second]);
    });

    describe("drops a deleted message's body and its edits', whichever arrives first", () => {
      const arrivals: Record<string, (events: readonly RoomEvent[]) => RoomEvent[][]> = {
        "the deletion last": (events) => events.map((event) => [event]),
        "the deletion first": (events) => [...events].reverse().map((event) => [event]),
        "all in one batch": (events) => [[...events]],
      };
      for (const [arrival, batches] of Object.entries(arrivals)) {
        it(arrival, async () => {
          const room = uniqueName("room");
          const message = testMessage(room, 1, { replyTo: 1 });
          const kept = testMessage(room, 2);
          const edit = testEdit(room, 3, 1);
          const reaction = testReaction(room, 4, 1, { from: "bob", emoji: "👍", on: true });
          const deletion = testDeletion(room, 5, 1, { from: "carol" });
          const lateEdit = testEdit(room, 6, 1);
          for (const batch of batches([message, kept, edit, reaction, deletion, lateEdit])) await store.insert(batch);

          expect(await store.history({ room, limit: 10, viewer })).toEqual([deletedMessage(message), unchanged(kept)]);
          expect(await everything(room)).toEqual([
            tombstone(message),
            kept,
            tombstone(edit),
            reaction,
            deletion,
            tombstone(lateEdit),
          ]);
          expect(await factory.bodies(room)).toEqual(["", kept.body, "", "", "", ""]);
        });
      }
    });

    it("counts each user's latest reaction per emoji once, in the order the emoji were first used", async () => {
      const room = uniqueName("room");
      const message = testMessage(room, 1);
      const react = (seq: number, from: string, emoji: string, on: boolean) =>
        testReaction(room, seq, 1, { from, emoji, on });
      const events = [
        message,
        react(2, "carol", ":tada:", false), // taking off what was never on: not a use of it
        react(3, "bob", "👍", true),
        react(4, "carol", "❤️", true),
        react(5, "bob", "👍", true), // again: still one user
        react(6, "dave", "👍", true),
        react(7, "carol", "❤️", false), // nobody left: ❤️ is gone
        react(8, "alice", ":tada:", true),
        react(9, "dave", "👍", false),
        react(10, "dave", "👍", true),
        react(11, "bob", ":tada:", true),
        react(12, "bob", ":tada:", false), // taken back: no longer bob's
      ];
      const reactions = (viewer: string) =>
        store.history({ room, limit: 1, viewer }).then((page) => page[0]?.reactions);
      const expected = (mine: { "👍": boolean; ":tada:": boolean }) => [
        { emoji: "👍", count: 2, mine: mine["👍"] },
        { emoji: ":tada:", count: 1, mine: mine[":tada:"] },
      ];
      // Newest first, one call each: every later event arrives before the one it overrides.
      for (const event of [...events].reverse()) await store.insert([event]);
      expect(await reactions("alice")).toEqual(expected({ "👍": false, ":tada:": true }));
      expect(await reactions("bob")).toEqual(expected({ "👍": true, ":tada:": false }));
      expect(await reactions("carol")).toEqual(expected({ "👍": false, ":tada:": false }));

      expect(await store.insert(events)).toBe(0);
      expect(await reactions("dave")).toEqual(expected({ "👍": true, ":tada:": false }));
    });

    describe("search", () => {
      /** A word no other test uses: the search spans every room of the database. */
      const word = () => `w${randomUUID().replaceAll("-", "").slice(0, 12)}`;
      /** Users of a fresh pair and a third, sorted as DM names need: `a < b < c`. */
      const users = () => {
        const suffix = randomUUID().slice(0, 8);
        return { a: `a${suffix}`, b: `b${suffix}`, c: `c${suffix}` };
      };
      const found = (hits: readonly { room: string; seq: number }[]) => hits.map((hit) => `${hit.room}#${hit.seq}`);

      it("finds messages by whole word, case-insensitively, newest first, with phrases, exclusion and OR", async () => {
        const room = uniqueName("room");
        const w = word();
        const messages = [
          testMessage(room, 1, { body: `the ${w} quick fox` }),
          testMessage(room, 2, { body: `Another ${w.toUpperCase()}, slow`, replyTo: 1 }),
          testMessage(room, 3, { body: `nothing here ${w}x` }),
        ];
        await store.insert(messages);
        const search = (q: string) => store.search({ user: viewer, q, limit: 10 });
        const [first, second] = messages as [ChatMessage, ChatMessage];
        expect(await search(w)).toEqual([second, first]);
        expect(found(await search(`${w} -slow`))).toEqual([`${room}#1`]);
        expect(found(await search(`"quick ${w}"`))).toEqual([]);
        expect(found(await search(`"${w} quick"`))).toEqual([`${room}#1`]);
        expect(found(await search(`${w}x OR fox`))).toEqual([`${room}#3`, `${room}#1`]);
      });

      it("matches the current body only: an edited-away word is gone, the new one found", async () => {
        const room = uniqueName("room");
        const [old, fresh, between] = [word(), word(), word()];
        const message = testMessage(room, 1, { body: `first ${old}` });
        const edits = [
          testEdit(room, 2, 1, { body: `then ${between}` }),
          testEdit(room, 3, 1, { body: `now ${fresh}` }),
        ];
        // The latest edit first: arrival order must not decide.
        for (const event of [...edits].reverse()) await store.insert([event]);
        await store.insert([message]);
        expect(await store.search({ user: viewer, q: old, limit: 10 })).toEqual([]);
        expect(await store.search({ user: viewer, q: between, limit: 10 })).toEqual([]);
        expect(await store.search({ user: viewer, q: fresh, limit: 10 })).toEqual([
          { ...message, body: `now ${fresh}`, editedAt: edits[1]?.ts },
        ]);
      });

      it("never finds a deleted message, nor its edits, whichever arrives first", async () => {
        const room = uniqueName("room");
        const w = word();
        const events: RoomEvent[] = [
          testMessage(room, 1, { body: `gone ${w}` }),
          testMessage(room, 2, { body: `edited later` }),
          testEdit(room, 3, 2, { body: `edited ${w}` }),
          testDeletion(room, 4, 2),
          testMessage(room, 5, { body: `kept ${w}` }),
        ];
        await store.insert([testDeletion(room, 6, 1)]);
        for (const event of events) await store.insert([event]);
        expect(found(await store.search({ user: viewer, q: w, limit: 10 }))).toEqual([`${room}#5`]);
      });

      it("searches plain rooms and the user's own direct rooms, never another pair's", async () => {
        const { a, b, c } = users();
        const [plain, ours, theirs] = [uniqueName("room"), `dm:${a}:${b}`, `dm:${b}:${c}`];
        const w = word();
        await store.insert([
          testMessage(plain, 1, { body: `in the open ${w}`, from: a }),
          testMessage(ours, 1, { body: `between a and b ${w}`, from: a }),
          testMessage(theirs, 1, { body: `between b and c ${w}`, from: c }),
        ]);
        const search = (user: string, room?: string) =>
          store.search({ user, q: w, limit: 10, ...(room === undefined ? {} : { room }) }).then(found);
        expect((await search(a)).sort()).toEqual([`${ours}#1`, `${plain}#1`].sort());
        expect((await search(b)).sort()).toEqual([`${ours}#1`, `${plain}#1`, `${theirs}#1`].sort());
        expect((await search(c)).sort()).toEqual([`${plain}#1`, `${theirs}#1`].sort());
        // Naming the room does not open it.
        expect(await search(a, theirs)).toEqual([]);
        expect(await search(a, ours)).toEqual([`${ours}#1`]);
      });

      it("keeps to one room when given one", async () => {
        const [room, other] = [uniqueName("room"), uniqueName("room")];
        const w = word();
        await store.insert([testMessage(room, 1, { body: w }), testMessage(other, 1, { body: w })]);
        expect(found(await store.search({ user: viewer, q: w, room, limit: 10 }))).toEqual([`${room}#1`]);
        expect(found(await store.search({ user: viewer, q: w, room: uniqueName("room"), limit: 10 }))).toEqual([]);
      });

      it("pages through every hit exactly once, newest first, ties included", async () => {
        const rooms = [uniqueName("room"), uniqueName("room")] as const;
        const w = word();
        // Pairs of messages share a ts across the two rooms; an edit and a miss sit between the hits.
        const events: RoomEvent[] = rooms.flatMap((room) =>
          range(1, 9).map((seq): RoomEvent => {
            if (seq % 4 === 0) return testEdit(room, seq, seq - 1, { body: `edit keeps ${w}` });
            return testMessage(room, seq, { body: seq === 5 ? "a miss" : `hit ${w} ${seq}` });
          }),
        );
        await store.insert(events);
        const pages: string[][] = [];
        let before: { ts: number; room: string; seq: number } | undefined;
        for (let page = 0; page < 10; page++) {
          const hits = await store.search({
            user: viewer,
            q: w,
            limit: 3,
            ...(before === undefined ? {} : { before }),
          });
          if (hits.length === 0) break;
          pages.push(found(hits));
          const last = hits.at(-1);
          if (last === undefined) break;
          before = { ts: last.ts, room: last.room, seq: last.seq };
        }
        // Rooms compare bytewise, as JavaScript compares these ASCII names.
        const [high, low] = [...rooms].sort().reverse() as [string, string];
        const expected = [9, 7, 6, 3, 2, 1].flatMap((seq) => [`${high}#${seq}`, `${low}#${seq}`]);
        expect(pages.flat()).toEqual(expected);
        expect(pages.map((page) => page.length)).toEqual([3, 3, 3, 3]);
        expect(await store.search({ user: viewer, q: w, limit: 0 })).toEqual([]);
      });

      it("finds nothing for a word nobody wrote, or a query without words", async () => {
        await store.insert([testMessage(uniqueName("room"), 1, { body: "plain words" })]);
        expect(await store.search({ user: viewer, q: word(), limit: 10 })).toEqual([]);
        expect(await store.search({ user: viewer, q: "- !! :", limit: 10 })).toEqual([]);
      });
    });

    it("names the message at a seq for amendments: its sender and whether it was deleted", async () => {
      const room = uniqueName("room");
      await store.insert([
        testMessage(room, 1, { from: "alice" }),
        testMessage(room, 2, { from: "bob" }),
        testEdit(room, 3, 1),
        testReaction(room, 4, 1, { from: "carol", emoji: "👍", on: true }),
        testDeletion(room, 5, 2, { from: "carol" }),
      ]);
      expect(await store.target(room, 1)).toEqual({ from: "alice", deleted: false });
      expect(await store.target(room, 2)).toEqual({ from: "bob", deleted: true });
      for (const notAMessage of [3, 4, 5]) expect(await store.target(room, notAMessage)).toBeUndefined();
      expect(await store.target(room, 6)).toBeUndefined();
      expect(await store.target(uniqueName("room"), 1)).toBeUndefined();
    });

    it("gives every kind of event in one stream, in seq order", async () => {
      const room = uniqueName("room");
      const events: RoomEvent[] = [
        testMessage(room, 1),
        testMessage(room, 2, { replyTo: 1, from: "bob" }),
        testEdit(room, 3, 2, { from: "bob" }),
        testReaction(room, 4, 1, { from: "bob", emoji: "👍🏽", on: true }),
        testMessage(room, 5),
        testDeletion(room, 6, 5),
        testReaction(room, 7, 1, { from: "bob", emoji: "👍🏽", on: false }),
      ];
      await store.insert([...events].reverse());
      const [first, second, edit, on, deleted, deletion, off] = events as [
        ChatMessage,
        ChatMessage,
        Edit,
        Reaction,
        ChatMessage,
        Deletion,
        Reaction,
      ];
      expect(await everything(room)).toEqual([first, second, edit, on, tombstone(deleted), deletion, off]);
      expect(await store.events({ room, after: 2, before: 7, limit: 3 })).toEqual([edit, on, tombstone(deleted)]);
    });

    it("tells a room's highest stored seq, of any kind of event", async () => {
      const room = uniqueName("room");
      expect(await store.latest(room)).toBe(0);
      await store.insert([testMessage(room, 1), testReaction(room, 5, 1, { from: "bob", emoji: "👍", on: true })]);
      await store.insert([testMessage(room, 2)]);
      expect(await store.latest(room)).toBe(5);
      expect(await store.latest(uniqueName("room"))).toBe(0);
    });

    it("keeps a watermark per room that only grows, saving many rooms at once", async () => {
      const rooms = [uniqueName("room"), uniqueName("room"), uniqueName("room")] as const;
      const [room, other, third] = rooms;
      const saved = () => Promise.all(rooms.map((name) => store.watermark(name)));
      expect(await saved()).toEqual([0, 0, 0]);
      await store.saveWatermarks(new Map([[room, 5]]));
      await store.saveWatermarks(
        new Map([
          [room, 3],
          [other, 7],
        ]),
      );
      expect(await saved()).toEqual([5, 7, 0]);
      await store.saveWatermarks(
        new Map([
          [room, 9],
          [other, 6],
          [third, 1],
        ]),
      );
      await store.saveWatermarks(new Map());
      expect(await saved()).toEqual([9, 7, 1]);
    });

    it("lists the rooms with an event stored above their saved watermark, or none saved", async () => {
      const [caughtUp, behind, unsaved, amended] = [
        uniqueName("room"),
        uniqueName("room"),
        uniqueName("room"),
        uniqueName("room"),
      ];
      await store.insert([testMessage(caughtUp, 1), testMessage(behind, 1), testMessage(behind, 3)]);
      await store.insert([testMessage(unsaved, 1), testMessage(amended, 1), testEdit(amended, 2, 1)]);
      await store.saveWatermarks(
        new Map([
          [caughtUp, 1],
          [behind, 1],
          [amended, 1],
        ]),
      );
      const listed = await store.roomsBehind();
      expect(listed).toContain(behind);
      expect(listed).not.toContain(caughtUp);
      expect(listed).toContain(unsaved);
      expect(listed).toContain(amended);
      await store.saveWatermarks(
        new Map([
          [behind, 3],
          [amended, 2],
        ]),
      );
      const after = await store.roomsBehind();
      expect(after).not.toContain(behind);
      expect(after).not.toContain(amended);
    });

    it("keeps each user's read position per room, which only grows", async () => {
      const room = uniqueName("room");
      await store.saveRead(room, "alice", 5);
      await store.saveRead(room, "alice", 3);
      await store.saveRead(room, "bob", 2);
      await store.saveRead(uniqueName("other"), "alice", 9);
      expect(await store.readPositions(room, ["alice", "bob", "carol"])).toEqual(
        new Map([
          ["alice", 5],
          ["bob", 2],
        ]),
      );
      await store.saveRead(room, "alice", 8);
      expect(await store.readPositions(room, ["alice"])).toEqual(new Map([["alice", 8]]));
      expect(await store.readPositions(room, [])).toEqual(new Map());
    });

    it("answers many read-position requests at once each with its own room's and users' positions", async () => {
      const [first, second] = [uniqueName("room"), uniqueName("room")];
      await store.saveRead(first, "alice", 4);
      await store.saveRead(first, "bob", 6);
      await store.saveRead(second, "alice", 7);
      // Made together, as a reconnect storm's joins are: alice's position in one room never answers for the other.
      const answers = await Promise.all([
        store.readPositions(first, ["alice"]),
        store.readPositions(second, ["alice", "bob"]),
        store.readPositions(first, ["bob", "carol"]),
        store.readPositions(second, ["carol"]),
      ]);
      expect(answers).toEqual([new Map([["alice", 4]]), new Map([["alice", 7]]), new Map([["bob", 6]]), new Map()]);
    });

    describe("files", () => {
      const file = (room: string, overrides: Partial<NewFile> = {}): NewFile => ({
        id: uniqueName("file"),
        room,
        uploader: "alice",
        name: "cat.png",
        size: 1234,
        type: "image/png",
        createdAt: BASE_TS,
        ...overrides,
      });
      const attachment = ({ id, name, size, type }: NewFile) => ({ id, name, size, type });

      it("keeps a message's attachments in order through insert, events and history, an empty body included", async () => {
        const room = uniqueName("room");
        const [a, b] = [file(room), file(room, { name: "notes.pdf", type: "application/pdf", size: 0 })];
        const both = testMessage(room, 1, { attachments: [attachment(b), attachment(a)] });
        const only = testMessage(room, 2, { body: "", attachments: [attachment(a)] });
        await store.insert([both, only, testMessage(room, 3)]);
        const events = await everything(room);
        expect(events.slice(0, 2)).toEqual([both, only]);
        expect(events[2]).not.toHaveProperty("attachments");
        const history = await store.history({ room, limit: 10, viewer });
        expect(history.map((m) => m.attachments)).toEqual([both.attachments, only.attachments, undefined]);
        expect(history[1]?.body).toBe("");
      });

      it("records an upload once, and lets only its uploader claim it in its room, for one send", async () => {
        const room = uniqueName("room");
        const mine = file(room);
        await store.addFile(mine);
        await store.addFile({ ...mine, name: "other.png" });
        expect(await store.file(mine.id)).toEqual({ ...mine, deleted: false });
        expect(await store.file(uniqueName("none"))).toBeUndefined();

        expect(await store.claimFiles(room, "mallory", [mine.id], "m1")).toEqual([{ ...mine, deleted: false }]);
        expect(await store.claimFiles(uniqueName("room"), "alice", [mine.id], "m1")).toEqual([
          { ...mine, deleted: false },
        ]);
        const claimed = { ...mine, deleted: false, claimedBy: "c1" };
        expect(await store.claimFiles(room, "alice", [mine.id, uniqueName("none")], "c1")).toEqual([claimed]);
        expect(await store.claimFiles(room, "alice", [mine.id], "c1")).toEqual([claimed]);
        expect(await store.claimFiles(room, "alice", [mine.id], "c2")).toEqual([claimed]);
      });

      it("marks each file with the seq of the stored message carrying it, not another user's or room's", async () => {
        const room = uniqueName("room");
        const mine = file(room);
        const bobs = file(room, { uploader: "bob" });
        const elsewhere = file(uniqueName("room"));
        for (const f of [mine, bobs, elsewhere]) await store.addFile(f);
        const message = testMessage(room, 4, { attachments: [mine, bobs, elsewhere].map(attachment) });
        await store.insert([message]);
        await store.insert([message]);
        expect((await store.file(mine.id))?.seq).toBe(4);
        expect(await store.file(bobs.id)).not.toHaveProperty("seq");
        expect(await store.file(elsewhere.id)).not.toHaveProperty("seq");
        // A second message naming a file already carried does not take it over.
        await store.insert([testMessage(room, 5, { attachments: [attachment(mine)] })]);
        expect((await store.file(mine.id))?.seq).toBe(4);
      });

      describe("deletes a deleted message's files and attachments, whichever arrives first", () => {
        for (const order of ["message first", "deletion first"]) {
          it(order, async () => {
            const room = uniqueName("room");
            const f = file(room);
            await store.addFile(f);
            const message = testMessage(room, 1, { attachments: [attachment(f)] });
            const deletion = testDeletion(room, 2, 1);
            for (const event of order === "message first" ? [message, deletion] : [deletion, message]) {
              await store.insert([event]);
            }
            expect(await store.file(f.id)).toMatchObject({ seq: 1, deleted: true });
            const [gone] = await store.history({ room, limit: 10, viewer });
            expect(gone).toMatchObject({ deleted: true });
            expect(gone).not.toHaveProperty("attachments");
            expect(await everything(room)).toEqual([tombstone(message), deletion]);
          });
        }
      });

      it("lists for sweeping old unattached files and deleted ones, and forgets them as promised", async () => {
        const room = uniqueName("room");
        const cutoff = BASE_TS + 1_000_000;
        const stale = file(room, { createdAt: cutoff - 1 });
        const fresh = file(room, { createdAt: cutoff });
        const attached = file(room, { createdAt: cutoff - 1 });
        const deleted = file(room, { createdAt: cutoff - 1 });
        for (const f of [stale, fresh, attached, deleted]) await store.addFile(f);
        await store.insert([
          testMessage(room, 1, { attachments: [attachment(attached)] }),
          testMessage(room, 2, { attachments: [attachment(deleted)] }),
          testDeletion(room, 3, 2),
        ]);
        const ids = async () =>
          (await store.filesToSweep(cutoff, 1_000))
            .map((f) => f.id)
            .filter((id) => [stale, fresh, attached, deleted].some((f) => f.id === id));
        expect((await ids()).sort()).toEqual([stale.id, deleted.id].sort());
        expect(await store.filesToSweep(cutoff, 0)).toEqual([]);

        await store.forgetFiles([stale.id, deleted.id]);
        expect(await ids()).toEqual([]);
        expect(await store.file(stale.id)).toBeUndefined();
        expect(await store.file(deleted.id)).toMatchObject({ deleted: true });
        expect(await store.file(attached.id)).toMatchObject({ seq: 1, deleted: false });
      });
    });

    describe("inbox", () => {
      it("holds the rooms a user was added to and not removed from, by name", async () => {
        const user = uniqueName("user");
        const [first, second] = [uniqueName("b-room"), uniqueName("a-room")];
        expect(await store.addMember(first, user)).toBe(true);
        expect(await store.addMember(first, user)).toBe(false);
        expect(await store.addMember(second, user)).toBe(true);
        await store.addMember(first, uniqueName("someone-else"));
        expect((await store.inbox(user)).map((row) => row.room)).toEqual([second, first]);
        expect(await store.removeMember(second, user)).toBe(true);
        expect(await store.removeMember(second, user)).toBe(false);
        expect(await store.inbox(user)).toEqual([{ room: first, read: 0, watermark: 0, unread: 0 }]);
        expect(await store.inbox(uniqueName("nobody"))).toEqual([]);
      });

      it("says of additions made together that exactly the first of each pair added it, and removes after adding", async () => {
        const users = [uniqueName("user"), uniqueName("user")];
        const rooms = [uniqueName("room"), uniqueName("room")];
        const calls = [...users, ...users].flatMap((user) => rooms.map((room) => ({ user, room })));
        const added = await Promise.all(calls.map(({ room, user }) => store.addMember(room, user)));
        expect(added).toEqual([true, true, true, true, false, false, false, false]);
        // A removal asked for right after an addition, without waiting for it, is applied after it.
        const room = uniqueName("room");
        const [joined, left] = await Promise.all([
          store.addMember(room, users[0] ?? ""),
          store.removeMember(room, users[0] ?? ""),
        ]);
        expect([joined, left]).toEqual([true, true]);
        expect((await store.inbox(users[0] ?? "")).map((row) => row.room).sort()).toEqual([...rooms].sort());
      });

      it("adds a direct room for both users with its first stored message, again after one removed it", async () => {
        const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
        const room = dmRoom(alice, bob);
        expect(await store.inbox(bob)).toEqual([]);
        await store.insert([testMessage(room, 1, { from: alice })]);
        for (const user of [alice, bob]) expect((await store.inbox(user)).map((row) => row.room)).toEqual([room]);
        await store.removeMember(room, bob);
        await store.insert([testReaction(room, 2, 1, { from: alice, emoji: "👍", on: true })]);
        expect(await store.inbox(bob)).toEqual([]);
        await store.insert([testMessage(room, 3, { from: alice })]);
        expect((await store.inbox(bob)).map((row) => row.room)).toEqual([room]);
      });

      it("counts the unread messages of others up to the watermark, deleted ones not, and gives the newest", async () => {
        const [user, other] = [uniqueName("reader"), uniqueName("writer")];
        const room = uniqueName("room");
        const newest = testMessage(room, 10, { from: other });
        await store.insert([
          testMessage(room, 1, { from: other }),
          testMessage(room, 2, { from: other }),
          testMessage(room, 3, { from: user }),
          testMessage(room, 4, { from: other }),
          testDeletion(room, 5, 4, { from: other }),
          testMessage(room, 6, { from: other }),
          testEdit(room, 7, 6, { from: other, body: "edited" }),
          testMessage(room, 8, { from: other }),
          testMessage(room, 9, { from: user }),
          newest,
        ]);
        await store.addMember(room, user);
        await store.saveRead(room, user, 1);
        await store.saveWatermarks(new Map([[room, 9]]));
        // Above the read position and up to the watermark: 2, 6 and 8 (3 and 9 are the user's own, 4 is deleted);
        // the newest message is the newest stored, whatever the watermark.
        expect(await store.inbox(user)).toEqual([{ room, read: 1, watermark: 9, unread: 3, last: { ...newest } }]);
        const [row] = await store.inbox(other, [room]);
        expect(row).toMatchObject({ room, read: 0, watermark: 9, unread: 2 });
      });

      it("gives a message's current state as the newest: edited, or a tombstone", async () => {
        const user = uniqueName("user");
        const room = uniqueName("room");
        const message = testMessage(room, 1);
        const edit = testEdit(room, 2, 1, { body: "better" });
        await store.insert([message, edit]);
        const [edited] = await store.inbox(user, [room]);
        expect(edited?.last).toEqual({ ...message, body: "better", editedAt: edit.ts });
        await store.insert([testDeletion(room, 3, 1)]);
        const [deleted] = await store.inbox(user, [room]);
        const { body: _body, ...rest } = message;
        expect(deleted?.last).toEqual({ ...rest, deleted: true });
      });

      it("stops counting unread messages at MAX_UNREAD", async () => {
        const user = uniqueName("user");
        const room = uniqueName("room");
        const count = MAX_UNREAD + 5;
        await store.insert(range(1, count).map((seq) => testMessage(room, seq, { from: "someone" })));
        await store.saveWatermarks(new Map([[room, count]]));
        const [row] = await store.inbox(user, [room]);
        expect(row?.unread).toBe(MAX_UNREAD);
      });

      it("answers for rooms asked by name, in the inbox or not, each once", async () => {
        const user = uniqueName("user");
        const [a, b] = [uniqueName("a-room"), uniqueName("b-room")];
        expect(await store.inbox(user, [b, a, b])).toEqual([
          { room: a, read: 0, watermark: 0, unread: 0 },
          { room: b, read: 0, watermark: 0, unread: 0 },
        ]);
        expect(await store.inbox(user, [])).toEqual([]);
      });
    });

    it("records lost ranges once and lists those ending above a seq", async () => {
      const room = uniqueName("room");
      const first = { from: 3, to: 3, reason: "never reached the log" };
      const second = { from: 10, to: 20, reason: "redis data loss" };
      await store.recordLost(room, second);
      await store.recordLost(room, first);
      await store.recordLost(room, first);
      expect(await store.lostRanges(room, 0)).toEqual([first, second]);
      expect(await store.lostRanges(room, 3)).toEqual([second]);
      expect(await store.lostRanges(room, 20)).toEqual([]);
    });

    it("round-trips any valid event exactly", async () => {
      const room = uniqueName("room");
      let seq = 0;
      const fields = {
        from: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,20}$/),
        cid: fc.stringMatching(/^[\x21-\x7e]{1,64}$/),
        ts: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      };
      const body = fc.string({ unit: "binary", minLength: 1, maxLength: 300 });
      // Amendments name seqs that hold no message, and deletions others than edits: no event here is a tombstone.
      const amended = fc.integer({ min: 1_000_000, max: 1_999_999 });
      const emoji = fc.oneof(
        fc.constantFrom("👍", "👍🏽", "❤️", "👨‍👩‍👧", "🇳🇱"),
        fc.stringMatching(/^:[a-z0-9_+-]{1,30}:$/),
      );
      const event = fc
        .oneof(
          fc
            .record({ ...fields, body, replyTo: fc.option(fc.integer({ min: 1, max: 1_000 }), { nil: undefined }) })
            .map(({ replyTo, ...message }) => (replyTo === undefined ? message : { ...message, replyTo })),
          fc.record({ ...fields, kind: fc.constant("edit" as const), target: amended, body }),
          fc.record({ ...fields, kind: fc.constant("delete" as const), target: amended.map((n) => n + 1_000_000) }),
          fc.record({ ...fields, kind: fc.constant("react" as const), target: amended, emoji, on: fc.boolean() }),
        )
        .map((fields): RoomEvent => ({ ...fields, room, seq: ++seq, id: randomUUID() }))
        .filter((event) => EVENT_SCHEMAS[isMessage(event) ? "msg" : event.kind].safeParse(event).success);
      await fc.assert(
        fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 20 }), async (events) => {
          expect(await store.insert(events)).toBe(events.length);
          const first = events[0]?.seq ?? 0;
          expect(await store.events({ room, after: first - 1, limit: events.length })).toEqual(events);
        }),
        { numRuns: 50 },
      );
    });

    it("ends in the same state whatever order and batches a room's events arrive in, replays included", async () => {
      const users = ["alice", "bob", "carol"] as const;
      const step = fc.record({
        kind: fc.constantFrom("msg", "msg", "edit", "delete", "react", "react", "react"),
        pick: fc.nat(),
        from: fc.constantFrom(...users),
        emoji: fc.constantFrom("👍", "❤️", ":tada:"),
        on: fc.boolean(),
      });
      /** A room's stream: each amendment names a message earlier in it, as the gateway allows. */
      const stream = fc.array(step, { minLength: 1, maxLength: 25 }).map((steps) => {
        const messages: number[] = [];
        return steps.map(({ kind, pick, from, emoji, on }, index): RoomEvent => {
          const seq = index + 1;
          const fields = { room: "", seq, id: "", cid: `cid-${seq}`, from, ts: BASE_TS + seq };
          const target = messages[pick % Math.max(messages.length, 1)];
          if (kind === "msg" || target === undefined) {
            messages.push(seq);
            const replyTo = messages[pick % messages.length];
            return { ...fields, body: `message ${seq}`, ...(replyTo === seq ? {} : { replyTo }) };
          }
          if (kind === "edit") return { ...fields, kind, target, body: `edit ${seq}` };
          if (kind === "delete") return { ...fields, kind, target };
          return { ...fields, kind: "react", target, emoji, on };
        });
      });
      const arrival = stream.chain((events) =>
        fc.record({
          events: fc.constant(events),
          order: fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
          sizes: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: events.length, maxLength: events.length }),
          replayed: fc.nat(),
        }),
      );
      await fc.assert(
        fc.asyncProperty(arrival, async ({ events, order, sizes, replayed }) => {
          const room = uniqueName("room");
          const inRoom = (event: RoomEvent): RoomEvent => ({ ...event, room, id: `${room}/${event.seq}` });
          const batches: RoomEvent[][] = [];
          let start = 0;
          for (const size of sizes) {
            if (start < order.length) batches.push(order.slice(start, start + size).map(inRoom));
            start += size;
          }
          let inserted = 0;
          for (const batch of batches) inserted += await store.insert(batch);
          expect(inserted).toBe(events.length);
          // A batch delivered again after a crash changes nothing.
          expect(await store.insert(batches[replayed % batches.length] ?? [])).toBe(0);

          const expected = expectedState(events.map(inRoom));
          expect(await everything(room)).toEqual(expected.events);
          for (const user of users)
            expect(await store.history({ room, limit: 100, viewer: user })).toEqual(expected.history(user));
          const middle = Math.ceil(events.length / 2);
          expect(await store.history({ room, before: middle, limit: 3, viewer })).toEqual(
            expected
              .history(viewer)
              .filter((message) => message.seq < middle)
              .slice(-3),
          );
          expect(await factory.bodies(room)).toEqual(expected.bodies);
        }),
        { numRuns: 40 },
      );
    });
  });
}

const EVENT_SCHEMAS = {
  msg: chatMessageSchema,
  edit: editSchema,
  delete: deletionSchema,
  react: reactionSchema,
} as const;

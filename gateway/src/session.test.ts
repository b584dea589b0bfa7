import { MemoryLog } from "@parley/log";
import { type ChatMessage, inboxSchema } from "@parley/protocol";
import { createPgliteStore } from "@parley/store";
import { waitFor } from "@parley/testkit";
import { describe, expect, it } from "vitest";
import { sequencedEvent } from "./bus/bus-event.js";
import { MemoryBus } from "./bus/memory-bus.js";
import type { Gateway } from "./gateway.js";
import { EMPTY_STORE, inProcessGateway, RecordingSocket, RecordingTopics, testRequest } from "./in-process.testing.js";

describe("ClientSession", () => {
  it("delivers a message the join's replay carried only once, even when the subscription brings it after the join", async () => {
    const log = new MemoryLog();
    const bus = new MemoryBus({ listener: (event) => gateway.deliver(event) });
    const topics = new RecordingTopics();
    const gateway: Gateway = inProcessGateway({ bus, log, store: EMPTY_STORE, topics });
    const writerSocket = new RecordingSocket(topics);
    const writer = gateway.open(writerSocket, { user: "ann", admin: false });
    writer.text(JSON.stringify({ t: "join", room: "lobby" }));
    await waitFor(() => writerSocket.frames.some((frame) => frame.t === "joined"), "the writer's joined");
    for (const cid of ["c1", "c2", "c3"]) writer.text(JSON.stringify({ t: "send", room: "lobby", cid, body: cid }));
    await waitFor(() => writerSocket.frames.filter((frame) => frame.t === "ack").length === 3, "three acks");

    const readerSocket = new RecordingSocket(topics);
    const reader = gateway.open(readerSocket, { user: "ben", admin: false });
    reader.text(JSON.stringify({ t: "join", room: "lobby", since: 1 }));
    await waitFor(() => readerSocket.frames.some((frame) => frame.t === "presence"), "the reader's join");
    const seqs = () => readerSocket.frames.flatMap((frame) => (frame.t === "msg" ? [frame.seq] : []));
    expect(seqs()).toEqual([2, 3]);
    // With Redis, pub/sub and the join's reads use separate connections: seq 3 may arrive only now.
    const { t: _t, ...third } = readerSocket.frames.find((frame) => frame.t === "msg" && frame.seq === 3) as {
      t: "msg";
    } & ChatMessage;
    gateway.deliver(sequencedEvent(third));
    writer.text(JSON.stringify({ t: "send", room: "lobby", cid: "c4", body: "c4" }));
    await waitFor(() => seqs().includes(4), "the next message");
    expect(seqs()).toEqual([2, 3, 4]);
    writer.closed(1000);
    reader.closed(1000);
    await bus.close();
    await log.close();
  });

  /** A gateway in-process on the reference Bus and Log, with a member `ann` joined to `lobby` who sent `count`. */
  async function withHistory(count: number) {
    const log = new MemoryLog();
    const bus = new MemoryBus({ listener: (event) => gateway.deliver(event) });
    const topics = new RecordingTopics();
    const gateway: Gateway = inProcessGateway({ bus, log, store: EMPTY_STORE, topics });
    const connect = (user: string) => {
      const socket = new RecordingSocket(topics);
      return { socket, session: gateway.open(socket, { user, admin: user === "mod" }) };
    };
    const ann = connect("ann");
    ann.session.text(JSON.stringify({ t: "join", room: "lobby" }));
    await waitFor(() => ann.socket.frames.some((frame) => frame.t === "joined"), "ann's joined");
    for (let i = 1; i <= count; i++)
      ann.session.text(JSON.stringify({ t: "send", room: "lobby", cid: `c${i}`, body: "x" }));
    await waitFor(() => ann.socket.frames.filter((frame) => frame.t === "ack").length === count, "the acks");
    return { connect, close: () => Promise.all([bus.close(), log.close()]) };
  }

  it("answers a join with since with joined (latest seq, recovered) and then the messages after since", async () => {
    const { connect, close } = await withHistory(3);
    const ben = connect("ben");
    ben.session.text(JSON.stringify({ t: "join", room: "lobby", since: 1 }));
    await waitFor(() => ben.socket.frames.some((frame) => frame.t === "presence"), "ben's join");
    const types = ben.socket.frames.map((frame) => (frame.t === "msg" ? `msg ${String(frame.seq)}` : frame.t));
    expect(types).toEqual(["joined", "msg 2", "msg 3", "presence"]);
    expect(ben.socket.frames[0]).toEqual({ t: "joined", room: "lobby", seq: 3, recovered: true });
    await close();
  });

  it.each([
    ["a join of another pair's direct room", { t: "join", room: "dm:bob:carol" }, { code: "forbidden" }],
    [
      "a send to a room not joined",
      { t: "send", room: "elsewhere", cid: "c9", body: "x" },
      { code: "not_joined", cid: "c9" },
    ],
    ["typing in a room not joined", { t: "typing", room: "elsewhere" }, { code: "not_joined" }],
  ])("answers %s with an error frame and goes on serving", async (_what, frame, error) => {
    const { connect, close } = await withHistory(0);
    const ben = connect("ben");
    ben.session.text(JSON.stringify(frame));
    await waitFor(() => ben.socket.frames.some((sent) => sent.t === "error"), "the error");
    expect(ben.socket.frames).toEqual([{ t: "error", message: expect.any(String), ...error }]);
    ben.session.text(JSON.stringify({ t: "ping" }));
    await waitFor(() => ben.socket.frames.some((sent) => sent.t === "pong"), "the pong");
    await close();
  });

  describe("edits, deletions, reactions and replies", () => {
    /** `ann` has sent message 1 ("helo") to `lobby`; `ben` is joined too. */
    async function conversation() {
      const history = await withHistory(1);
      const ben = history.connect("ben");
      ben.session.text(JSON.stringify({ t: "join", room: "lobby" }));
      await waitFor(() => ben.socket.frames.some((frame) => frame.t === "presence"), "ben's join");
      const ann = history.connect("ann");
      ann.session.text(JSON.stringify({ t: "join", room: "lobby" }));
      await waitFor(() => ann.socket.frames.some((frame) => frame.t === "presence"), "ann's second join");
      const answer = async (client: typeof ann, frame: object, done: (sent: Record<string, unknown>) => boolean) => {
        const before = client.socket.frames.length;
        client.session.text(JSON.stringify(frame));
        await waitFor(() => client.socket.frames.slice(before).some(done), `the answer to ${JSON.stringify(frame)}`);
        return client.socket.frames.slice(before).find(done);
      };
      return { ...history, ann, ben, answer };
    }

    it("sequences them with the messages: members get them in order, the author an ack, a late joiner a replay", async () => {
      const { connect, close, ann, ben, answer } = await conversation();
      const acked = (cid: string) => (frame: Record<string, unknown>) => frame.t === "ack" && frame.cid === cid;
      await answer(ann, { t: "edit", room: "lobby", seq: 1, body: "hello", cid: "e1" }, acked("e1"));
      await answer(ben, { t: "react", room: "lobby", seq: 1, emoji: "👍", on: true, cid: "r1" }, acked("r1"));
      await answer(ben, { t: "send", room: "lobby", cid: "m2", body: "hi ann", replyTo: 1 }, acked("m2"));
      expect(await answer(ann, { t: "delete", room: "lobby", seq: 1, cid: "d1" }, acked("d1"))).toMatchObject({
        seq: 5,
      });
      const stream = (frames: Record<string, unknown>[]) =>
        frames.flatMap((frame) => (["msg", "edited", "reaction", "deleted"].includes(String(frame.t)) ? [frame] : []));
      const expected = [
        { t: "edited", room: "lobby", at: 2, seq: 1, from: "ann", body: "hello", cid: "e1" },
        { t: "reaction", room: "lobby", at: 3, seq: 1, user: "ben", emoji: "👍", on: true, cid: "r1" },
        { t: "msg", room: "lobby", seq: 4, from: "ben", body: "hi ann", replyTo: 1, cid: "m2" },
        { t: "deleted", room: "lobby", at: 5, seq: 1, by: "ann", cid: "d1" },
      ].map((frame) => expect.objectContaining(frame));
      await waitFor(() => stream(ben.socket.frames).length === 4, "ben's four frames");
      expect(stream(ben.socket.frames)).toEqual(expected);
      const cat = connect("cat");
      cat.session.text(JSON.stringify({ t: "join", room: "lobby", since: 1 }));
      await waitFor(() => cat.socket.frames.some((frame) => frame.t === "presence"), "cat's join");
      expect(cat.socket.frames[0]).toEqual({ t: "joined", room: "lobby", seq: 5, recovered: true });
      expect(stream(cat.socket.frames)).toEqual(expected);
      await close();
    });

    it("answers a retried delete with its ack, not gone", async () => {
      const { close, ann, answer } = await conversation();
      const delete1 = { t: "delete", room: "lobby", seq: 1, cid: "d1" };
      const first = await answer(ann, delete1, (frame) => frame.t === "ack");
      expect(await answer(ann, delete1, (frame) => frame.t === "ack" || frame.t === "error")).toEqual(first);
      await close();
    });

    it("sends no ack for a frame without a cid: the client sees its change in the room", async () => {
      const { close, ben, answer } = await conversation();
      const before = ben.socket.frames.length;
      const react = { t: "react", room: "lobby", seq: 1, emoji: ":tada:", on: true };
      expect(await answer(ben, react, (frame) => frame.t === "reaction")).toMatchObject({
        user: "ben",
        emoji: ":tada:",
      });
      await answer(ben, { t: "ping" }, (frame) => frame.t === "pong");
      expect(ben.socket.frames.slice(before).map((frame) => frame.t)).toEqual(["reaction", "pong"]);
      await close();
    });

    it.each([
      ["an edit of someone else's message", "ben", { t: "edit", room: "lobby", seq: 1, body: "mine now" }, "forbidden"],
      ["a deletion of someone else's message", "ben", { t: "delete", room: "lobby", seq: 1 }, "forbidden"],
      ["an edit of a seq nobody sent", "ann", { t: "edit", room: "lobby", seq: 9, body: "x" }, "not_found"],
      [
        "a reaction to a seq nobody sent",
        "ben",
        { t: "react", room: "lobby", seq: 9, emoji: "👍", on: true },
        "not_found",
      ],
      [
        "a reply to a seq nobody sent",
        "ben",
        { t: "send", room: "lobby", cid: "m9", body: "x", replyTo: 9 },
        "not_found",
      ],
      ["an edit in a room not joined", "ann", { t: "edit", room: "elsewhere", seq: 1, body: "x" }, "not_joined"],
      [
        "a reaction that is a word",
        "ben",
        { t: "react", room: "lobby", seq: 1, emoji: "like", on: true },
        "bad_request",
      ],
      ["a message with neither body nor attachments", "ben", { t: "send", room: "lobby" }, "bad_request"],
      [
        "a message with attachments where file sharing is off",
        "ben",
        { t: "send", room: "lobby", body: "x", attachments: [{ id: "f1", name: "a.png", size: 1, type: "image/png" }] },
        "bad_request",
      ],
    ])("answers %s with %s and changes nothing", async (_what, user, frame, code) => {
      const { close, ann, ben, answer } = await conversation();
      const client = user === "ann" ? ann : ben;
      expect(await answer(client, { ...frame, cid: "x1" }, (sent) => sent.t === "error")).toMatchObject({
        code,
        cid: "x1",
      });
      // Nothing was sequenced: ann's next message is seq 2.
      expect(
        await answer(ann, { t: "send", room: "lobby", cid: "next", body: "x" }, (sent) => sent.t === "ack"),
      ).toMatchObject({ seq: 2 });
      await close();
    });

    it("lets an admin delete anyone's message, but not edit it", async () => {
      const { connect, close, ben, answer } = await conversation();
      const mod = connect("mod");
      mod.session.text(JSON.stringify({ t: "join", room: "lobby" }));
      await waitFor(() => mod.socket.frames.some((frame) => frame.t === "presence"), "mod's join");
      const edit = { t: "edit", room: "lobby", seq: 1, body: "moderated", cid: "e1" };
      expect(await answer(mod, edit, (frame) => frame.t === "error")).toMatchObject({ code: "forbidden" });
      await answer(mod, { t: "delete", room: "lobby", seq: 1, cid: "d1" }, (frame) => frame.t === "ack");
      await waitFor(() => ben.socket.frames.some((frame) => frame.t === "deleted"), "ben sees the deletion");
      expect(ben.socket.frames.find((frame) => frame.t === "deleted")).toMatchObject({ seq: 1, by: "mod" });
      await close();
    });

    it("refuses an edit or reaction of a deleted message with gone", async () => {
      const { close, ann, ben, answer } = await conversation();
      await answer(ann, { t: "delete", room: "lobby", seq: 1, cid: "d1" }, (frame) => frame.t === "ack");
      const edit = { t: "edit", room: "lobby", seq: 1, body: "back", cid: "e1" };
      expect(await answer(ann, edit, (frame) => frame.t === "error")).toMatchObject({ code: "gone", cid: "e1" });
      const react = { t: "react", room: "lobby", seq: 1, emoji: "👍", on: true, cid: "r1" };
      expect(await answer(ben, react, (frame) => frame.t === "error")).toMatchObject({ code: "gone", cid: "r1" });
      await close();
    });
  });

  it("sends a read position to the reader's other connections, in a DM to the other person, and back on join", async () => {
    const saved = new Map<string, number>();
    const store = {
      ...EMPTY_STORE,
      saveRead: async (room: string, user: string, seq: number) => {
        saved.set(`${room} ${user}`, Math.max(seq, saved.get(`${room} ${user}`) ?? 0));
      },
      readPositions: async (room: string, users: readonly string[]) =>
        new Map(
          users.flatMap((user) => (saved.has(`${room} ${user}`) ? [[user, saved.get(`${room} ${user}`) ?? 0]] : [])),
        ),
    };
    const log = new MemoryLog();
    const bus = new MemoryBus({ listener: (event) => gateway.deliver(event) });
    const topics = new RecordingTopics();
    const gateway: Gateway = inProcessGateway({ bus, log, store, topics });
    const connect = async (user: string, ...rooms: string[]) => {
      const socket = new RecordingSocket(topics);
      const session = gateway.open(socket, { user, admin: false });
      for (const room of rooms) {
        session.text(JSON.stringify({ t: "join", room }));
        await waitFor(() => socket.frames.some((frame) => frame.t === "presence" && frame.room === room), "the join");
      }
      return { socket, session, reads: () => socket.frames.filter((frame) => frame.t === "read") };
    };
    const dm = "dm:ann:ben";
    const ann = await connect("ann", "lobby", dm);
    const annPhone = await connect("ann", "lobby");
    const ben = await connect("ben", "lobby", dm);
    for (const room of ["lobby", dm])
      ann.session.text(JSON.stringify({ t: "send", room, cid: `c-${room}`, body: "x" }));
    await waitFor(() => ann.socket.frames.filter((frame) => frame.t === "ack").length === 2, "two acks");

    annPhone.session.text(JSON.stringify({ t: "read", room: "lobby", seq: 99 }));
    ann.session.text(JSON.stringify({ t: "read", room: dm, seq: 1 }));
    await waitFor(() => ben.reads().length === 1, "ben's receipt");
    await waitFor(() => ann.reads().length === 2, "ann's own reads");
    // Beyond the latest seq is saved as the latest; a plain room's other members hear nothing.
    expect(ann.reads()).toEqual([
      { t: "read", room: "lobby", user: "ann", seq: 1 },
      { t: "read", room: dm, user: "ann", seq: 1 },
    ]);
    expect(ben.reads()).toEqual([{ t: "read", room: dm, user: "ann", seq: 1 }]);
    expect(saved).toEqual(
      new Map([
        ["lobby ann", 1],
        [`${dm} ann`, 1],
      ]),
    );

    const later = await connect("ann", "lobby", dm);
    expect(later.reads()).toEqual([
      { t: "read", room: "lobby", user: "ann", seq: 1 },
      { t: "read", room: dm, user: "ann", seq: 1 },
    ]);
    const benLater = await connect("ben", dm);
    expect(benLater.reads()).toEqual([{ t: "read", room: dm, user: "ann", seq: 1 }]);
    await Promise.all([bus.close(), log.close()]);
  });

  it("keeps the inbox on the embedded bus and store: a DM reaches its recipient, counts follow reads and leaves", async () => {
    const store = await createPgliteStore();
    await store.migrate();
    const log = new MemoryLog();
    const bus = new MemoryBus({ listener: (event) => gateway.deliver(event) });
    const topics = new RecordingTopics();
    const gateway: Gateway = inProcessGateway({ bus, log, store, topics });
    const connect = (user: string) => {
      const socket = new RecordingSocket(topics);
      const session = gateway.open(socket, { user, admin: false });
      const send = (frame: Record<string, unknown>) => session.text(JSON.stringify(frame));
      const inboxFrames = (room: string) => socket.frames.filter((frame) => frame.t === "inbox" && frame.room === room);
      const join = async (room: string) => {
        send({ t: "join", room });
        await waitFor(() => socket.frames.some((frame) => frame.t === "presence" && frame.room === room), "the join");
      };
      return { socket, send, inboxFrames, join };
    };
    const inbox = async (user: string) => {
      const response = await gateway.http(testRequest("GET", "/api/inbox", { query: { user } }));
      return inboxSchema.parse(JSON.parse(String(response.body))).rooms;
    };
    const dm = "dm:ann:ben";
    const ann = connect("ann");
    const ben = connect("ben");
    const benPhone = connect("ben");
    await ann.join(dm);
    ann.send({ t: "send", room: dm, cid: "c1", body: "hi ben" });
    // Ben never joined: both of his connections hear of it, counted from the buffer before anything is stored.
    for (const device of [ben, benPhone]) {
      await waitFor(() => device.inboxFrames(dm).length === 1, "the new DM");
      expect(device.inboxFrames(dm)).toEqual([{ t: "inbox", room: dm, latest: 1, read: 0, unread: 1 }]);
    }
    expect(await inbox("ann")).toMatchObject([{ room: dm, latest: 1, read: 0, unread: 0, last: { body: "hi ben" } }]);
    // Listed in ben's inbox too, with nothing stored: the gateway lists both users of a DM it sends in.
    expect(await inbox("ben")).toMatchObject([{ room: dm, latest: 1, read: 0, unread: 1, last: { body: "hi ben" } }]);

    await ben.join(dm);
    ben.send({ t: "read", room: dm, seq: 1 });
    await waitFor(() => benPhone.inboxFrames(dm).some((frame) => frame.read === 1), "the read on the other device");
    expect(benPhone.inboxFrames(dm).at(-1)).toEqual({ t: "inbox", room: dm, latest: 1, read: 1, unread: 0 });

    await ben.join("lobby");
    await waitFor(() => benPhone.inboxFrames("lobby").length === 1, "the joined room");
    expect((await inbox("ben")).map((entry) => entry.room)).toEqual([dm, "lobby"]);
    ben.send({ t: "leave", room: "lobby" });
    await waitFor(() => benPhone.inboxFrames("lobby").length === 2, "the left room");
    expect(benPhone.inboxFrames("lobby")[1]).toMatchObject({ left: true });
    expect((await inbox("ben")).map((entry) => entry.room)).toEqual([dm]);
    // Ann's frames are about her own entries only.
    expect(ann.socket.frames.filter((frame) => frame.t === "inbox").map((frame) => frame.room)).toEqual([dm, dm]);
    await Promise.all([bus.close(), log.close(), store.close()]);
  }, 30_000); // PGlite's start and migrations take seconds
});

import {
  dmRoom,
  eventOfFrame,
  historyPageSchema,
  inboxSchema,
  type RoomEvent,
  type ServerFrame,
  searchPageSchema,
} from "@parley/protocol";
import { uniqueName, waitFor } from "@parley/testkit";
import { Stack } from "@parley/testkit/stack";
import type { TestClient } from "@parley/testkit/ws-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** Edits, deletions, reactions and replies on the real stack: two gateways, Kafka, the persister, PostgreSQL. */
describe("conversations", () => {
  let stack: Stack;

  beforeAll(async () => {
    // A buffer of 3 events, so a join far behind replays most of the room from PostgreSQL.
    stack = await Stack.start({ gateways: 2, gatewayEnv: { PARLEY_RECENT_LIMIT: "3" } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  function gateway(index: number) {
    const found = stack.gateways[index];
    if (!found) throw new Error(`no gateway ${index}`);
    return found;
  }

  /** Sends `frame` with `cid` and waits for its ack, or the error frame for it. */
  async function answer(client: TestClient, frame: Record<string, unknown>, cid: string) {
    const from = client.frames.length;
    client.send({ ...frame, cid });
    return waitFor(
      () => client.frames.slice(from).find((sent) => (sent.t === "ack" || sent.t === "error") && sent.cid === cid),
      `the answer to ${cid}`,
    );
  }

  const stream = (frames: readonly ServerFrame[], room: string): RoomEvent[] =>
    frames.flatMap((frame) => {
      const event = eventOfFrame(frame);
      return event?.room === room ? [event] : [];
    });

  it("stores each once through Kafka, and serves them back in history and in a replay from PostgreSQL", async () => {
    const room = uniqueName("room");
    const ann = await gateway(0).connect("ann");
    const ben = await gateway(1).connect("ben");
    const cat = await gateway(1).connect("cat");
    for (const client of [ann, ben, cat]) await client.join(room);

    await ann.sendUntilAcked(room, "m1", "helo"); // 1
    await ann.sendUntilAcked(room, "m2", "a secret"); // 2
    const edit = { t: "edit", room, seq: 1, body: "hello" };
    expect(await answer(ann, edit, "e1")).toMatchObject({ t: "ack", seq: 3 });
    // What the buffer (3 events) no longer holds is looked up in PostgreSQL: wait until it is there.
    await waitFor(async () => (await stack.rows()).filter((row) => row.room === room).length === 3, "3 rows");
    // A retry, through the other gateway: the same seq, stored once.
    const annAgain = await gateway(1).connect("ann");
    await annAgain.join(room);
    expect(await answer(annAgain, edit, "e1")).toMatchObject({ t: "ack", seq: 3 });
    const thumbs = { t: "react", room, seq: 1, emoji: "👍", on: true };
    expect(await answer(ben, thumbs, "r1")).toMatchObject({ seq: 4 });
    expect(await answer(ben, thumbs, "r2")).toMatchObject({ seq: 5 }); // the same reaction again: still one
    expect(await answer(cat, thumbs, "r3")).toMatchObject({ seq: 6 });
    expect(await answer(ben, { ...thumbs, emoji: ":tada:" }, "r4")).toMatchObject({ seq: 7 });
    expect(await answer(ben, { ...thumbs, emoji: ":tada:", on: false }, "r5")).toMatchObject({ seq: 8 });
    expect(await answer(ben, { t: "send", room, body: "what secret?", replyTo: 2 }, "m3")).toMatchObject({ seq: 9 });
    expect(await answer(ann, { t: "delete", room, seq: 2 }, "d1")).toMatchObject({ seq: 10 });
    expect(await answer(ben, { t: "edit", room, seq: 9, body: "x" }, "e2")).toMatchObject({ t: "ack", seq: 11 });
    expect(await answer(ann, { t: "edit", room, seq: 9, body: "mine" }, "e3")).toMatchObject({ code: "forbidden" });
    expect(await answer(ann, { t: "edit", room, seq: 2, body: "back" }, "e4")).toMatchObject({ code: "gone" });

    // Members on both gateways saw the same stream, in order.
    await waitFor(() => stream(cat.frames, room).length === 11, "cat's eleven events");
    expect(stream(cat.frames, room).map((event) => event.seq)).toEqual(range(1, 11));
    expect(stream(ann.frames, room)).toEqual(stream(cat.frames, room));

    await waitFor(async () => (await stack.rows()).filter((row) => row.room === room).length === 11, "11 rows");

    const history = async (user: string) => {
      const response = await gateway(0).fetch(`/api/rooms/${room}/messages?user=${user}`);
      expect(response.status).toBe(200);
      return historyPageSchema.parse(await response.json()).messages;
    };
    const asBen = await history("ben");
    expect(asBen.map((message) => message.seq)).toEqual([1, 2, 9]);
    expect(asBen[0]).toMatchObject({ body: "hello", editedAt: expect.any(Number) });
    expect(asBen[0]?.reactions).toEqual([{ emoji: "👍", count: 2, mine: true }]);
    expect(asBen[1]).toMatchObject({ seq: 2, deleted: true, reactions: [] });
    expect(asBen[1]).not.toHaveProperty("body");
    expect(asBen[2]).toMatchObject({ body: "x", replyTo: 2, from: "ben" });
    expect((await history("dan"))[0]?.reactions).toEqual([{ emoji: "👍", count: 2, mine: false }]);

    // Far behind: the buffer holds 9-11, the rest comes from PostgreSQL, where message 2 is a tombstone.
    const dan = await gateway(1).connect("dan");
    expect(await dan.join(room, 0)).toMatchObject({ seq: 11, recovered: true });
    await waitFor(() => stream(dan.frames, room).length === 11, "dan's replay");
    const replay = stream(dan.frames, room);
    expect(replay.map((event) => event.seq)).toEqual(range(1, 11));
    expect(replay[1]).toMatchObject({ kind: "delete", seq: 2, target: 2 });
    expect(JSON.stringify(dan.frames)).not.toContain("a secret");
    for (const client of [ann, annAgain, ben, cat, dan]) client.close();
  });

  it("searches the current bodies of what each user may read, from PostgreSQL, newest first and paged", async () => {
    const room = uniqueName("room");
    const [annName, benName, catName] = [uniqueName("ann"), uniqueName("ben"), uniqueName("cat")];
    const direct = dmRoom(annName, benName);
    // One word per test run: the search spans every room of the database. Hyphens would split it into words.
    const [word, typo] = [uniqueName("w").replace("-", ""), uniqueName("t").replace("-", "")];
    const ann = await gateway(0).connect(annName);
    await ann.join(room);
    await ann.join(direct);
    await ann.sendUntilAcked(room, "s1", `the ${word} plan`); // 1
    await ann.sendUntilAcked(room, "s2", `a ${typo}`); // 2
    expect(await answer(ann, { t: "edit", room, seq: 2, body: `fixed ${word} now` }, "s3")).toMatchObject({ seq: 3 });
    await ann.sendUntilAcked(direct, "s4", `our ${word} secret`);
    await waitFor(
      async () => (await stack.rows()).filter((row) => row.room === room || row.room === direct).length === 4,
      "4 rows",
    );

    const search = async (user: string, query: Record<string, string>) => {
      const params = new URLSearchParams({ user, ...query });
      const response = await gateway(1).fetch(`/api/search?${params}`);
      return {
        status: response.status,
        page: response.status === 200 ? searchPageSchema.parse(await response.json()) : undefined,
      };
    };
    const found = async (user: string, query: Record<string, string>) =>
      (await search(user, query)).page?.messages.map((hit) => `${hit.room}#${hit.seq}:${hit.body}`);

    expect(await found(catName, { q: word })).toEqual([`${room}#2:fixed ${word} now`, `${room}#1:the ${word} plan`]);
    expect(await found(benName, { q: word })).toEqual([
      `${direct}#1:our ${word} secret`,
      `${room}#2:fixed ${word} now`,
      `${room}#1:the ${word} plan`,
    ]);
    expect(await found(benName, { q: typo })).toEqual([]);
    expect(await found(benName, { q: `${word} -secret`, room })).toHaveLength(2);
    expect((await search(catName, { q: word, room: direct })).status).toBe(403);
    const edited = (await search(catName, { q: word })).page?.messages[0];
    expect(edited).toMatchObject({ from: annName, editedAt: expect.any(Number) });

    // One hit a page: every hit once, in the same order, and no cursor after the last.
    const paged: string[] = [];
    let before: string | undefined;
    for (let page = 0; page < 5; page++) {
      const { page: result } = await search(benName, { q: word, limit: "1", ...(before ? { before } : {}) });
      paged.push(...(result?.messages.map((hit) => `${hit.room}#${hit.seq}`) ?? []));
      before = result?.nextBefore;
      if (before === undefined) break;
    }
    expect(paged).toEqual([`${direct}#1`, `${room}#2`, `${room}#1`]);
    ann.close();
  });

  it("keeps read positions in PostgreSQL and tells the reader's other devices and, in a DM, the other person", async () => {
    const dm = `dm:${uniqueName("a")}:${uniqueName("b")}`;
    const [first, second] = dm.slice(3).split(":") as [string, string];
    const laptop = await gateway(0).connect(first);
    const phone = await gateway(1).connect(first);
    const other = await gateway(1).connect(second);
    for (const client of [laptop, phone, other]) await client.join(dm);
    await other.sendUntilAcked(dm, "hi", "hello");
    const from = phone.frames.length;
    laptop.send({ t: "read", room: dm, seq: 1 });
    expect(await phone.next("read", (frame) => frame.room === dm, { from })).toEqual({
      t: "read",
      room: dm,
      user: first,
      seq: 1,
    });
    expect(await other.next("read", (frame) => frame.room === dm)).toEqual({
      t: "read",
      room: dm,
      user: first,
      seq: 1,
    });
    // From PostgreSQL on the next join, on any gateway.
    const tablet = await gateway(1).connect(first);
    const joined = tablet.frames.length;
    await tablet.join(dm);
    expect(
      await tablet.next("read", (frame) => frame.room === dm && frame.user === first, { from: joined }),
    ).toMatchObject({ seq: 1 });
    for (const client of [laptop, phone, other, tablet]) client.close();
  });

  it("keeps each user's inbox: a new DM reaches them at once, counts agree everywhere, and leave removes", async () => {
    const [annName, benName] = [uniqueName("ann"), uniqueName("ben")];
    const direct = dmRoom(annName, benName);
    const room = uniqueName("room");
    const inbox = async (user: string, index = 0) => {
      const response = await gateway(index).fetch(`/api/inbox?user=${user}`);
      expect(response.status).toBe(200);
      return inboxSchema.parse(await response.json()).rooms;
    };
    const ann = await gateway(0).connect(annName);
    const laptop = await gateway(1).connect(benName);
    const phone = await gateway(0).connect(benName);
    await ann.join(direct);

    // Ben has never opened the conversation: both of his connections hear of it.
    await ann.sendUntilAcked(direct, "d1", "hi ben");
    for (const client of [laptop, phone]) {
      expect(await client.next("inbox", (frame) => frame.room === direct)).toEqual({
        t: "inbox",
        room: direct,
        latest: 1,
        read: 0,
        unread: 1,
      });
    }
    await ann.sendUntilAcked(direct, "d2", "you there?");
    await laptop.next("inbox", (frame) => frame.room === direct && frame.unread === 2);
    // The DM is in ben's inbox, stored or not yet: from either gateway, the same answer.
    const expected = {
      room: direct,
      latest: 2,
      read: 0,
      unread: 2,
      last: { seq: 2, from: annName, body: "you there?" },
    };
    expect(await inbox(benName, 1)).toMatchObject([expected]);
    expect(await inbox(benName, 0)).toMatchObject([expected]);
    expect(await inbox(annName)).toMatchObject([{ room: direct, latest: 2, unread: 0 }]);

    // Reading on the laptop tells the phone, which never joined the room.
    await laptop.join(direct);
    laptop.send({ t: "read", room: direct, seq: 1 });
    expect(await phone.next("inbox", (frame) => frame.room === direct && frame.read === 1)).toMatchObject({
      latest: 2,
      unread: 1,
    });
    // A deleted message is no longer unread.
    expect(await answer(ann, { t: "delete", room: direct, seq: 2 }, "x1")).toMatchObject({ t: "ack", seq: 3 });
    expect(await phone.next("inbox", (frame) => frame.room === direct && frame.latest === 3)).toMatchObject({
      unread: 0,
    });

    // A plain room joins the inbox with the first join, and leaves it with a leave, on every device.
    let from = phone.frames.length;
    await laptop.join(room);
    expect(await phone.next("inbox", (frame) => frame.room === room, { from })).toEqual({
      t: "inbox",
      room,
      latest: 0,
      read: 0,
      unread: 0,
    });
    await ann.join(room);
    await ann.sendUntilAcked(room, "r1", "news");
    // Cat joins after it: what was said before counts as read for her.
    const catName = uniqueName("cat");
    const cat = await gateway(1).connect(catName);
    await cat.join(room);
    expect((await inbox(catName)).map((entry) => [entry.read, entry.unread])).toEqual([[1, 0]]);
    expect((await inbox(benName)).map((entry) => [entry.room, entry.unread])).toEqual([
      [direct, 0],
      [room, 1],
    ]);
    from = phone.frames.length;
    laptop.send({ t: "leave", room });
    expect(await phone.next("inbox", (frame) => frame.room === room, { from })).toMatchObject({ left: true });
    expect((await inbox(benName)).map((entry) => entry.room)).toEqual([direct]);

    // A gateway started afresh answers from PostgreSQL and Redis alike.
    const fresh = await stack.startGateway();
    const response = await fresh.fetch(`/api/inbox?user=${benName}`);
    expect(inboxSchema.parse(await response.json()).rooms).toMatchObject([
      { room: direct, latest: 3, read: 1, unread: 0, last: { seq: 2, deleted: true } },
    ]);
    for (const client of [ann, laptop, phone, cat]) client.close();
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

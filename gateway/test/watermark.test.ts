import { randomUUID } from "node:crypto";
import { redisTarget, roomKeys } from "@parley/runtime";
import { serviceEnv, uniqueName, waitFor } from "@parley/testkit";
import { withClient } from "@parley/testkit/database";
import { Stack } from "@parley/testkit/stack";
import type { TestClient } from "@parley/testkit/ws-client";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisBus } from "../src/bus/redis-bus.js";

/** The persisted watermark end to end: persister -> Redis -> gateways -> clients, with gaps repaired or recorded. */
describe("persisted watermark", () => {
  let stack: Stack;
  let bus: RedisBus;
  let redis: Redis;
  let client: TestClient;
  const prefix = () => stack.env.PARLEY_REDIS_PREFIX ?? "";

  beforeAll(async () => {
    stack = await Stack.start({ gateways: 1, gapTimeoutMs: 1_500 });
    // Stands in for a gateway that sequences a message and dies before appending it to the log.
    bus = new RedisBus({ target: redisTarget(serviceEnv().redisUrl, false), prefix: prefix(), listener: () => {} });
    await bus.connect();
    redis = new Redis(serviceEnv().redisUrl);
    client = await (stack.gateways[0] as NonNullable<(typeof stack.gateways)[0]>).connect("wendy");
  });
  afterAll(async () => {
    client?.close();
    await bus?.close();
    redis?.disconnect();
    await stack?.stop();
  });

  const send = (room: string, body: string) => client.sendUntilAcked(room, randomUUID(), body);

  function watermark(room: string, upTo: number) {
    return client.next("persisted", (frame) => frame.room === room && frame.upTo >= upTo, { timeoutMs: 30_000 });
  }

  it("tells members once everything up to a seq is in PostgreSQL", async () => {
    const room = uniqueName("room");
    await client.join(room);
    for (let index = 0; index < 5; index++) await send(room, `m${index}`);
    expect((await watermark(room, 5)).upTo).toBe(5);
    const stored = (await stack.rows()).filter((row) => row.room === room);
    expect(stored.map((row) => row.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it("tells only members with own messages waiting to be stored, and each of those once it covers them", async () => {
    const room = uniqueName("room");
    const gateway = stack.gateways[0] as NonNullable<(typeof stack.gateways)[0]>;
    const [reader, otherTab] = await Promise.all([gateway.connect("reader"), gateway.connect("wendy")]);
    try {
      await Promise.all([client.join(room), reader.join(room), otherTab.join(room)]);
      const from = { reader: reader.frames.length, otherTab: otherTab.frames.length };
      for (let index = 0; index < 3; index++) await send(room, `m${index}`);
      // The sender, and the same user's other connection (it shows the messages as its own), hear of it.
      await watermark(room, 3);
      await otherTab.next("persisted", (frame) => frame.room === room && frame.upTo >= 3, {
        from: from.otherTab,
        timeoutMs: 30_000,
      });
      await waitFor(() => reader.messages(room).length === 3, "the reader's three messages");
      // The watermark went out on this gateway, and the reader, with nothing of its own, was not sent it.
      const beforeOwn = reader.frames.length;
      expect(reader.frames.slice(from.reader).filter((frame) => frame.t === "persisted")).toEqual([]);
      // An own message makes the reader a waiting member, told once it is stored.
      const { seq } = await reader.sendUntilAcked(room, randomUUID(), "mine");
      await reader.next("persisted", (frame) => frame.room === room && frame.upTo >= seq, {
        from: beforeOwn,
        timeoutMs: 30_000,
      });
    } finally {
      reader.close();
      otherTab.close();
    }
  });

  it("repairs a seq that never reached Kafka from the recent buffer", async () => {
    const room = uniqueName("room");
    await client.join(room);
    await send(room, "before");
    const orphan = await bus.publish({
      room,
      from: "ghost",
      cid: randomUUID(),
      body: "never logged",
      id: randomUUID(),
      ts: Date.now(),
    });
    await send(room, "after");
    expect((await watermark(room, 3)).upTo).toBe(3);
    const stored = (await stack.rows()).filter((row) => row.room === room);
    expect(stored.map((row) => [row.seq, row.id])).toContainEqual([2, orphan.event.id]);
  });

  /**
   * Joins a new room and sends two messages around seq 2, which is sequenced but never logged (its gateway died
   * before appending) and gone from the recent buffer. Answers the room and the second message's ack.
   */
  async function acrossALostSeq() {
    const room = uniqueName("room");
    await client.join(room);
    await send(room, "before");
    await bus.publish({ room, from: "ghost", cid: randomUUID(), body: "gone", id: randomUUID(), ts: Date.now() });
    await redis.del(roomKeys(prefix(), room).recent);
    return { room, last: await send(room, "after") };
  }

  it("records a seq lost when the buffer no longer has it, and the watermark moves on", async () => {
    const { room } = await acrossALostSeq();
    expect((await watermark(room, 3)).upTo).toBe(3);
    const lost = await waitFor(
      () =>
        withClient(stack.database.url, async (db) => {
          const result = await db.query("SELECT from_seq, to_seq FROM lost_ranges WHERE room = $1", [room]);
          return result.rows.length > 0 ? result.rows : undefined;
        }),
      "the lost range recorded",
    );
    expect(lost).toEqual([{ from_seq: "2", to_seq: "2" }]);
  });
  it("resolves a quiet room's gap one gap timeout after a persister restart", async () => {
    const { room, last } = await acrossALostSeq();
    await waitFor(
      async () => (await stack.rows()).some((row) => row.room === room && row.seq === last.seq),
      "the message above the gap stored",
    );
    // Killed before its gap timeout (1.5 s) passed; the room gets no message again.
    const killed = stack.persister;
    killed?.kill("SIGKILL");
    await killed?.exited;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await stack.startPersister();
    const restarted = Date.now();
    expect((await watermark(room, last.seq)).upTo).toBe(last.seq);
    // One gap timeout, the tracker's tick and the gateway's once-a-second forwarding.
    expect(Date.now() - restarted).toBeLessThan(1_500 + 2_500);
    const lost = await withClient(stack.database.url, async (db) => {
      const result = await db.query("SELECT from_seq, to_seq FROM lost_ranges WHERE room = $1", [room]);
      return result.rows;
    });
    expect(lost).toEqual([{ from_seq: "2", to_seq: "2" }]);
  });
});

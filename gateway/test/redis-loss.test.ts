import { uniqueName, waitFor } from "@parley/testkit";
import { serviceCtl } from "@parley/testkit/services";
import { Stack } from "@parley/testkit/stack";
import type { TestClient } from "@parley/testkit/ws-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const RESEED_MARGIN = 1_000;

/** Redis restarted without persistence mid-run: every counter, buffer and dedupe key is gone. */
describe("Redis data loss", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start({
      gateways: 2,
      gapTimeoutMs: 2_000,
      gatewayEnv: {
        PARLEY_RESEED_MARGIN: String(RESEED_MARGIN),
        PARLEY_RATE_PER_SECOND: "1000",
        PARLEY_RATE_BURST: "1000",
      },
    });
  });
  afterAll(() => stack?.stop());

  const sendUntilAcked = (client: TestClient, room: string, cid: string) =>
    client.sendUntilAcked(room, cid, `body ${cid}`);

  it("never reuses a seq, drops no message and persists every acked one exactly once", async () => {
    const [first, second] = stack.gateways;
    if (!first || !second) throw new Error("two gateways expected");
    const room = uniqueName("room");
    const [ann, ben] = await Promise.all([first.connect("ann"), second.connect("ben")]);
    await Promise.all([ann.join(room), ben.join(room)]);

    const before = [];
    for (let index = 0; index < 10; index++) {
      before.push(
        await sendUntilAcked(ann, room, `a-before-${index}`),
        await sendUntilAcked(ben, room, `b-before-${index}`),
      );
    }
    await serviceCtl("restart", "redis");
    // Both gateways back on Redis (readiness includes the subscriber connection), so the epoch has listeners.
    await waitFor(
      async () => (await first.fetch("/readyz")).status === 200 && (await second.fetch("/readyz")).status === 200,
      "both gateways ready again",
    );
    const after = [];
    for (let index = 0; index < 10; index++) {
      after.push(
        await sendUntilAcked(ann, room, `a-after-${index}`),
        await sendUntilAcked(ben, room, `b-after-${index}`),
      );
    }

    const highestBefore = Math.max(...before.map((ack) => ack.seq));
    expect(highestBefore).toBe(20);
    // The room continued above everything stored plus the margin, so no seq of the first run came back.
    expect(Math.min(...after.map((ack) => ack.seq))).toBeGreaterThan(highestBefore);
    const acked = [...before, ...after];
    expect(new Set(acked.map((ack) => ack.seq)).size).toBe(acked.length);

    const stored = await waitFor(async () => {
      const rows = (await stack.rows()).filter((row) => row.room === room);
      return rows.length >= acked.length ? rows : undefined;
    }, "every acked message in PostgreSQL");
    expect(stored.map((row) => [row.seq, row.id]).sort()).toEqual(acked.map((ack) => [ack.seq, ack.id]).sort());

    // The skipped seqs are recorded lost after the gap timeout, so the watermark reaches the end.
    const last = Math.max(...after.map((ack) => ack.seq));
    // Ben sent the last message, so Ben is told when it is stored.
    await ben.next("persisted", (frame) => frame.room === room && frame.upTo >= last, { timeoutMs: 30_000 });
    // The restart was announced (pub/sub is at-most-once, so to whoever was subscribed again in time).
    const epochs = [ann, ben].flatMap((client) => client.frames.filter((frame) => frame.t === "epoch"));
    expect(epochs.length).toBeGreaterThan(0);
    for (const epoch of epochs) expect(epoch).toEqual({ t: "epoch", room, seq: highestBefore + RESEED_MARGIN });
    // Members on both gateways still receive the room after Redis came back.
    await waitFor(
      () => ben.messages(room).some((message) => message.seq === last),
      "the last message on the other gateway",
    );
  });

  it("reseeds each room once after a 20 s outage under load, losing and duplicating nothing", async () => {
    const [first, second] = stack.gateways;
    if (!first || !second) throw new Error("two gateways expected");
    const rooms = Array.from({ length: 5 }, () => uniqueName("room"));
    // Per room a sender on each gateway; each keeps 10 sends in flight, the way a client resends its queue.
    const senders = await Promise.all(
      rooms.flatMap((room, index) =>
        [first, second].map(async (gateway, side) => {
          const client = await gateway.connect(`user${index}-${side}`);
          await client.join(room);
          return { client, room, name: `${index}-${side}` };
        }),
      ),
    );
    const send = (round: string, count: number) =>
      Promise.all(
        senders.flatMap(({ client, room, name }) =>
          Array.from({ length: count }, (_, index) =>
            client.sendUntilAcked(room, `${round}-${name}-${index}`, `${round} ${index}`, { timeoutMs: 120_000 }),
          ),
        ),
      );
    const before = await send("before", 10);
    const highestBefore = new Map(rooms.map((room) => [room, 0]));
    for (const ack of before) highestBefore.set(ack.room, Math.max(highestBefore.get(ack.room) ?? 0, ack.seq));

    await serviceCtl("stop", "redis");
    const during = send("during", 10); // queued and retried while Redis is away
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    await serviceCtl("start", "redis");
    const after = await during;
    const acked = [...before, ...after];

    let announced = 0;
    for (const room of rooms) {
      const seqs = after.filter((ack) => ack.room === room).map((ack) => ack.seq);
      const floor = (highestBefore.get(room) ?? 0) + RESEED_MARGIN;
      // One reseed: the room went on from one floor, gap-free, rather than from a new floor per waiting publish.
      expect(seqs.toSorted((a, b) => a - b)).toEqual(
        Array.from({ length: seqs.length }, (_, index) => floor + 1 + index),
      );
      const epochs = senders
        .filter((sender) => sender.room === room)
        .flatMap(({ client }) => client.frames.filter((frame) => frame.t === "epoch" && frame.room === room));
      // Pub/sub is at-most-once: the reseed often runs before the gateways' subscribers are back (1 run in 3 here, no
      // client got one), so only what arrived is checked; that a reseed publishes its epoch is the Bus contract's.
      for (const epoch of epochs) expect(epoch.t === "epoch" ? epoch.seq : 0).toBe(floor);
      announced += epochs.length;
    }
    const stored = await waitFor(async () => {
      const rows = (await stack.rows()).filter((row) => rooms.includes(row.room));
      return rows.length >= acked.length ? rows : undefined;
    }, "every acked message in PostgreSQL");
    expect(stored.map((row) => `${row.room}/${row.seq}/${row.id}`).sort()).toEqual(
      acked.map((ack) => `${ack.room}/${ack.seq}/${ack.id}`).sort(),
    );
    console.info(
      `20 s Redis outage: ${acked.length} acked, ${stored.length} stored, ${rooms.length} rooms reseeded once each, ${announced} epoch frames received`,
    );
  });
});

import { serviceEnv, uniqueName, waitFor } from "@parley/testkit";
import { serviceCtl } from "@parley/testkit/services";
import { Stack } from "@parley/testkit/stack";
import type { TestClient } from "@parley/testkit/ws-client";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The distributed deployment on a Redis Cluster of three masters: rooms land on different nodes, and each still
 * gets gap-free seqs, acks, presence and the persister's watermark through its own slot.
 */
describe("on Redis Cluster", () => {
  let stack: Stack;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    stack = await Stack.start({
      gateways: 2,
      redisCluster: true,
      gatewayEnv: { PARLEY_RATE_PER_SECOND: "100000", PARLEY_RATE_BURST: "100000" },
    });
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await stack?.stop();
  });

  it("lets clients on two gateways chat in rooms spread over the nodes, and tells them what is stored", async () => {
    const [first, second] = stack.gateways;
    if (!first || !second) throw new Error("two gateways expected");
    const alice = await first.connect("alice");
    const bob = await second.connect("bob");
    clients.push(alice, bob);
    // With three masters, each holds some of 24 rooms but for a chance of 3 × (2/3)^24 ≈ 0.02 %.
    const rooms = Array.from({ length: 24 }, () => uniqueName("room"));
    for (const room of rooms) {
      await alice.join(room);
      await bob.join(room);
    }
    await waitFor(
      () => rooms.every((room) => alice.frames.some((f) => f.t === "presence" && f.room === room && f.count === 2)),
      "bob present in every room, as alice sees it",
    );
    for (const room of rooms) {
      for (let index = 0; index < 5; index++) {
        (index % 2 ? bob : alice).send({ t: "send", room, cid: `${room}-${index}`, body: `message ${index}` });
      }
    }
    for (const client of [alice, bob]) {
      for (const room of rooms) {
        await waitFor(() => client.messages(room).length === 5, `5 messages in ${room}`);
        expect(client.messages(room).map((message) => message.seq)).toEqual([1, 2, 3, 4, 5]);
      }
    }
    await waitFor(
      () => alice.frames.filter((frame) => frame.t === "ack").length === rooms.length * 3,
      "an ack for each of alice's sends",
    );
    for (const room of rooms) {
      // Watermarks go to members whose own messages they do not cover yet: one covering alice's last is the last.
      const own = Math.max(
        ...alice.messages(room).flatMap((message) => (message.from === "alice" ? [message.seq] : [])),
      );
      await alice.next("persisted", (frame) => frame.room === room && frame.upTo >= own, { timeoutMs: 30_000 });
    }
    // Alice's last message need not be a room's last (bob's sends go through the other gateway), so a watermark
    // covering hers does not cover the room: the rest is stored, but not necessarily yet.
    const stored = await waitFor(async () => {
      const rows = await stack.rows();
      return rows.length >= rooms.length * 5 ? rows : undefined;
    }, "every message in PostgreSQL");
    expect(stored).toHaveLength(rooms.length * 5);

    // Every node holds some of the rooms' keys: the rooms were spread over the whole Cluster.
    for (const url of serviceEnv().redisClusterUrls.split(",")) {
      const node = new Redis(url);
      try {
        expect(await node.keys(`${stack.env.PARLEY_REDIS_PREFIX}:*`), url).not.toEqual([]);
      } finally {
        node.disconnect();
      }
    }
  });

  it("answers sends with `unavailable` at once while the Cluster is down, and takes them again once it is back", async () => {
    const gateway = stack.gateways[0];
    if (!gateway) throw new Error("a gateway expected");
    const carol = await gateway.connect("carol");
    clients.push(carol);
    const room = uniqueName("room");
    await carol.join(room);
    await carol.sendUntilAcked(room, "before", "before the outage");

    await serviceCtl("stop", "redis-cluster");
    try {
      const started = Date.now();
      carol.send({ t: "send", room, cid: "during", body: "while the Cluster is down" });
      const answer = await carol.next("error", (frame) => frame.cid === "during");
      expect(answer.code).toBe("unavailable");
      // Within the client's 5 s command timeout, not held until the Cluster is back.
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await serviceCtl("start", "redis-cluster"); // rebuilt empty, as after losing every node
    }

    // The same cid succeeds once the gateway has found the new Cluster; the room's seq continues above the Store's.
    const ack = await carol.sendUntilAcked(room, "during", "while the Cluster is down");
    expect(ack.seq).toBeGreaterThan(1);
    // Live delivery may have been missed while the subscription came back (pub/sub is at-most-once): as any
    // client after a gap or an epoch frame, carol rejoins with `since` and gets it in the replay.
    const seen = carol.messages(room).at(-1)?.seq ?? 0;
    await carol.join(room, Math.min(seen, ack.seq - 1));
    await waitFor(() => carol.messages(room).some((message) => message.cid === "during"), "the message delivered");
  });
});

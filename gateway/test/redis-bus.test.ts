import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { redisTarget, roomKeys } from "@parley/runtime";
import { serviceEnv, uniqueName, waitFor } from "@parley/testkit";
import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { busContract } from "../src/bus/bus.contract.js";
import type { BusEvent } from "../src/bus/bus.js";
import { DEFAULT_RESEED_MARGIN, RedisBus } from "../src/bus/redis-bus.js";

const standalone = () => redisTarget(serviceEnv().redisUrl, false);

for (const [name, target] of [
  ["redis", standalone],
  ["redis cluster", () => redisTarget(serviceEnv().redisClusterUrls, true)],
] as const) {
  busContract(name, {
    distributed: true,
    reseedMargin: DEFAULT_RESEED_MARGIN,
    create: async (options) => {
      const bus = new RedisBus({ ...options, target: target() });
      await bus.connect();
      return bus;
    },
  });
}

it("announces its users again, in one frame, after Redis lost a room's presence", async () => {
  const prefix = uniqueName("parley");
  const room = uniqueName("room");
  const events: BusEvent[] = [];
  const bus = new RedisBus({
    target: standalone(),
    prefix,
    listener: (event) => events.push(event),
    presenceTtlSeconds: 1,
  });
  const redis = new Redis(serviceEnv().redisUrl);
  try {
    await bus.connect();
    await bus.subscribe(room);
    await bus.joinPresence(room, "ann");
    await bus.joinPresence(room, "ben");
    await redis.del(...(await redis.keys(`${prefix}:{${room}}:presence*`)));
    await waitFor(
      () => events.some((event) => event.t === "presence" && JSON.stringify(event.joined) === '["ann","ben"]'),
      "one presence frame with both users",
    );
    expect(await bus.presence(room)).toEqual({ count: 2, users: ["ann", "ben"] });
  } finally {
    await bus.close();
    redis.disconnect();
  }
});

it("never reuses a seq when Redis's counter went back below what it had assigned (a failover to a lagging replica)", async () => {
  const prefix = uniqueName("parley");
  const room = uniqueName("room");
  const events: BusEvent[] = [];
  const bus = new RedisBus({ target: standalone(), prefix, listener: (event) => events.push(event) });
  const redis = new Redis(serviceEnv().redisUrl);
  const keys = roomKeys(prefix, room);
  const send = (cid: string) => bus.publish({ room, from: "ann", cid, body: cid, id: randomUUID(), ts: Date.now() });
  try {
    await bus.connect();
    await bus.subscribe(room);
    for (const cid of ["a", "b", "c"]) await send(cid);
    // What a replica that missed the last two writes holds after its promotion.
    await redis.set(keys.seq, "1");
    await redis.ltrim(keys.recent, 0, 0);
    await redis.del(keys.dedupe("ann", "b"), keys.dedupe("ann", "c"));

    const { event } = await send("d");
    expect(event.seq).toBe(3 + DEFAULT_RESEED_MARGIN + 1);
    await waitFor(
      () => events.some((event) => event.t === "epoch" && event.seq === 3 + DEFAULT_RESEED_MARGIN),
      "an epoch frame",
    );
  } finally {
    await bus.close();
    redis.disconnect();
  }
});

it("keeps one presence entry per process and room, gone with the process's last user there", async () => {
  const prefix = uniqueName("parley");
  const room = uniqueName("room");
  const bus = new RedisBus({ target: standalone(), prefix, listener: () => {} });
  const redis = new Redis(serviceEnv().redisUrl);
  const keys = roomKeys(prefix, room);
  try {
    await bus.connect();
    for (const user of ["ann", "ben", "cat"]) await bus.joinPresence(room, user);
    expect(await redis.zcard(keys.presenceProcesses)).toBe(1);
    for (const user of ["ann", "ben"]) await bus.leavePresence(room, user);
    expect(await redis.zcard(keys.presenceProcesses)).toBe(1);
    await bus.leavePresence(room, "cat");
    expect(await redis.keys(`${prefix}:{${room}}:presence*`)).toEqual([]);
  } finally {
    await bus.close();
    redis.disconnect();
  }
});

/**
 * A TCP proxy to Redis that can stop passing Redis's replies to the connections that named themselves `name`
 * (ioredis sends CLIENT SETNAME first): a connection that looks open and takes commands, but receives nothing.
 */
async function freezableProxy(redisUrl: string) {
  const upstream = new URL(redisUrl);
  const frozen = new Set<Socket>();
  const named = new Map<Socket, string>();
  const server = createServer((client) => {
    const redis = connect(Number(upstream.port), upstream.hostname);
    client.on("data", (chunk) => {
      const seen = named.get(client) ?? "";
      if (seen.length < 1_024) named.set(client, seen + chunk.toString("latin1"));
      redis.write(chunk);
    });
    redis.on("data", (chunk) => {
      if (!frozen.has(client)) client.write(chunk);
    });
    const end = () => {
      client.destroy();
      redis.destroy();
      frozen.delete(client);
      named.delete(client);
    };
    client.on("close", end).on("error", end);
    redis.on("close", end).on("error", end);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    /** Freezes the open connections whose first kilobyte carried `name`; later connections pass again. */
    freeze: (name: string) => {
      for (const [socket, first] of named) if (first.includes(name)) frozen.add(socket);
      return frozen.size;
    },
    close: () => {
      for (const socket of named.keys()) socket.destroy();
      server.close();
    },
  };
}

it("fails readiness when its subscriber stops receiving while commands work, and reconnects it", async () => {
  const proxy = await freezableProxy(serviceEnv().redisUrl);
  const prefix = uniqueName("parley");
  const room = uniqueName("room");
  const events: BusEvent[] = [];
  let stalls = 0;
  const bus = new RedisBus({
    target: redisTarget(proxy.url, false),
    prefix,
    listener: (event) => events.push(event),
    probeIntervalMs: 200,
    onSubscriberStalled: () => stalls++,
  });
  const other = new RedisBus({ target: standalone(), prefix, listener: () => {} });
  try {
    await Promise.all([bus.connect(), other.connect()]);
    await bus.subscribe(room);
    await waitFor(() => bus.isReady(), "ready");
    expect(proxy.freeze("parley-bus-sub")).toBe(1);
    // Commands still work: publishes are sequenced, but the frozen subscriber does not hear them.
    await other.publishTyping(room, "ann");
    await waitFor(() => !bus.isReady(), "not ready once a probe is overdue", { timeoutMs: 5_000 });
    expect((await bus.publish({ room, from: "ben", cid: "c1", body: "hi", id: randomUUID(), ts: 1 })).event.seq).toBe(
      1,
    );
    await waitFor(() => stalls === 1 && bus.isReady(), "ready again after reconnecting the subscriber", {
      timeoutMs: 5_000,
    });
    // The reconnected subscriber is subscribed to the room again.
    await waitFor(async () => {
      await other.publishTyping(room, "cat");
      return events.some((event) => event.t === "typing" && event.user === "cat");
    }, "the room's events after the reconnect");
    expect(events.some((event) => event.t === "typing" && event.user === "ann")).toBe(false);
  } finally {
    await Promise.all([bus.close(), other.close()]);
    proxy.close();
  }
});

it("reseeds a room once when many publishes find its counter gone, however late their Store reads return", async () => {
  const prefix = uniqueName("parley");
  const room = uniqueName("room");
  const redis = new Redis(serviceEnv().redisUrl);
  // The Store as the persister fills it: it holds every seq a publish returned, so a late read sees the reseed's own
  // messages. The second gateway's reads are slow.
  let stored = 0;
  const epochs: number[] = [];
  const gateway = (readMs: number) =>
    new RedisBus({
      target: standalone(),
      prefix,
      reseedMargin: 1_000,
      seed: async () => {
        await new Promise((resolve) => setTimeout(resolve, readMs));
        return stored;
      },
      listener: (event) => {
        if (event.t === "epoch") epochs.push(event.seq);
      },
    });
  const [fast, slow] = [gateway(0), gateway(300)];
  const publish = (bus: RedisBus, cid: string) =>
    bus.publish({ room, from: "ann", cid, body: cid, id: randomUUID(), ts: 1 }).then((published) => {
      stored = Math.max(stored, published.event.seq);
      return published.event.seq;
    });
  try {
    await Promise.all([fast.connect(), slow.connect()]);
    await Promise.all([fast.subscribe(room), slow.subscribe(room)]);
    for (let index = 0; index < 10; index++) await publish(fast, `before-${index}`);
    const keys = roomKeys(prefix, room);
    await redis.del(keys.seq, keys.recent); // Redis lost the room
    const seqs = await Promise.all(
      Array.from({ length: 40 }, (_, index) => publish(index % 2 === 0 ? fast : slow, `after-${index}`)),
    );
    expect(seqs.toSorted((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, index) => 1_011 + index));
    await waitFor(() => epochs.length >= 2, "the epoch on both gateways");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(new Set(epochs)).toEqual(new Set([1_010]));
  } finally {
    await Promise.all([fast.close(), slow.close()]);
    redis.disconnect();
  }
});

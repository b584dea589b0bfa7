import { randomUUID } from "node:crypto";
import { roomKeys } from "@parley/protocol";
import { redisTarget } from "@parley/protocol/runtime";
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

    const { message } = await send("d");
    expect(message.seq).toBe(3 + DEFAULT_RESEED_MARGIN + 1);
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

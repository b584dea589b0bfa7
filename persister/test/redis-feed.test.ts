/**
 * The persister's view of the gateways' Redis on a real Redis: it reads the recent buffer in the layout the gateways'
 * RedisBus writes (`roomKeys`, `msg` frames) and its `persisted` frames arrive on the room's sharded channel.
 */
import { encodeServerFrame } from "@parley/protocol";
import { redisClient, redisTarget, roomKeys } from "@parley/runtime";
import { testMessage } from "@parley/store/contract";
import { serviceEnv, uniqueName, waitFor } from "@parley/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { RedisFeed } from "../src/redis-feed.js";

describe("RedisFeed", () => {
  const target = redisTarget(serviceEnv().redisUrl, false);
  const prefix = uniqueName("feed");
  const feed = new RedisFeed({ target, prefix });
  const redis = redisClient(target, "redis-feed-test");
  afterAll(async () => {
    await feed.close();
    await redis.quit();
  });

  it("reads the messages above a seq from a room's recent buffer, skipping other frames", async () => {
    const room = uniqueName("room");
    const messages = [1, 2, 3].map((seq) => testMessage(room, seq));
    const frames = messages.map((message) => encodeServerFrame({ t: "msg", ...message }));
    await redis.rpush(
      roomKeys(prefix, room).recent,
      frames[0] ?? "",
      encodeServerFrame({ t: "typing", room, user: "ann" }),
      "not a frame",
      ...frames.slice(1),
    );
    expect(await feed.recent(room, 1)).toEqual(messages.slice(1));
    expect(await feed.recent(room, 3)).toEqual([]);
    expect(await feed.recent(uniqueName("empty"), 0)).toEqual([]);
  });

  it("announces a room's watermark on its sharded channel, where the gateways listen", async () => {
    const room = uniqueName("room");
    const subscriber = redisClient(target, "redis-feed-test-subscriber", { subscriber: true });
    const received: string[] = [];
    subscriber.on("smessage", (_channel: string, payload: string) => received.push(payload));
    try {
      await subscriber.ssubscribe(roomKeys(prefix, room).channel);
      await feed.publishPersisted(room, 42);
      await waitFor(() => received.length === 1, "the persisted frame");
      expect(JSON.parse(received[0] ?? "")).toEqual({ t: "persisted", room, upTo: 42 });
    } finally {
      await subscriber.quit();
    }
  });
});

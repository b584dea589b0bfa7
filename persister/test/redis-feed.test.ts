/**
 * The persister's view of the gateways' Redis on a real Redis: it reads the recent buffer in the layout the gateways'
 * RedisBus writes (`roomKeys`, one event frame per seq) and its `persisted` frames arrive on the room's sharded channel.
 */
import { encodeServerFrame, eventFrame, type RoomEvent } from "@parley/protocol";
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

  it("reads the events above a seq from the tail of a room's recent buffer, skipping what does not decode", async () => {
    const room = uniqueName("room");
    const keys = roomKeys(prefix, room);
    const [first, second] = [testMessage(room, 1), testMessage(room, 2)];
    const edit: RoomEvent = { ...testMessage(room, 4), kind: "edit", target: 1 };
    // The layout the publish script keeps: one frame per seq, the counter at the last one.
    const frames = [first, second].map((event) => encodeServerFrame(eventFrame(event)));
    await redis.rpush(keys.recent, ...frames, "not a frame", encodeServerFrame(eventFrame(edit)));
    await redis.set(keys.seq, "4");
    expect(await feed.recent(room, 1)).toEqual([second, edit]);
    expect(await feed.recent(room, 4)).toEqual([]);
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

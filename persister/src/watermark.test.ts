import type { ChatMessage } from "@parley/protocol";
import { createLogger } from "@parley/runtime";
import { createPgliteStore, type KyselyStore } from "@parley/store";
import { testMessage } from "@parley/store/contract";
import { uniqueName, waitFor } from "@parley/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LOST_NEVER_LOGGED, type RoomFeed, WatermarkTracker } from "./watermark.js";

const logger = createLogger("watermark-test", "silent");

/** A feed that records announcements and serves a recent buffer the test controls. */
function recordingFeed(buffer: ChatMessage[] = []) {
  const announced: { room: string; upTo: number }[] = [];
  const feed: RoomFeed = {
    recent: async (room, after) => buffer.filter((message) => message.room === room && message.seq > after),
    publishPersisted: async (room, upTo) => {
      announced.push({ room, upTo });
    },
  };
  return { feed, announced, buffer };
}

describe("WatermarkTracker", () => {
  let store: KyselyStore;
  const trackers: WatermarkTracker[] = [];
  beforeAll(async () => {
    store = await createPgliteStore();
    await store.migrate();
  });
  afterEach(async () => {
    await Promise.all(trackers.splice(0).map((tracker) => tracker.close()));
  });
  afterAll(() => store?.close());

  function tracker(feed: RoomFeed, gapTimeoutMs = 60_000, saveWatermarks = store.saveWatermarks.bind(store)) {
    const created = new WatermarkTracker({
      store: {
        events: (query) => store.events(query),
        insert: (messages) => store.insert(messages),
        watermark: (room) => store.watermark(room),
        saveWatermarks,
        roomsBehind: () => store.roomsBehind(),
        recordLost: (room, range) => store.recordLost(room, range),
        lostRanges: (room, after) => store.lostRanges(room, after),
      },
      feed,
      gapTimeoutMs,
      logger,
    });
    trackers.push(created);
    return created;
  }

  /** Stores the messages and tells the tracker, as the Persister does after a batch. */
  async function persist(target: WatermarkTracker, messages: ChatMessage[]) {
    await store.insert(messages);
    const seqs = new Map<string, number[]>();
    for (const { room, seq } of messages) seqs.set(room, [...(seqs.get(room) ?? []), seq]);
    target.persisted(seqs);
  }

  it("advances over contiguous seqs, saves and announces the watermark", async () => {
    const { feed, announced } = recordingFeed();
    const room = uniqueName("room");
    const watermarks = tracker(feed);
    await persist(watermarks, [testMessage(room, 1), testMessage(room, 2)]);
    await persist(watermarks, [testMessage(room, 3)]);
    await waitFor(() => announced.at(-1)?.upTo === 3, "watermark 3");
    // Announcements only ever grow (the second batch may already be counted when the room's state loads).
    const upTos = announced.map(({ upTo }) => upTo);
    expect(upTos).toEqual([...upTos].sort((a, b) => a - b));
    expect(new Set(upTos).size).toBe(upTos.length);
    await waitFor(async () => (await store.watermark(room)) === 3, "watermark 3 saved on the tick");
  });

  it("announces a busy room's watermark at most once a second, the latest one last", async () => {
    const { feed, announced } = recordingFeed();
    const room = uniqueName("room");
    const watermarks = tracker(feed);
    await persist(watermarks, [testMessage(room, 1)]);
    await waitFor(() => announced.length === 1, "watermark 1");
    await persist(watermarks, [testMessage(room, 2)]);
    await persist(watermarks, [testMessage(room, 3)]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(announced.map(({ upTo }) => upTo)).toEqual([1]);
    await waitFor(() => announced.at(-1)?.upTo === 3, "watermark 3");
    expect(announced.map(({ upTo }) => upTo)).toEqual([1, 3]);
  });

  it("saves the watermarks of many rooms in one call, and again after a failed save", async () => {
    const { feed, announced } = recordingFeed();
    const rooms = Array.from({ length: 5 }, () => uniqueName("room"));
    const saves: ReadonlyMap<string, number>[] = [];
    const watermarks = tracker(feed, 60_000, async (saving) => {
      saves.push(new Map(saving));
      if (saves.length === 1) throw new Error("the database is down");
      await store.saveWatermarks(saving);
    });
    await persist(
      watermarks,
      rooms.flatMap((room) => [testMessage(room, 1), testMessage(room, 2)]),
    );
    await waitFor(() => announced.length === rooms.length, "every room announced");
    // The tick is a second apart here: the first save (failing) comes from it or from close, the second from close.
    await watermarks.close();
    await watermarks.close();
    expect(saves.length).toBeLessThanOrEqual(3);
    expect(saves.at(-1)).toEqual(new Map(rooms.map((room) => [room, 2])));
    for (const room of rooms) expect(await store.watermark(room)).toBe(2);
  });

  it("announces again, without another batch, a watermark the feed failed to take", async () => {
    const { feed: working, announced } = recordingFeed();
    let failures = 2;
    const feed: RoomFeed = {
      ...working,
      publishPersisted: async (room, upTo) => {
        if (failures-- > 0) throw new Error("Redis is down");
        await working.publishPersisted(room, upTo);
      },
    };
    const room = uniqueName("room");
    await persist(tracker(feed), [testMessage(room, 1), testMessage(room, 2)]);
    await waitFor(() => announced.length > 0, "the watermark announced");
    expect(announced).toEqual([{ room, upTo: 2 }]);
    expect(failures).toBe(-1);
  });

  it("holds the watermark below a gap until the missing seq is stored", async () => {
    const { feed, announced } = recordingFeed();
    const room = uniqueName("room");
    const watermarks = tracker(feed);
    await persist(watermarks, [testMessage(room, 1), testMessage(room, 3), testMessage(room, 4)]);
    await waitFor(() => announced.length === 1, "watermark 1");
    expect(announced).toEqual([{ room, upTo: 1 }]);
    await persist(watermarks, [testMessage(room, 2)]);
    await waitFor(() => announced.at(-1)?.upTo === 4, "watermark 4");
  });

  it("repairs a gap from the recent buffer after the timeout", async () => {
    const room = uniqueName("room");
    const missing = testMessage(room, 2);
    const { feed, announced } = recordingFeed([testMessage(room, 1), missing, testMessage(room, 3)]);
    const watermarks = tracker(feed, 200);
    await persist(watermarks, [testMessage(room, 1), testMessage(room, 3)]);
    await waitFor(() => announced.at(-1)?.upTo === 3, "the gap repaired");
    expect(await store.events({ room, after: 0, limit: 10 })).toContainEqual(missing);
    expect(await store.lostRanges(room, 0)).toEqual([]);
  });

  it("records a gap lost when the buffer no longer has it, and moves on", async () => {
    const room = uniqueName("room");
    const { feed, announced } = recordingFeed();
    const watermarks = tracker(feed, 200);
    await persist(watermarks, [testMessage(room, 1), testMessage(room, 4)]);
    await waitFor(() => announced.at(-1)?.upTo === 4, "the watermark past the lost seqs");
    expect(await store.lostRanges(room, 0)).toEqual([{ from: 2, to: 3, reason: LOST_NEVER_LOGGED }]);
  });

  it("resolves every gap that is old enough in one pass", async () => {
    const { feed, announced } = recordingFeed();
    const room = uniqueName("room");
    const resolved: [number, number][] = [];
    const watermarks = new WatermarkTracker({
      store,
      feed,
      gapTimeoutMs: 300,
      logger,
      onGapResolved: (repaired, lost) => resolved.push([repaired, lost]),
    });
    trackers.push(watermarks);
    const started = Date.now();
    await persist(
      watermarks,
      [1, 3, 5, 7].map((seq) => testMessage(room, seq)),
    );
    await waitFor(() => announced.at(-1)?.upTo === 7, "the watermark past three gaps");
    expect(Date.now() - started).toBeLessThan(300 + 1_000);
    expect(resolved).toEqual([[0, 3]]);
    expect((await store.lostRanges(room, 0)).map(({ from, to }) => [from, to])).toEqual([
      [2, 2],
      [4, 4],
      [6, 6],
    ]);
  });

  it("takes up a quiet room's gap after a restart and resolves it one gap timeout later", async () => {
    const room = uniqueName("room");
    const first = recordingFeed();
    const before = tracker(first.feed);
    // Redis lost the room's counter: seqs 3..10000 were skipped, and the persister stops before the gap times out.
    await persist(
      before,
      [1, 2, 10_001, 10_002].map((seq) => testMessage(room, seq)),
    );
    await waitFor(() => first.announced.at(-1)?.upTo === 2, "watermark 2");
    await before.close();
    expect(await store.roomsBehind()).toContain(room);

    // No message arrives for the room again; the new process only learns which rooms it handles.
    const second = recordingFeed();
    const after = new WatermarkTracker({ store, feed: second.feed, gapTimeoutMs: 500, logger });
    trackers.push(after);
    const started = Date.now();
    after.assigned((name) => name === room);
    await waitFor(() => second.announced.at(-1)?.upTo === 10_002, "the watermark at the room's end");
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(Date.now() - started).toBeLessThan(500 + 1_500);
    await after.close();
    expect(await store.watermark(room)).toBe(10_002);
    expect(await store.roomsBehind()).not.toContain(room);
  });

  it("resumes after a restart from the saved watermark and what was stored meanwhile", async () => {
    const room = uniqueName("room");
    const first = recordingFeed();
    const before = tracker(first.feed);
    await persist(before, [testMessage(room, 1), testMessage(room, 2)]);
    await waitFor(() => first.announced.at(-1)?.upTo === 2, "watermark 2");
    await before.close();
    await store.insert([testMessage(room, 4)]); // stored, but its announcement died with the old process
    const second = recordingFeed();
    const after = tracker(second.feed);
    await persist(after, [testMessage(room, 3)]);
    await waitFor(() => second.announced.at(-1)?.upTo === 4, "watermark 4");
  });
});

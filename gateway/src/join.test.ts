import type { ChatMessage, RoomEvent } from "@parley/protocol";
import { describe, expect, it } from "vitest";
import { MemoryBus } from "./bus/memory-bus.js";
import { answerJoin, recover } from "./join.js";

const message = (seq: number): ChatMessage => ({
  room: "lobby",
  seq,
  id: `id-${seq}`,
  cid: `c${seq}`,
  from: "ann",
  body: `#${seq}`,
  ts: seq,
});

/** A Bus whose recent buffer holds `buffered` and a Store holding `stored`; it records what the Store was asked. */
function sources(buffered: number[], stored: number[]) {
  const asked: { after: number; limit: number }[] = [];
  return {
    asked,
    bus: { recent: async (_room: string, after: number) => buffered.filter((seq) => seq > after).map(message) },
    store: {
      events: async ({
        after,
        before = Infinity,
        limit,
      }: {
        room: string;
        after: number;
        before?: number;
        limit: number;
      }) => {
        asked.push({ after, limit });
        return stored
          .filter((seq) => seq > after && seq < before)
          .slice(0, limit)
          .map(message);
      },
    },
  };
}

const seqs = (events: RoomEvent[]) => events.map((e) => e.seq);

describe("recover (the join's replay)", () => {
  it("has nothing to replay for a client that is up to date", async () => {
    const { bus, store, asked } = sources([1, 2], [1, 2]);
    expect(await recover(bus, store, { room: "lobby", since: 2, latest: 2, limit: 10 })).toEqual({
      events: [],
      complete: true,
    });
    expect(asked).toEqual([]);
  });

  it("replays from the recent buffer alone when it reaches back far enough", async () => {
    const { bus, store, asked } = sources([3, 4, 5, 6], [1, 2, 3, 4, 5, 6]);
    const replay = await recover(bus, store, { room: "lobby", since: 3, latest: 6, limit: 10 });
    expect(seqs(replay.events)).toEqual([4, 5, 6]);
    expect(replay.complete).toBe(true);
    expect(asked).toEqual([]);
  });

  it("splices what the buffer no longer holds from the Store in front, asking the Store for that range only", async () => {
    const { bus, store, asked } = sources([5, 6], [1, 2, 3, 4, 5, 6]);
    const replay = await recover(bus, store, { room: "lobby", since: 1, latest: 6, limit: 10 });
    expect(seqs(replay.events)).toEqual([2, 3, 4, 5, 6]);
    expect(replay.complete).toBe(true);
    expect(asked).toEqual([{ after: 1, limit: 3 }]);
  });

  it("leaves out what was sequenced after the join read latest (the subscription brings it)", async () => {
    const { bus, store } = sources([3, 4, 5], []);
    const replay = await recover(bus, store, { room: "lobby", since: 2, latest: 4, limit: 10 });
    expect(seqs(replay.events)).toEqual([3, 4]);
    expect(replay.complete).toBe(true);
  });

  it("sends the newest `limit` messages to a client far behind, and says the replay is not complete", async () => {
    const { bus, store } = sources([8, 9, 10], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const replay = await recover(bus, store, { room: "lobby", since: 0, latest: 10, limit: 4 });
    expect(seqs(replay.events)).toEqual([7, 8, 9, 10]);
    expect(replay.complete).toBe(false);
  });

  it("says a replay is not complete when a seq is in neither the buffer nor the Store (lost with Redis)", async () => {
    const { bus, store } = sources([5, 6], [1, 2, 4]);
    const replay = await recover(bus, store, { room: "lobby", since: 1, latest: 6, limit: 10 });
    expect(seqs(replay.events)).toEqual([2, 4, 5, 6]);
    expect(replay.complete).toBe(false);
  });
});

describe("answerJoin", () => {
  async function busWith(count: number) {
    const bus = new MemoryBus({ listener: () => {} });
    for (let i = 1; i <= count; i++) {
      await bus.publish({ room: "lobby", from: "ann", cid: `c${i}`, body: "x", id: `id-${i}`, ts: i });
    }
    await bus.joinPresence("lobby", "ann");
    return bus;
  }
  const noHistory = { events: async () => [], readPositions: async () => new Map<string, number>() };

  it("answers a first join with joined at the latest seq and who is present, without a replay", async () => {
    const bus = await busWith(2);
    const answer = await answerJoin(
      { bus, store: noHistory, limits: { maxReplay: 10 } },
      { room: "lobby", user: "ann", since: undefined, first: true },
    );
    expect(answer).toEqual({
      latest: 2,
      joined: { t: "joined", room: "lobby", seq: 2 },
      replay: [],
      reads: [],
      presence: { t: "presence", room: "lobby", joined: ["ann"], count: 1 },
    });
    await bus.close();
  });

  it("asks the Store for the user's read position, and in a DM for both users'", async () => {
    const bus = await busWith(0);
    const asked: string[][] = [];
    const store = {
      events: async () => [],
      readPositions: async (_room: string, users: readonly string[]) => {
        asked.push([...users]);
        return new Map([["ben", 4]]);
      },
    };
    const context = { bus, store, limits: { maxReplay: 10 } };
    await answerJoin(context, { room: "lobby", user: "ann", since: undefined, first: false });
    const dm = await answerJoin(context, { room: "dm:ann:ben", user: "ann", since: undefined, first: false });
    expect(asked).toEqual([["ann"], ["ann", "ben"]]);
    expect(dm.reads).toEqual([{ t: "read", room: "dm:ann:ben", user: "ben", seq: 4 }]);
    await bus.close();
  });

  it("answers a join with since with the replay after it and whether it is complete", async () => {
    const bus = await busWith(3);
    const answer = await answerJoin(
      { bus, store: noHistory, limits: { maxReplay: 10 } },
      { room: "lobby", user: "ann", since: 1, first: true },
    );
    expect(answer.joined).toEqual({ t: "joined", room: "lobby", seq: 3, recovered: true });
    expect(seqs([...answer.replay])).toEqual([2, 3]);
    await bus.close();
  });

  it("answers a repeated join (a client recovering a gap) without presence: it is counted present already", async () => {
    const bus = await busWith(3);
    const answer = await answerJoin(
      { bus, store: noHistory, limits: { maxReplay: 1 } },
      { room: "lobby", user: "ann", since: 0, first: false },
    );
    expect(answer.presence).toBeUndefined();
    expect(answer.joined).toEqual({ t: "joined", room: "lobby", seq: 3, recovered: false });
    expect(seqs([...answer.replay])).toEqual([3]);
    await bus.close();
  });
});

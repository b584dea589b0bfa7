import { describe, expect, it, vi } from "vitest";
import { MicroBatcher } from "./micro-batcher.js";

/** A batcher whose sends wait until the test lets them finish, recording every batch. */
function controlled(options: { maxItems?: number; maxBytes?: number; lingerMs?: number } = {}) {
  const batches: string[][] = [];
  const finish: ((error?: Error) => void)[] = [];
  const batcher = new MicroBatcher<string>({
    maxItems: options.maxItems ?? 100,
    maxBytes: options.maxBytes ?? 1_000,
    sizeOf: (item) => item.length,
    ...(options.lingerMs === undefined ? {} : { lingerMs: options.lingerMs }),
    send: (items) => {
      batches.push(items);
      return new Promise<void>((resolve, reject) => finish.push((error) => (error ? reject(error) : resolve())));
    },
  });
  /** Completes the oldest unfinished send, then lets the batcher start the next one. */
  const complete = async (error?: Error) => {
    finish.shift()?.(error);
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { batcher, batches, complete };
}

describe("MicroBatcher", () => {
  it("sends the first item at once and coalesces the ones added while it is in flight", async () => {
    const { batcher, batches, complete } = controlled();
    const first = batcher.add("a");
    expect(batches).toEqual([["a"]]);
    const rest = ["b", "c", "d"].map((item) => batcher.add(item));
    expect(batches).toHaveLength(1);
    await complete();
    await first;
    expect(batches).toEqual([["a"], ["b", "c", "d"]]);
    await complete();
    await Promise.all(rest);
  });

  it("with a linger, holds the first item that long and sends what joined it in the same batch", async () => {
    vi.useFakeTimers();
    try {
      const { batcher, batches, complete } = controlled({ lingerMs: 5 });
      const added = ["a", "b"].map((item) => batcher.add(item));
      await vi.advanceTimersByTimeAsync(4);
      expect(batches).toEqual([]);
      added.push(batcher.add("c"));
      await vi.advanceTimersByTimeAsync(1);
      expect(batches).toEqual([["a", "b", "c"]]);
      // Items added while a batch is in flight go as soon as it is done: they have waited already.
      added.push(batcher.add("d"));
      vi.useRealTimers();
      await complete();
      expect(batches).toEqual([["a", "b", "c"], ["d"]]);
      await complete();
      await Promise.all(added);
    } finally {
      vi.useRealTimers();
    }
  });

  it("settles each caller with the outcome of its own batch", async () => {
    const { batcher, complete } = controlled();
    const first = batcher.add("a");
    const second = [batcher.add("b"), batcher.add("c")];
    const failure = new Error("broker down");
    const outcomes = Promise.allSettled([first, ...second]);
    await complete();
    await complete(failure);
    expect(await outcomes).toEqual([
      { status: "fulfilled", value: undefined },
      { status: "rejected", reason: failure },
      { status: "rejected", reason: failure },
    ]);
  });

  it("splits batches at maxItems and maxBytes, sending an oversized item alone", async () => {
    const { batcher, batches, complete } = controlled({ maxItems: 2, maxBytes: 5 });
    const all = ["x", "aa", "bb", "cc", "dddddddd", "e", "f", "g"].map((item) => batcher.add(item));
    for (let sends = 0; sends < 6; sends++) await complete();
    await Promise.all(all);
    expect(batches).toEqual([["x"], ["aa", "bb"], ["cc"], ["dddddddd"], ["e", "f"], ["g"]]);
  });

  it("sends an item added from a settled caller's callback", async () => {
    const batches: string[][] = [];
    const batcher = new MicroBatcher<string>({
      maxItems: 10,
      maxBytes: 100,
      sizeOf: (item) => item.length,
      send: async (items) => void batches.push(items),
    });
    let chained: Promise<void> | undefined;
    await batcher.add("first").then(() => {
      chained = batcher.add("chained");
    });
    await chained;
    expect(batches).toEqual([["first"], ["chained"]]);
  });

  it("flush waits until everything added was sent", async () => {
    const { batcher, batches, complete } = controlled();
    void batcher.add("a");
    void batcher.add("b");
    let flushed = false;
    const flushing = batcher.flush().then(() => {
      flushed = true;
    });
    await complete();
    expect(flushed).toBe(false);
    await complete();
    await flushing;
    expect(batches).toEqual([["a"], ["b"]]);
  });
});

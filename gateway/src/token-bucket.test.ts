import { describe, expect, it } from "vitest";
import { takeToken } from "./token-bucket.js";

/** Takes a token at each of `times` from a bucket full at 0, answering which were given. */
function takes(perSecond: number, burst: number, times: number[]): boolean[] {
  let fullAt = 0;
  return times.map((now) => {
    const next = takeToken(fullAt, perSecond, burst, now);
    if (next === undefined) return false;
    fullAt = next;
    return true;
  });
}

describe("takeToken", () => {
  it("allows a burst, then refills at the configured rate", () => {
    expect(takes(10, 3, [0, 0, 0, 0, 50, 100, 100])).toEqual([
      true,
      true,
      true,
      false,
      false, // half a token after 50 ms at 10/s
      true,
      false,
    ]);
  });

  it("never holds more than the burst", () => {
    expect(takes(10, 2, Array(5).fill(60_000)).filter(Boolean)).toHaveLength(2);
  });

  it("a refused take leaves the bucket as it was", () => {
    const fullAt = takeToken(0, 1, 1, 0);
    expect(fullAt).toBe(1000);
    expect(takeToken(fullAt ?? 0, 1, 1, 500)).toBeUndefined();
    expect(takeToken(fullAt ?? 0, 1, 1, 1000)).toBe(2000);
  });
});

import { describe, expect, it } from "vitest";
import { TokenBucket } from "./token-bucket.js";

describe("TokenBucket", () => {
  it("allows a burst, then refills at the configured rate", () => {
    const bucket = new TokenBucket(10, 3, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true, false]);
    expect(bucket.take(50)).toBe(false); // half a token after 50 ms at 10/s
    expect(bucket.take(100)).toBe(true);
    expect(bucket.take(100)).toBe(false);
  });

  it("never holds more than the burst", () => {
    const bucket = new TokenBucket(10, 2, 0);
    const taken = Array.from({ length: 5 }, () => bucket.take(60_000)).filter(Boolean);
    expect(taken).toHaveLength(2);
  });
});

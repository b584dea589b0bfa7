import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Histogram } from "./histogram.js";

const latencies = fc.array(fc.double({ min: 0.01, max: 60_000, noNaN: true }), { minLength: 1, maxLength: 500 });

/** The exact q-quantile by the same rank rule as the histogram: the smallest value with a share ≥ q at or below. */
function exact(values: readonly number[], q: number): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

describe("Histogram", () => {
  it("reads percentiles within 1 % above the exact ones, and the max exactly", () => {
    fc.assert(
      fc.property(latencies, (values) => {
        const histogram = new Histogram();
        for (const value of values) histogram.record(value);
        for (const q of [0.5, 0.95, 0.99]) {
          const truth = exact(values, q);
          expect(histogram.quantile(q)).toBeGreaterThanOrEqual(truth * 0.9999);
          expect(histogram.quantile(q)).toBeLessThanOrEqual(truth * 1.0101);
        }
        expect(histogram.max).toBe(Math.max(...values));
      }),
    );
  });

  it("merges as if every value had been recorded in one", () => {
    fc.assert(
      fc.property(latencies, latencies, (first, second) => {
        const merged = new Histogram();
        const one = new Histogram();
        const other = new Histogram();
        for (const value of first) one.record(value);
        for (const value of second) other.record(value);
        merged.add(one.toData());
        merged.add(other.toData());
        const all = new Histogram();
        for (const value of [...first, ...second]) all.record(value);
        expect(merged.toData()).toEqual(all.toData());
        expect(merged.count).toBe(first.length + second.length);
      }),
    );
  });

  it("puts what lies outside its range into its end buckets", () => {
    const histogram = new Histogram();
    histogram.record(-3);
    histogram.record(120_000);
    expect(histogram.quantile(0.5)).toBeCloseTo(0.0101, 6);
    expect(histogram.max).toBe(120_000);
    expect(new Histogram().quantile(0.5)).toBeNaN();
  });
});

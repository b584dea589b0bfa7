/** The smallest bucket's lower bound, ms: everything below (clock skew between processes included) lands in it. */
const MIN_MS = 0.01;
/** The largest bucket's upper bound, ms: everything above lands in the last bucket. */
const MAX_MS = 60_000;
/** Each bucket is 1 % wider than the one before, so a percentile read from a bucket is off by at most 1 %. */
const GROWTH = 1.01;
const PER_LN = 1 / Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(MAX_MS / MIN_MS) * PER_LN);

/** A histogram as it crosses the IPC channel: bucket counts (only the non-empty ones, as [index, count]) and the max. */
export interface HistogramData {
  readonly buckets: readonly (readonly [number, number])[];
  readonly max: number;
}

/**
 * Latencies in ms, in logarithmic buckets of 1 % relative width from 0.01 ms to 60 s (about 1,600 of them), so that
 * recording one costs a logarithm and an increment, and workers' histograms merge by adding counts.
 */
export class Histogram {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #max = Number.NEGATIVE_INFINITY;

  record(ms: number): void {
    const index = ms > MIN_MS ? Math.min(BUCKETS - 1, Math.floor(Math.log(ms / MIN_MS) * PER_LN)) : 0;
    this.#counts[index] = (this.#counts[index] ?? 0) + 1;
    this.#count++;
    if (ms > this.#max) this.#max = ms;
  }

  get count(): number {
    return this.#count;
  }

  /** The largest value recorded, exactly; NaN when empty. */
  get max(): number {
    return this.#count === 0 ? Number.NaN : this.#max;
  }

  /** The upper bound of the bucket that holds the `q`-quantile (0 < q ≤ 1), capped at the max; NaN when empty. */
  quantile(q: number): number {
    const rank = q * this.#count;
    let seen = 0;
    for (let index = 0; index < BUCKETS; index++) {
      seen += this.#counts[index] ?? 0;
      if (seen >= rank && seen > 0) return Math.min(this.#max, MIN_MS * GROWTH ** (index + 1));
    }
    return Number.NaN;
  }

  toData(): HistogramData {
    const buckets: [number, number][] = [];
    this.#counts.forEach((count, index) => {
      if (count > 0) buckets.push([index, count]);
    });
    return { buckets, max: this.#count === 0 ? 0 : this.#max };
  }

  add(data: HistogramData): void {
    for (const [index, count] of data.buckets) {
      this.#counts[index] = (this.#counts[index] ?? 0) + count;
      this.#count += count;
    }
    if (data.max > this.#max) this.#max = data.max;
  }
}

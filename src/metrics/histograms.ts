/**
 * Prometheus histograms for the hot path: a family of series with one fixed set of bucket
 * bounds, every series allocated up front in typed arrays. Recording an observation is a scan
 * of at most `bounds.length` (about 16) comparisons and three array writes: no allocation, no
 * string, no map, whatever the number of observations so far. Buckets are kept per bucket, not
 * cumulative, and summed only when rendered (a scrape), which is rare next to requests.
 *
 * Invariants: bounds are finite, positive and strictly increasing; a series' count is the sum
 * of its buckets (the last bucket is +Inf).
 */
import { assert } from "../assert.ts";

/** Seconds, from 100 µs to 10 s: local requests take well under a millisecond, fsyncs a few. */
export const secondsBuckets: readonly number[] = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

export class HistogramFamily {
  readonly bounds: Float64Array;
  readonly seriesCount: number;
  /** seriesCount × (bounds + 1) observation counts, the last of each row for +Inf. */
  private readonly buckets: Float64Array;
  private readonly sums: Float64Array;
  private readonly counts: Float64Array;

  constructor(bounds: readonly number[], seriesCount: number) {
    assert(bounds.length >= 1 && bounds.length <= 64, "a histogram has 1 to 64 bucket bounds");
    assert(Number.isInteger(seriesCount) && seriesCount >= 1, "a histogram has a series");
    for (let i = 0; i < bounds.length; i++) {
      const bound = bounds[i]!;
      assert(Number.isFinite(bound) && bound > 0, `bucket bound ${bound} is finite, positive`);
      assert(i === 0 || bound > bounds[i - 1]!, "bucket bounds strictly increase");
    }
    this.bounds = Float64Array.from(bounds);
    this.seriesCount = seriesCount;
    this.buckets = new Float64Array(seriesCount * (bounds.length + 1));
    this.sums = new Float64Array(seriesCount);
    this.counts = new Float64Array(seriesCount);
  }

  /** Records `value` (seconds, or whatever unit the bounds are in) in series `series`. */
  observe(series: number, value: number): void {
    const bounds = this.bounds;
    const n = bounds.length;
    let i = 0;
    // A bucket counts values less than or equal to its bound (Prometheus `le`).
    while (i < n && value > bounds[i]!) i++;
    this.buckets[series * (n + 1) + i]! += 1;
    this.sums[series]! += value;
    this.counts[series]! += 1;
  }

  count(series: number): number {
    return this.counts[series]!;
  }

  sum(series: number): number {
    return this.sums[series]!;
  }

  /** The cumulative count of each bucket (`le` = bounds[i]), then +Inf. */
  cumulative(series: number): number[] {
    const n = this.bounds.length;
    const out: number[] = [];
    let total = 0;
    for (let i = 0; i <= n; i++) {
      total += this.buckets[series * (n + 1) + i]!;
      out.push(total);
    }
    assert(total === this.counts[series], "a series' count is the sum of its buckets");
    return out;
  }
}

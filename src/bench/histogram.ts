/**
 * A latency histogram in the manner of HdrHistogram: values in microseconds go into
 * log-linear buckets (each power of two split into 64 equal steps), so memory is fixed
 * (about 2,000 counters whatever the run's length) and any percentile is reported within
 * 1/64 (1.6%) of the true value. Values under 128 µs are exact. Count, sum, min and max are
 * kept exactly. Histograms of several workers merge by adding counters.
 */
import { assert } from "../assert.ts";

const subBits = 6;
const subCount = 1 << subBits; // 64 steps per power of two
/** Values up to 2^40 µs (12 days) fit; larger ones are clamped to it. */
const valueUsMax = 2 ** 40;
const bucketCount = (40 - subBits + 1) * subCount + subCount;

export type LatencySummary = {
  readonly count: number;
  readonly minMs: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
};

export class LatencyHistogram {
  readonly #counts = new Float64Array(bucketCount);
  #count = 0;
  #sumUs = 0;
  #minUs = Number.POSITIVE_INFINITY;
  #maxUs = 0;

  get count(): number {
    return this.#count;
  }

  /** Records one latency in milliseconds (fractions kept to the microsecond). */
  recordMs(latencyMs: number): void {
    assert(
      Number.isFinite(latencyMs) && latencyMs >= 0,
      `a latency is a non-negative number, got ${latencyMs}`,
    );
    const us = Math.min(valueUsMax, Math.round(latencyMs * 1000));
    this.#counts[bucketOf(us)]! += 1;
    this.#count += 1;
    this.#sumUs += us;
    if (us < this.#minUs) this.#minUs = us;
    if (us > this.#maxUs) this.#maxUs = us;
  }

  merge(other: LatencyHistogram): void {
    for (let i = 0; i < bucketCount; i++) this.#counts[i]! += other.#counts[i]!;
    this.#count += other.#count;
    this.#sumUs += other.#sumUs;
    this.#minUs = Math.min(this.#minUs, other.#minUs);
    this.#maxUs = Math.max(this.#maxUs, other.#maxUs);
  }

  /**
   * The value at `quantile` (0..1]: the upper edge of the bucket holding the rank, never
   * above the exact maximum. 0 for an empty histogram.
   */
  quantileMs(quantile: number): number {
    assert(quantile > 0 && quantile <= 1, `a quantile is in (0, 1], got ${quantile}`);
    if (this.#count === 0) return 0;
    const rank = Math.ceil(quantile * this.#count);
    let seen = 0;
    for (let i = 0; i < bucketCount; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(bucketHighUs(i), this.#maxUs) / 1000;
    }
    return this.#maxUs / 1000;
  }

  summary(): LatencySummary {
    const empty = this.#count === 0;
    return {
      count: this.#count,
      minMs: empty ? 0 : this.#minUs / 1000,
      meanMs: empty ? 0 : this.#sumUs / this.#count / 1000,
      p50Ms: this.quantileMs(0.5),
      p90Ms: this.quantileMs(0.9),
      p99Ms: this.quantileMs(0.99),
      p999Ms: this.quantileMs(0.999),
      maxMs: this.#maxUs / 1000,
    };
  }
}

/** Values under 2·64 are their own bucket; above, 64 steps per power of two. */
export function bucketOf(us: number): number {
  if (us < 2 * subCount) return us;
  const shift = Math.floor(Math.log2(us)) - subBits;
  // Math.log2 may round at exact powers of two; correct by one step either way.
  const s = (us >>> 0) === us ? exactShift(us, shift) : shift;
  const index = (s + 1) * subCount + (Math.floor(us / 2 ** s) - subCount);
  assert(index >= 0 && index < bucketCount, `bucket ${index} out of range for ${us} µs`);
  return index;
}

function exactShift(us: number, shift: number): number {
  if (us >>> shift >= 2 * subCount) return shift + 1;
  if (us >>> shift < subCount) return shift - 1;
  return shift;
}

/** The largest value that falls in bucket `index`. */
export function bucketHighUs(index: number): number {
  if (index < 2 * subCount) return index;
  const shift = Math.floor(index / subCount) - 1;
  const sub = (index % subCount) + subCount;
  return (sub + 1) * 2 ** shift - 1;
}

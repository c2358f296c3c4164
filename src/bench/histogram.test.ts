import { expect, test } from "bun:test";
import { bucketHighUs, bucketOf, LatencyHistogram } from "./histogram.ts";

test("every value falls in a bucket whose range holds it, within 1/64 of its width", () => {
  const values = [
    0,
    1,
    127,
    128,
    129,
    255,
    256,
    257,
    1000,
    4095,
    4096,
    65_535,
    1_000_000,
    2 ** 31,
    2 ** 33 + 5,
  ];
  for (let v = 0; v < 20_000; v += 7) values.push(v);
  for (const us of values) {
    const index = bucketOf(us);
    expect(bucketHighUs(index)).toBeGreaterThanOrEqual(us);
    const low = index === 0 ? 0 : bucketHighUs(index - 1) + 1;
    expect(low).toBeLessThanOrEqual(us);
    expect(bucketHighUs(index) - low).toBeLessThanOrEqual(Math.max(0, us / 64));
  }
});

test("buckets are contiguous and ordered", () => {
  for (let index = 1; index < 2000; index++) {
    expect(bucketHighUs(index)).toBeGreaterThan(bucketHighUs(index - 1));
    expect(bucketOf(bucketHighUs(index))).toBe(index);
    expect(bucketOf(bucketHighUs(index - 1) + 1)).toBe(index);
  }
});

test("percentiles of a known distribution are within 2% of the sorted samples", () => {
  const histogram = new LatencyHistogram();
  const samples: number[] = [];
  let seed = 12345;
  for (let i = 0; i < 50_000; i++) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    const ms = Math.round(((seed / 2 ** 31) ** 3) * 200_000) / 1000;
    samples.push(ms);
    histogram.recordMs(ms);
  }
  samples.sort((a, b) => a - b);
  for (const q of [0.5, 0.9, 0.99, 0.999]) {
    const exact = samples[Math.ceil(q * samples.length) - 1]!;
    const estimate = histogram.quantileMs(q);
    expect(estimate).toBeGreaterThanOrEqual(exact);
    expect(estimate).toBeLessThanOrEqual(exact * 1.02 + 0.001);
  }
  const summary = histogram.summary();
  expect(summary.count).toBe(50_000);
  expect(summary.maxMs).toBe(samples.at(-1)!);
  expect(summary.minMs).toBe(samples[0]!);
  expect(summary.meanMs).toBeCloseTo(samples.reduce((a, b) => a + b, 0) / samples.length, 2);
});

test("merging two histograms equals recording everything in one", () => {
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  const all = new LatencyHistogram();
  for (let i = 0; i < 1000; i++) {
    const ms = (i * 37) % 500 / 10;
    (i % 3 === 0 ? a : b).recordMs(ms);
    all.recordMs(ms);
  }
  a.merge(b);
  expect(a.summary()).toEqual(all.summary());
});

test("an empty histogram reports zeros, and a negative latency is a bug", () => {
  expect(new LatencyHistogram().summary()).toEqual({
    count: 0,
    minMs: 0,
    meanMs: 0,
    p50Ms: 0,
    p90Ms: 0,
    p99Ms: 0,
    p999Ms: 0,
    maxMs: 0,
  });
  expect(() => new LatencyHistogram().recordMs(-1)).toThrow(/non-negative/);
});

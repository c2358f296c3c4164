import { expect, test } from "bun:test";
import { HistogramFamily } from "./histograms.ts";

test("an observation lands in the first bucket whose bound it does not exceed", () => {
  const h = new HistogramFamily([0.001, 0.01, 0.1], 2);
  for (const value of [0.0005, 0.001, 0.002, 0.1, 5]) h.observe(1, value);
  expect(h.cumulative(1)).toEqual([2, 3, 4, 5]);
  expect(h.count(1)).toBe(5);
  expect(h.sum(1)).toBeCloseTo(5.1035, 10);
  // The other series is untouched.
  expect(h.cumulative(0)).toEqual([0, 0, 0, 0]);
  expect(h.count(0)).toBe(0);
});

test("bounds must be positive and strictly increasing", () => {
  expect(() => new HistogramFamily([0.1, 0.1], 1)).toThrow("bucket bounds strictly increase");
  expect(() => new HistogramFamily([0, 1], 1)).toThrow("is finite, positive");
  expect(() => new HistogramFamily([], 1)).toThrow("1 to 64 bucket bounds");
});

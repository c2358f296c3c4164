/**
 * The dashboard's request statistics (browser JavaScript, request-stats-script.ts), run here
 * as the page runs them: the script's text evaluated, its functions called on real-shaped
 * /metrics text.
 */
import { expect, test } from "bun:test";
import { PrometheusText } from "../../metrics/text-format.ts";
import { requestStatsScript } from "./request-stats-script.ts";

type Totals = { count: number; buckets: { le: number; count: number }[] };
type Stats = {
  parseMetrics(text: string): Map<string, { labels: Record<string, string>; value: number }[]>;
  requestTotals(byName: unknown): Totals;
  requestPoint(before: Totals, after: Totals, elapsedSeconds: number): {
    rate: number;
    p50: number | null;
    p99: number | null;
  } | null;
  quantile(q: number, buckets: { le: number; count: number }[]): number | null;
  buildVersion(byName: unknown): string;
};

const stats = new Function(
  `${requestStatsScript}\nreturn { parseMetrics, requestTotals, requestPoint, quantile, buildVersion };`,
)() as Stats;

/** A /metrics text with the request histogram in two series, as a node writes it. */
function metricsText(series: { outcome: string; buckets: number[]; count: number }[]): string {
  const bounds = ["0.001", "0.01", "0.1", "+Inf"];
  const lines = ["# TYPE kahuna_request_duration_seconds histogram"];
  for (const { outcome, buckets, count } of series) {
    const labels = `op="tryLock",durability="persistent",outcome="${outcome}"`;
    buckets.forEach((value, i) => {
      lines.push(`kahuna_request_duration_seconds_bucket{${labels},le="${bounds[i]}"} ${value}`);
    });
    lines.push(`kahuna_request_duration_seconds_sum{${labels}} 0.5`);
    lines.push(`kahuna_request_duration_seconds_count{${labels}} ${count}`);
  }
  lines.push('kahuna_build_info{version="1.2.3",revision="abc",runtime="bun"} 1');
  return lines.join("\n") + "\n";
}

test("the request histogram is summed over its series, buckets in order of their bounds", () => {
  const byName = stats.parseMetrics(metricsText([
    { outcome: "Locked", buckets: [1, 5, 9, 10], count: 10 },
    { outcome: "Busy", buckets: [2, 2, 3, 4], count: 4 },
  ]));
  expect(stats.requestTotals(byName)).toEqual({
    count: 14,
    buckets: [
      { le: 0.001, count: 3 },
      { le: 0.01, count: 7 },
      { le: 0.1, count: 12 },
      { le: Infinity, count: 14 },
    ],
  });
  expect(stats.buildVersion(byName)).toBe("1.2.3");
});

test("the rate and percentiles are those of the requests between two scrapes", () => {
  const before = stats.requestTotals(stats.parseMetrics(metricsText([
    { outcome: "Locked", buckets: [0, 0, 0, 0], count: 0 },
  ])));
  const after = stats.requestTotals(stats.parseMetrics(metricsText([
    { outcome: "Locked", buckets: [50, 100, 100, 100], count: 100 },
  ])));
  const point = stats.requestPoint(before, after, 2)!;
  expect(point.rate).toBe(50);
  // Half the requests are in the first bucket: the median is its upper bound.
  expect(point.p50).toBeCloseTo(0.001, 9);
  // The 99th is the 99th of 100, in the second bucket (0.001 to 0.01), 49 of its 50 in.
  expect(point.p99).toBeCloseTo(0.001 + 0.009 * (49 / 50), 9);
  expect(stats.requestPoint(after, after, 1)).toEqual({ rate: 0, p50: null, p99: null });
});

test("a counter that went down (a restart) gives no point, nor does no time", () => {
  const low = { count: 1, buckets: [{ le: Infinity, count: 1 }] };
  const high = { count: 5, buckets: [{ le: Infinity, count: 5 }] };
  expect(stats.requestPoint(high, low, 1)).toBeNull();
  expect(stats.requestPoint(low, high, 0)).toBeNull();
});

test("a rank in the +Inf bucket is the highest finite bound, as histogram_quantile says", () => {
  const buckets = [{ le: 0.1, count: 1 }, { le: Infinity, count: 10 }];
  expect(stats.quantile(0.99, buckets)).toBe(0.1);
  expect(stats.quantile(0.5, [])).toBeNull();
});

test("the real metrics writer's text parses, escaped label values included", () => {
  const out = new PrometheusText();
  out.family("kahuna_build_info", "gauge", "Build.").sample(1, { version: 'a"b\\c' });
  const byName = stats.parseMetrics(out.text());
  expect(stats.buildVersion(byName)).toBe('a"b\\c');
});

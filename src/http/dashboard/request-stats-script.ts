/**
 * The dashboard's request statistics, as browser JavaScript: the page (dashboard-page.ts)
 * inlines this text, so it is bundled into the executable with no asset file, no build step
 * and no library, and runs the same under Bun, Deno and the compiled binary.
 *
 * Pure functions of two scrapes of GET /metrics: the request rate and the latency percentiles
 * over the time between them, from the differences of the `kahuna_request_duration_seconds`
 * histogram summed over every op, durability and outcome (what Prometheus's `rate` and
 * `histogram_quantile` compute). A counter that went down (the node restarted) gives no point.
 *
 * It is JavaScript, not TypeScript: no type checker sees it, so request-stats-script.test.ts runs
 * every function here, and test/e2e/ui.test.ts runs the page in Chromium. Written with
 * String.raw so that backslashes reach the browser as written; it must not contain a backtick,
 * a dollar sign followed by a brace, or a character beyond ASCII (dashboard-script.ts says why).
 */
export const requestStatsScript = String.raw`
"use strict";

const requestHistogram = "kahuna_request_duration_seconds";

/** Every sample of Prometheus text 0.0.4, grouped by metric name: name -> [{ labels, value }]. */
function parseMetrics(text) {
  const byName = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (match === null) continue;
    const samples = byName.get(match[1]) || [];
    samples.push({ labels: parseLabels(match[2] || ""), value: parseValue(match[3]) });
    byName.set(match[1], samples);
  }
  return byName;
}

function parseLabels(text) {
  const labels = {};
  const pattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const match of text.matchAll(pattern)) {
    labels[match[1]] = match[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
  }
  return labels;
}

function parseValue(text) {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text);
}

/**
 * The request histogram summed over all its series: the count, and the cumulative bucket
 * counts in order of their bounds (the last one +Inf).
 */
function requestTotals(byName) {
  const counts = new Map();
  for (const sample of byName.get(requestHistogram + "_bucket") || []) {
    const le = sample.labels.le;
    counts.set(le, (counts.get(le) || 0) + sample.value);
  }
  const buckets = [...counts].map(([le, count]) => ({ le: parseValue(le), count }));
  buckets.sort((a, b) => a.le - b.le);
  let count = 0;
  for (const sample of byName.get(requestHistogram + "_count") || []) count += sample.value;
  return { count, buckets };
}

/**
 * The requests between two totals taken elapsedSeconds apart: { rate, p50, p99 }, rate per
 * second and percentiles in seconds (null without requests). Null when a count went down.
 */
function requestPoint(before, after, elapsedSeconds) {
  if (!(elapsedSeconds > 0) || after.count < before.count) return null;
  const earlier = new Map(before.buckets.map((bucket) => [bucket.le, bucket.count]));
  const buckets = [];
  for (const bucket of after.buckets) {
    const count = bucket.count - (earlier.get(bucket.le) || 0);
    if (count < 0) return null;
    buckets.push({ le: bucket.le, count });
  }
  return {
    rate: (after.count - before.count) / elapsedSeconds,
    p50: quantile(0.5, buckets),
    p99: quantile(0.99, buckets),
  };
}

/**
 * Prometheus's histogram_quantile: the bucket holding the rank, interpolated linearly inside
 * it (the first bucket starts at 0); a rank in the +Inf bucket is the highest finite bound.
 */
function quantile(q, buckets) {
  const last = buckets[buckets.length - 1];
  if (last === undefined || last.count === 0) return null;
  const rank = q * last.count;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank && bucket.count > lowerCount) {
      if (bucket.le === Infinity) return lowerLe;
      return lowerLe + (bucket.le - lowerLe) * (rank - lowerCount) / (bucket.count - lowerCount);
    }
    if (bucket.le !== Infinity) lowerLe = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerLe;
}

/** The version kahuna_build_info names, or "". */
function buildVersion(byName) {
  const info = (byName.get("kahuna_build_info") || [])[0];
  return info === undefined ? "" : info.labels.version || "";
}
`;

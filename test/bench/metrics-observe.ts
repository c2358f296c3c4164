/**
 * What recording one request costs on the hot path: kahuna's own histograms (HostMetrics,
 * typed arrays, series chosen by index) against prom-client's Histogram (labels as an object
 * per call, or a child bound to its labels once), and what one scrape costs to render.
 * Usage: bun test/bench/metrics-observe.ts [--iterations 2000000]
 *
 * Each contender records the same observations (op, durability and outcome varying as in a
 * mixed workload, durations spread over the buckets); the time per observation is the best of
 * five runs after a warm-up run.
 */
import { parseArgs } from "node:util";
import client from "prom-client";
import { HostMetrics } from "../../src/host/metrics.ts";
import { Durability, type LockRequest, type LockResponse } from "../../src/locks/types.ts";
import { PrometheusText } from "../../src/metrics/text-format.ts";

const { values } = parseArgs({ options: { iterations: { type: "string", default: "2000000" } } });
const iterations = Number(values.iterations);
if (!Number.isInteger(iterations) || iterations < 1000) {
  throw new Error(`--iterations must be an integer of at least 1000, got ${values.iterations}`);
}

const requests: LockRequest[] = [
  { op: "tryLock", resource: "r", owner: "o", expiresMs: 1000, durability: Durability.Persistent },
  { op: "get", resource: "r", durability: Durability.Persistent },
  { op: "unlock", resource: "r", owner: "o", durability: Durability.Ephemeral },
  { op: "extend", resource: "r", owner: "o", expiresMs: 1000, durability: Durability.Ephemeral },
];
const responses: LockResponse[] = [
  { type: 0, fencingToken: 1 },
  { type: 4, fencingToken: 1, owner: "o", expiresMs: 5 },
  { type: 3, fencingToken: 1 },
  { type: 101, fencingToken: 0 },
];
const durations = Float64Array.from({ length: 1024 }, (_, i) => 0.00005 * 1.01 ** i);
const labelSets = requests.map((request, i) => ({
  op: request.op,
  durability: request.durability === Durability.Persistent ? "persistent" : "ephemeral",
  outcome: String(responses[i]!.type),
}));

type Contender = { name: string; record: (i: number) => void; render: () => string };

const own = new HostMetrics("1", ["1", "2", "3"], 16);
const registry = new client.Registry();
const histogram = new client.Histogram({
  name: "kahuna_request_duration_seconds",
  help: "requests",
  labelNames: ["op", "durability", "outcome"],
  buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  registers: [registry],
});
const children = labelSets.map((labels) => histogram.labels(labels));

const contenders: Contender[] = [
  {
    name: "kahuna HostMetrics.answered",
    record: (i) => own.answered(requests[i & 3]!, responses[i & 3]!, durations[i & 1023]!),
    render: () => {
      const out = new PrometheusText();
      own.write(out);
      return out.text();
    },
  },
  {
    name: "prom-client observe(labels, v)",
    record: (i) => histogram.observe(labelSets[i & 3]!, durations[i & 1023]!),
    render: () => "",
  },
  {
    name: "prom-client child.observe(v)",
    record: (i) => children[i & 3]!.observe(durations[i & 1023]!),
    render: () => "",
  },
];

function run(contender: Contender): number {
  const started = performance.now();
  for (let i = 0; i < iterations; i++) contender.record(i);
  return (performance.now() - started) * 1e6 / iterations;
}

for (const contender of contenders) {
  run(contender); // warm up: let the JIT compile it
  const times = [0, 1, 2, 3, 4].map(() => run(contender));
  console.log(
    `${contender.name.padEnd(32)} ${Math.min(...times).toFixed(1).padStart(7)} ns/observation`,
  );
}
const renderStarted = performance.now();
const text = contenders[0]!.render();
const ownRenderMs = performance.now() - renderStarted;
const promStarted = performance.now();
const promText = await registry.metrics();
const promRenderMs = performance.now() - promStarted;
console.log(
  `render: kahuna ${ownRenderMs.toFixed(2)} ms (${text.length} bytes), ` +
    `prom-client ${promRenderMs.toFixed(2)} ms (${promText.length} bytes, one family)`,
);

/**
 * Hand-off from one holder to the next on a 3-node cluster: `kahuna bench queue` (TryLocks wait
 * in the server's line) beside `queue-poll` (a Busy TryLock is tried again every 100 ms, as
 * clients had to before) and `semaphore` (the same line, for one of `--limit` shared places of
 * each lock), persistent and ephemeral, over the binary protocol. Rounds alternate the workloads
 * so all see the same machine; the summary gives the median of the rounds.
 *
 *   bun test/bench/queue.ts [--rounds 3] [--duration 5s] [--concurrency 16] [--keyspace 4]
 *                           [--limit 2]
 *
 * Not a test: it prints figures for docs/performance.md.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runBench } from "../../src/bench/runner.ts";
import type { BenchResult, WorkloadName } from "../../src/bench/runner.ts";
import { binaryTarget } from "../../src/bench/target.ts";
import { Durability } from "../../src/locks/types.ts";
import { startKahunaCluster } from "./kahuna-cluster.ts";
import { parseDurationMs } from "../../src/cli/duration.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "5s" },
    concurrency: { type: "string", default: "16" },
    keyspace: { type: "string", default: "4" },
    limit: { type: "string", default: "2" },
  },
});
const limit = Number(values.limit);
const rounds = Number(values.rounds);
const durationMs = parseDurationMs("--duration", values.duration!);
if (typeof durationMs === "string") throw new Error(durationMs);
const concurrency = Number(values.concurrency);
const keyspace = Number(values.keyspace);

const root = mkdtempSync(join(tmpdir(), "kahuna-queue-bench-"));
const cluster = await startKahunaCluster({ root, partitions: 16 });
type Row = { handoffP50: number; handoffP99: number; cyclesPerSec: number; busy: number };
const rows = new Map<string, Row[]>();
try {
  const target = await binaryTarget(cluster.nodes.map((n) => n.binary), {
    connections: 2,
    timeoutMs: 10_000,
  });
  for (let round = 1; round <= rounds; round++) {
    for (const durability of [Durability.Persistent, Durability.Ephemeral]) {
      for (const workload of ["queue", "queue-poll", "semaphore"] as WorkloadName[]) {
        const result: BenchResult = await runBench(target, {
          workload,
          durability,
          concurrency,
          durationMs,
          warmupMs: 1_000,
          keyspace,
          leaseMs: 10_000,
          ...(workload === "semaphore" ? { limit } : {}),
        });
        const name = workload === "semaphore"
          ? `semaphore of ${limit}, ${result.durability}`
          : `${workload}, ${result.durability}`;
        const row = {
          handoffP50: result.handoff!.p50Ms,
          handoffP99: result.handoff!.p99Ms,
          cyclesPerSec: result.cyclesPerSec,
          busy: result.outcomes["busy"] ?? 0,
        };
        rows.set(name, [...(rows.get(name) ?? []), row]);
        console.error(
          `round ${round}: ${name}: hand-off p50 ${row.handoffP50.toFixed(2)} ms, p99 ` +
            `${row.handoffP99.toFixed(2)} ms, ${row.cyclesPerSec} grants/s, ${row.busy} busy, ` +
            `${result.errors} errors`,
        );
      }
    }
  }
  await target.close();
} finally {
  await cluster.stop();
  rmSync(root, { recursive: true, force: true });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `| ${concurrency} clients, ${keyspace} locks, 3 nodes | hand-off p50 | hand-off p99 | grants/s | Busy answers |`,
);
console.log("|---|---:|---:|---:|---:|");
for (const [name, list] of rows) {
  console.log(
    `| ${name} | ${median(list.map((r) => r.handoffP50)).toFixed(2)} ms | ` +
      `${median(list.map((r) => r.handoffP99)).toFixed(2)} ms | ` +
      `${median(list.map((r) => r.cyclesPerSec))} | ${median(list.map((r) => r.busy))} |`,
  );
}

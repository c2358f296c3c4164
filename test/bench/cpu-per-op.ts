/**
 * Where a benchmark's CPU goes, in CPU time per op: starts a settled 3-node cluster, runs
 * one `kahuna bench` workload against it (binary protocol, each request to its partition's
 * leader) and reads each process's user and system CPU from /proc before and after, with
 * each node's rate of fsyncs, peer frames, Raft messages and entries from /metrics, and how
 * long each node's event loop stood still in its log writes (append and fdatasync).
 *
 *   bun test/bench/cpu-per-op.ts [--durability persistent|ephemeral] [--concurrency 64]
 *        [--duration 10s] [--rounds 1]
 *
 * On a machine whose cores are all busy, ops/s is CPU per op turned upside down, and CPU per
 * op varies less from run to run than ops/s does. Linux only (/proc). Not a test; every
 * process it starts is stopped at the end.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseDurationMs } from "../../src/cli/duration.ts";
import { runBench } from "../../src/bench/runner.ts";
import { binaryTarget } from "../../src/bench/target.ts";
import { Durability } from "../../src/locks/types.ts";
import { startKahunaCluster } from "./kahuna-cluster.ts";
import { cpuSeconds } from "./proc-cpu.ts";

const { values } = parseArgs({
  options: {
    durability: { type: "string", default: "persistent" },
    concurrency: { type: "string", default: "64" },
    duration: { type: "string", default: "10s" },
    rounds: { type: "string", default: "1" },
  },
});

const counters = [
  "kahuna_storage_fsync_duration_seconds_count",
  "kahuna_peer_frames_sent_total",
  "kahuna_raft_messages_sent_total",
  "kahuna_entries_persisted_total",
  "kahuna_storage_fsync_duration_seconds_sum",
] as const;

async function metrics(url: string): Promise<number[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  // A counter with labels (per peer) is summed over them.
  return counters.map((name) =>
    [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, "gm"))]
      .reduce((sum, match) => sum + Number(match[1]), 0)
  );
}

async function main(): Promise<void> {
  const durability = values.durability === "ephemeral"
    ? Durability.Ephemeral
    : Durability.Persistent;
  const durationMs = parseDurationMs("--duration", values.duration);
  if (typeof durationMs === "string") throw new Error(durationMs);
  const root = mkdtempSync(join(tmpdir(), "kahuna-cpu-"));
  const cluster = await startKahunaCluster({ root });
  try {
    const target = await binaryTarget(cluster.nodes.map((n) => n.binary), {
      connections: 2,
      timeoutMs: 10_000,
    });
    for (let round = 1; round <= Number(values.rounds); round++) {
      const pids = cluster.nodes.map((n) => n.process.pid);
      const metricsBefore = await Promise.all(cluster.nodes.map((n) => metrics(n.url)));
      const nodesBefore = pids.map(cpuSeconds);
      const benchBefore = process.cpuUsage();
      const started = performance.now();
      const result = await runBench(target, {
        workload: "lock-unlock",
        durability,
        concurrency: Number(values.concurrency),
        durationMs,
        warmupMs: 1_000,
        keyspace: 10_000,
        leaseMs: 10_000,
      });
      const wallS = (performance.now() - started) / 1000;
      const bench = process.cpuUsage(benchBefore);
      const nodes = pids.map(cpuSeconds).map((after, i) => ({
        user: after.user - nodesBefore[i]!.user,
        system: after.system - nodesBefore[i]!.system,
      }));
      const metricsAfter = await Promise.all(cluster.nodes.map((n) => metrics(n.url)));
      // The CPU counters cover the warm-up too: divide by every op of the run, estimated
      // from the measured rate over the whole time.
      const ops = result.opsPerSec * wallS;
      const perOpUs = (seconds: number) => (seconds / ops * 1e6).toFixed(1);
      const nodesTotal = nodes.reduce((sum, n) => sum + n.user + n.system, 0);
      console.log(
        `round ${round}: ${result.opsPerSec.toFixed(0)} ops/s, p50 ${result.latency.p50Ms} ms, ` +
          `p99 ${result.latency.p99Ms} ms, ${result.errors} errors, ${wallS.toFixed(1)} s`,
      );
      console.log(
        `  CPU per op: nodes ${perOpUs(nodesTotal)} us (` +
          nodes.map((n, i) => `node ${i + 1} user ${perOpUs(n.user)} + sys ${perOpUs(n.system)}`)
            .join(", ") +
          `), bench client ${perOpUs((bench.user + bench.system) / 1e6)} us`,
      );
      console.log(
        `  busy: nodes ${
          nodes.map((n) => `${((n.user + n.system) / wallS * 100).toFixed(0)}%`)
            .join(" ")
        }, client ${((bench.user + bench.system) / 1e6 / wallS * 100).toFixed(0)}%`,
      );
      const rates = metricsAfter.map((after, i) =>
        after.map((v, k) => (v - metricsBefore[i]![k]!) / wallS)
      );
      const counted = counters.slice(0, 4);
      console.log(
        `  per node per second (${counted.map((c) => c.slice(7, -6)).join(", ")}): ` +
          rates.map((r) => r.slice(0, 4).map((v) => v.toFixed(0)).join("/")).join("  "),
      );
      console.log(
        "  log writes (append + fdatasync, the loop stands still): " +
          rates.map((r, i) =>
            `node ${i + 1} mean ${(r[4]! / Math.max(r[0]!, 1e-9) * 1000).toFixed(3)} ms, ` +
            `${(r[4]! * 100).toFixed(0)}% of the time`
          ).join(", "),
      );
    }
    await target.close();
  } finally {
    await cluster.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.main) await main();

/**
 * Where a kahuna node spends its CPU under load: starts a 3-node cluster with Bun's CPU
 * profiler on every node, runs one benchmark against it, stops the nodes (the profiles are
 * written on exit) and prints each node's top frames by self time and by total time.
 *
 *   bun test/bench/profile-cluster.ts [--durability persistent|ephemeral] [--protocol binary|rest]
 *        [--concurrency 64] [--duration 10s] [--top 25] [--dir /tmp/kahuna-prof]
 *
 * Not a test. Every process it starts is stopped at the end.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { parseDurationMs } from "../../src/cli/duration.ts";
import { summaryText } from "../../src/bench/report.ts";
import { runBench } from "../../src/bench/runner.ts";
import { binaryTarget, restTarget } from "../../src/bench/target.ts";
import { Durability } from "../../src/locks/types.ts";
import { repoRoot } from "../helpers/server.ts";
import { startKahunaCluster } from "./kahuna-cluster.ts";

const { values } = parseArgs({
  options: {
    durability: { type: "string", default: "persistent" },
    protocol: { type: "string", default: "binary" },
    concurrency: { type: "string", default: "64" },
    duration: { type: "string", default: "10s" },
    partitions: { type: "string", default: "16" },
    top: { type: "string", default: "25" },
    dir: { type: "string" },
  },
});

type CallFrame = { functionName: string; url: string; lineNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] };
type Profile = { nodes: ProfileNode[]; samples: number[] };

/** Self and total sample counts per function, and the total. */
export function summarizeProfile(profile: Profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const selfHits = new Map<number, number>();
  for (const id of profile.samples) selfHits.set(id, (selfHits.get(id) ?? 0) + 1);
  const name = (frame: CallFrame) => {
    const url = frame.url.startsWith("/") ? relative(repoRoot, frame.url) : frame.url;
    return `${frame.functionName || "(anonymous)"} ${url}${url ? `:${frame.lineNumber + 1}` : ""}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  for (const [id, hits] of selfHits) {
    const node = byId.get(id);
    if (node === undefined) continue;
    self.set(name(node.callFrame), (self.get(name(node.callFrame)) ?? 0) + hits);
    // Each function on the stack gets the sample once, however often it recurs.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = name(byId.get(at)!.callFrame);
      if (seen.has(frame)) continue;
      seen.add(frame);
      total.set(frame, (total.get(frame) ?? 0) + hits);
    }
  }
  return { samples: profile.samples.length, self, total };
}

/** Counters from /metrics, and how many partitions this node leads and the sum of their terms. */
async function nodeState(httpPort: number) {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const metrics = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^(kahuna_[a-z_]+) (\d+(?:\.\d+)?)$/.exec(line);
    if (match !== null) metrics.set(match[1]!, Number(match[2]));
  }
  const cluster = await (await fetch(`http://127.0.0.1:${httpPort}/v1/cluster`)).json() as {
    partitions: { role?: string; term: number }[];
  };
  const led = cluster.partitions.filter((p) => p.role === "leader").length;
  const terms = cluster.partitions.reduce((sum, p) => sum + p.term, 0);
  return { metrics, led, terms };
}

function top(map: Map<string, number>, samples: number, count: number): string[] {
  return [...map].sort((a, b) => b[1] - a[1]).slice(0, count)
    .map(([frame, hits]) => `${(100 * hits / samples).toFixed(1).padStart(5)}%  ${frame}`);
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "kahuna-prof-"));
  const profDir = values.dir ?? join(root, "profiles");
  mkdirSync(profDir, { recursive: true });
  const cluster = await startKahunaCluster({
    root,
    partitions: Number(values.partitions),
    cpuProfDir: profDir,
  });
  const nodes = cluster.nodes.map((n) => ({ ...n, http: Number(new URL(n.url).port) }));
  try {
    const before = await Promise.all(nodes.map((n) => nodeState(n.http)));
    const target = values.protocol === "rest"
      ? restTarget(nodes.map((n) => `http://127.0.0.1:${n.http}`), 10_000)
      : await binaryTarget(nodes.map((n) => n.binary), { connections: 2, timeoutMs: 10_000 });
    const result = await runBench(target, {
      workload: "lock-unlock",
      durability: values.durability === "ephemeral" ? Durability.Ephemeral : Durability.Persistent,
      concurrency: Number(values.concurrency),
      durationMs: parseDurationMs("--duration", values.duration!) as number,
      warmupMs: 1_000,
      keyspace: 10_000,
      leaseMs: 10_000,
    });
    await target.close();
    const after = await Promise.all(nodes.map((n) => nodeState(n.http)));
    console.log(summaryText(result));
    console.log("\nper node during the run (warm-up included):");
    nodes.forEach((n, i) => {
      const delta = (name: string) =>
        (after[i]!.metrics.get(name) ?? 0) - (before[i]!.metrics.get(name) ?? 0);
      console.log(
        `  node ${n.id}: storage commits (each fsynced: synchronous=FULL) ${
          delta("kahuna_storage_writes_total")
        }, ` +
          `of which Raft required a sync ${
            delta("kahuna_storage_fsync_duration_seconds_count")
          }; entries persisted ` +
          `${delta("kahuna_entries_persisted_total")}; requests forwarded ${
            delta("kahuna_requests_forwarded_total")
          }; ` +
          `partitions led before/after ${before[i]!.led}/${after[i]!.led}; term sum before/after ` +
          `${before[i]!.terms}/${after[i]!.terms}`,
      );
    });
  } finally {
    await cluster.stop();
  }
  const count = Number(values.top);
  for (const file of readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile")).sort()) {
    const summary = summarizeProfile(
      JSON.parse(readFileSync(join(profDir, file), "utf8")) as Profile,
    );
    console.log(`\n${file}: ${summary.samples} samples`);
    console.log("  by self time:");
    for (const line of top(summary.self, summary.samples, count)) console.log(`  ${line}`);
    console.log("  by total time (the function and what it calls):");
    for (const line of top(summary.total, summary.samples, count)) console.log(`  ${line}`);
  }
  rmSync(root, { recursive: true, force: true });
}

if (import.meta.main) await main();

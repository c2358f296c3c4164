/**
 * Scale measurements on a 3-node cluster (issue 6 item 5). Not a test; every process it
 * starts is stopped at the end.
 *
 *   bun test/bench/scale.ts partitions [--duration 10s] [--list 1,4,16,64]
 *     persistent and ephemeral lock-unlock throughput (64 binary clients) per partition count
 *   bun test/bench/scale.ts locks [--locks 1000000] [--partitions 16]
 *     fills the cluster with held persistent locks, then reports memory per node (RSS, and the
 *     JavaScript heap in use per held lock), log segment and snapshot file sizes, the catch-up
 *     time of a node restarted after missing writes, the time a full-cluster restart takes until
 *     every partition answers again, and the time a follower whose data directory was wiped
 *     takes until it is re-seeded and holds everything its leaders committed
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseDurationMs } from "../../src/cli/duration.ts";
import { runBench } from "../../src/bench/runner.ts";
import { binaryTarget } from "../../src/bench/target.ts";
import { BinaryConnection } from "../../src/client/binary-connection.ts";
import { Durability, ResponseType } from "../../src/locks/types.ts";
import { type BenchCluster, startKahunaCluster, waitHealthy } from "./kahuna-cluster.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: "string", default: "10s" },
    list: { type: "string", default: "1,4,16,64" },
    locks: { type: "string", default: "1000000" },
    partitions: { type: "string", default: "16" },
    inflight: { type: "string", default: "512" },
  },
});

const root = mkdtempSync(join(tmpdir(), "kahuna-scale-"));
let cluster: BenchCluster | undefined;

async function partitionSweep(): Promise<void> {
  const durationMs = parseDurationMs("--duration", values.duration!) as number;
  console.log(
    "| partitions | persistent cycles/s | p50 ms | p99 ms | ephemeral cycles/s | p50 ms | p99 ms |",
  );
  console.log("|---:|---:|---:|---:|---:|---:|---:|");
  for (const partitions of values.list!.split(",").map(Number)) {
    cluster = await startKahunaCluster({ root: join(root, `p${partitions}`), partitions });
    const target = await binaryTarget(cluster.nodes.map((n) => n.binary), {
      connections: 2,
      timeoutMs: 10_000,
    });
    const cells: string[] = [];
    for (const durability of [Durability.Persistent, Durability.Ephemeral]) {
      const result = await runBench(target, {
        workload: "lock-unlock",
        durability,
        concurrency: 64,
        durationMs,
        warmupMs: 1_000,
        keyspace: 10_000,
        leaseMs: 10_000,
      });
      cells.push(
        String(result.cyclesPerSec),
        result.latency.p50Ms.toFixed(2),
        result.latency.p99Ms.toFixed(2),
      );
      if (result.errors > 0) {
        console.error(
          `  ${partitions} partitions: ${result.errors} errors: ${result.errorSamples[0]}`,
        );
      }
    }
    await target.close();
    await cluster.stop();
    cluster = undefined;
    console.log(`| ${partitions} | ${cells.join(" | ")} |`);
  }
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

function fileMb(path: string): number {
  try {
    return statSync(path).size / 2 ** 20;
  } catch {
    return 0;
  }
}

/** The log's size on disk: its segments, and its snapshot files (one per partition at most). */
function storageMb(dataDir: string): { logMb: number; snapshotMb: number; snapshots: number } {
  const logDir = join(dataDir, "log");
  let logMb = 0;
  let snapshotMb = 0;
  let snapshots = 0;
  for (const name of readdirSync(logDir)) {
    if (name.endsWith(".log")) logMb += fileMb(join(logDir, name));
    if (name.endsWith(".snap")) {
      snapshotMb += fileMb(join(logDir, name));
      snapshots += 1;
    }
  }
  return { logMb, snapshotMb, snapshots };
}

/** Takes `count` persistent locks named scale/<offset+i> with a 24 h lease, `inflight` at a time. */
async function fill(
  address: string[],
  offset: number,
  count: number,
  inflight: number,
): Promise<number> {
  const connections = await Promise.all(address.map((a) => {
    const [host, port] = a.split(":");
    return BinaryConnection.open({ host: host!, port: Number(port) }, 30_000);
  }));
  const owner = "5ca1e5ca1e5ca1e5ca1e5ca1e5ca1e5c";
  let next = 0;
  let failures = 0;
  const started = performance.now();
  let reported = started;
  const worker = async (w: number) => {
    for (let i = next++; i < count; i = next++) {
      const resource = `scale/${offset + i}`;
      // MustRetry while a partition elects a leader; TryLock with the same owner is idempotent.
      const giveUpMs = performance.now() + 60_000;
      for (;;) {
        const answer = await connections[w % connections.length]!.execute({
          op: "tryLock",
          resource,
          owner,
          expiresMs: 24 * 3_600_000,
          durability: Durability.Persistent,
        }).catch(() => undefined);
        if (answer?.type === ResponseType.Locked) break;
        failures += 1;
        if (performance.now() > giveUpMs) {
          throw new Error(`${resource} not locked within 60 s: ${answer?.error}`);
        }
        await Bun.sleep(20);
      }
      if (performance.now() - reported > 10_000) {
        reported = performance.now();
        console.error(
          `  ${next} of ${count} locks taken (${
            Math.round(next / ((reported - started) / 1000))
          }/s)`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, (_, w) => worker(w)));
  for (const connection of connections) connection.close();
  if (failures > 0) console.error(`  ${failures} tries were retried`);
  return (performance.now() - started) / 1000;
}

type Status = {
  partitions: {
    group: number;
    role: string;
    commit: number;
    applied: number;
    locks: number;
    recovering?: true;
  }[];
};

/**
 * The JavaScript heap a node has in use (kahuna_heap_used_bytes), the least of a few readings
 * half a second apart: a reading between collections counts garbage too.
 */
async function heapUsedMb(url: string): Promise<number> {
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 6; i++) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const bytes = Number(/^kahuna_heap_used_bytes (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
    if (Number.isFinite(bytes)) least = Math.min(least, bytes);
    await Bun.sleep(500);
  }
  return least / 2 ** 20;
}

/** Waits until `node` has applied every leader's commit and recovers no partition. */
async function caughtUp(
  c: BenchCluster,
  node: number,
  partitions: number,
  since: number,
): Promise<void> {
  for (;;) {
    // Every node's leaders, this one's too: it may lead a partition again once it is back.
    const leaderCommits = new Map<number, number>();
    for (const any of c.nodes) {
      for (const p of (await status(any.url).catch(() => ({ partitions: [] }))).partitions) {
        if (p.role === "leader") leaderCommits.set(p.group, p.commit);
      }
    }
    const s = await status(c.nodes[node]!.url).catch(() => undefined);
    const behind = s === undefined || leaderCommits.size < partitions
      ? partitions
      : s.partitions.filter((p) =>
        p.recovering === true || p.applied < (leaderCommits.get(p.group) ?? 0)
      ).length;
    if (behind === 0) return;
    if (performance.now() - since > 600_000) {
      throw new Error(`node ${c.nodes[node]!.id} did not catch up within 10 minutes`);
    }
    await Bun.sleep(100);
  }
}

async function status(url: string): Promise<Status> {
  return await (await fetch(`${url}/v1/cluster`)).json() as Status;
}

async function heldLocks(c: BenchCluster): Promise<number> {
  let total = 0;
  for (const node of c.nodes) {
    const s = await status(node.url);
    total += s.partitions.filter((p) => p.role === "leader").reduce((sum, p) => sum + p.locks, 0);
  }
  return total;
}

async function millionLocks(): Promise<void> {
  const count = Number(values.locks);
  const inflight = Number(values.inflight);
  const partitions = Number(values.partitions);
  cluster = await startKahunaCluster({ root, partitions });
  const c = cluster;
  const before = c.nodes.map((n) => rssMb(n.process.pid));
  const heapBefore = await Promise.all(c.nodes.map((n) => heapUsedMb(n.url)));
  const perLock = (mb: number, locks: number) => Math.round(mb * 2 ** 20 / locks);
  const laterCount = Math.max(1, Math.floor(count / 10));
  console.error(
    `filling ${count} persistent locks (${inflight} in flight, ${partitions} partitions)`,
  );
  const fillSeconds = await fill(c.nodes.map((n) => n.binary), 0, count, inflight);
  console.log(
    `fill: ${count} locks in ${fillSeconds.toFixed(1)} s (${
      Math.round(count / fillSeconds)
    } locks/s)`,
  );
  console.log(`held locks counted by the leaders: ${await heldLocks(c)}`);
  const heapAfterFill = await Promise.all(c.nodes.map((n) => heapUsedMb(n.url)));
  c.nodes.forEach((n, i) => {
    const s = storageMb(n.dataDir);
    console.log(
      `node ${n.id}: RSS ${before[i]!.toFixed(0)} MB empty → ${
        rssMb(n.process.pid).toFixed(0)
      } MB; heap in use ${heapBefore[i]!.toFixed(0)} → ${heapAfterFill[i]!.toFixed(0)} MB (${
        perLock(heapAfterFill[i]! - heapBefore[i]!, count)
      } bytes per lock); log segments ` +
        `${s.logMb.toFixed(1)} MB; ${s.snapshots} snapshots, ${s.snapshotMb.toFixed(1)} MB`,
    );
  });

  // Catch-up: node 3 misses laterCount more locks, then restarts.
  await c.stopNode("3");
  const downSeconds = await fill(
    c.nodes.slice(0, 2).map((n) => n.binary),
    count,
    laterCount,
    inflight,
  );
  console.log(`with node 3 down: ${laterCount} more locks in ${downSeconds.toFixed(1)} s`);
  const restarted = performance.now();
  await c.startNode("3");
  await caughtUp(c, 2, partitions, restarted);
  console.log(
    `catch-up: node 3 restarted and applied everything it missed in ${
      ((performance.now() - restarted) / 1000).toFixed(1)
    } s ` +
      `(RSS ${rssMb(c.nodes[2]!.process.pid).toFixed(0)} MB)`,
  );

  // Full restart: all three stop, all three start; time until every node is healthy.
  for (const node of c.nodes) await c.stopNode(node.id);
  const fullStart = performance.now();
  await Promise.all(c.nodes.map((n) => c.startNode(n.id)));
  const listening = performance.now();
  await Promise.all(c.nodes.map((n) => waitHealthy(n.url, 600_000)));
  const healthy = performance.now();
  console.log(
    `full restart: listening after ${
      ((listening - fullStart) / 1000).toFixed(1)
    } s, every node healthy after ` +
      `${((healthy - fullStart) / 1000).toFixed(1)} s; RSS ${
        c.nodes.map((n) => rssMb(n.process.pid).toFixed(0)).join(", ")
      } MB`,
  );
  const held = await heldLocks(c);
  console.log(`held locks after the restart: ${held}`);
  const heapAfterRestart = await Promise.all(c.nodes.map((n) => heapUsedMb(n.url)));
  console.log(
    `heap in use after the restart: ${
      heapAfterRestart.map((mb) => `${mb.toFixed(0)} MB`).join(", ")
    } (${heapAfterRestart.map((mb, i) => perLock(mb - heapBefore[i]!, held)).join(", ")} ` +
      "bytes per held lock, over each node's heap when empty)",
  );

  // A wiped follower: node 3 stops, loses its data directory, and starts empty.
  await c.stopNode("3");
  rmSync(c.nodes[2]!.dataDir, { recursive: true, force: true });
  const wiped = performance.now();
  await c.startNode("3");
  await caughtUp(c, 2, partitions, wiped);
  console.log(
    `wiped follower: node 3 started on an empty data directory and was re-seeded, recovering ` +
      `no partition and holding every commit, in ${
        ((performance.now() - wiped) / 1000).toFixed(1)
      } s (RSS ${rssMb(c.nodes[2]!.process.pid).toFixed(0)} MB)`,
  );
}

try {
  if (positionals[0] === "partitions") await partitionSweep();
  else if (positionals[0] === "locks") await millionLocks();
  else {
    console.error(
      "usage: bun test/bench/scale.ts partitions|locks [flags] (see the file's header)",
    );
    process.exitCode = 2;
  }
} finally {
  await cluster?.stop();
  rmSync(root, { recursive: true, force: true });
}

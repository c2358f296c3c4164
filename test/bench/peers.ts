/**
 * kahuna side by side with etcd and Redis, in one run, on this machine (issue 6):
 *
 *   bun test/bench/peers.ts [--duration 10s] [--rounds 3] [--concurrency 64] [--out docs/performance.md]
 *
 * Installs etcd and Redis with apt-get when they are missing, starts a 3-node etcd cluster, one
 * Redis and a 3-node kahuna cluster on 127.0.0.1 (data under /tmp, ports the OS picks), and
 * runs the same lock-unlock workload (src/bench/runner.ts) against each: `--concurrency`
 * clients for `--duration`, `--rounds` times, systems interleaved within each round so that
 * background load hits them alike; then one client alone for the acquire latency. Beside them,
 * the ceilings kahuna's figures are judged against: 3 no-op HTTP servers (fixtures/noop-http.ts)
 * driven by the same REST client, and this disk's fdatasync latency, measured each round in the
 * directory the clusters keep their data in. It prints the medians and writes them between the
 * markers of docs/performance.md.
 *
 * Not a test: nothing here asserts speed. Every process it starts is stopped at the end.
 */
import { spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseDurationMs } from "../../src/cli/duration.ts";
import { type BenchConfig, type BenchResult, runBench } from "../../src/bench/runner.ts";
import { type BenchTarget, binaryTarget, restTarget } from "../../src/bench/target.ts";
import { Durability } from "../../src/locks/types.ts";
import { bunBin, freePort, repoRoot } from "../helpers/server.ts";
import { startKahunaCluster } from "./kahuna-cluster.ts";
import { totalCpuSeconds } from "./proc-cpu.ts";
import { etcdTarget, redisTarget } from "./peer-targets.ts";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "10s" },
    warmup: { type: "string", default: "1s" },
    rounds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "64" },
    "single-duration": { type: "string", default: "5s" },
    partitions: { type: "string", default: "16" },
    out: { type: "string", default: join(repoRoot, "docs/performance.md") },
    "cpu-prof-dir": { type: "string" },
    /** Comma-separated labels ("etcd", "kahuna persistent binary", …) to run only those. */
    systems: { type: "string" },
    /** Skip the one-client runs. */
    "no-single": { type: "boolean", default: false },
  },
});
const durationMs = parseDurationMs("--duration", values.duration!) as number;
const warmupMs = parseDurationMs("--warmup", values.warmup!) as number;
const singleMs = parseDurationMs("--single-duration", values["single-duration"]!) as number;
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
for (
  const [name, value] of Object.entries({ durationMs, warmupMs, singleMs, rounds, concurrency })
) {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    console.error(`peers: bad value for ${name}`);
    process.exit(2);
  }
}

type Child = { readonly name: string; readonly process: Bun.Subprocess };
const children: Child[] = [];
const root = mkdtempSync(join(tmpdir(), "kahuna-peers-"));

function spawn(name: string, command: string[]): Child {
  const child = { name, process: Bun.spawn(command, { stdout: "ignore", stderr: "pipe" }) };
  children.push(child);
  return child;
}

let stopKahuna = async () => {};

async function stopAll(): Promise<void> {
  await stopKahuna();
  for (const child of children) child.process.kill("SIGTERM");
  await Promise.all(children.map(async (child) => {
    const timer = setTimeout(() => child.process.kill("SIGKILL"), 10_000);
    await child.process.exited;
    clearTimeout(timer);
  }));
  rmSync(root, { recursive: true, force: true });
}

function has(binary: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${binary}`]).status === 0;
}

/** apt-get install etcd and Redis if missing: names checked with apt-cache first. */
function ensurePeersInstalled(): void {
  if (has("etcd") && has("redis-server")) return;
  const packages = ["etcd-server", "etcd-client", "redis-server"];
  console.error(`installing ${packages.join(", ")} with apt-get`);
  spawnSync("apt-get", ["update"], { stdio: "inherit" });
  for (const name of packages) {
    const policy = spawnSync("apt-cache", ["policy", name], { encoding: "utf8" }).stdout;
    if (!/Candidate: (?!\(none\))/.test(policy)) throw new Error(`apt has no package ${name}`);
  }
  const install = spawnSync("apt-get", ["install", "-y", "--no-install-recommends", ...packages], {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (install.status !== 0) throw new Error("apt-get install failed");
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  deadlineMs = 30_000,
): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < deadlineMs) {
    if (await check().catch(() => false)) return;
    await Bun.sleep(100);
  }
  throw new Error(`${what} did not come up within ${deadlineMs} ms`);
}

async function startEtcd(): Promise<string[]> {
  const nodes = [];
  for (let i = 1; i <= 3; i++) {
    nodes.push({ name: `e${i}`, client: await freePort(), peer: await freePort() });
  }
  const cluster = nodes.map((n) => `${n.name}=http://127.0.0.1:${n.peer}`).join(",");
  for (const n of nodes) {
    spawn(`etcd ${n.name}`, [
      "etcd",
      "--name",
      n.name,
      "--data-dir",
      join(root, n.name),
      "--listen-client-urls",
      `http://127.0.0.1:${n.client}`,
      "--advertise-client-urls",
      `http://127.0.0.1:${n.client}`,
      "--listen-peer-urls",
      `http://127.0.0.1:${n.peer}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${n.peer}`,
      "--initial-cluster",
      cluster,
      "--initial-cluster-state",
      "new",
      "--initial-cluster-token",
      "kahuna-peers",
      "--logger",
      "zap",
      "--log-level",
      "error",
    ]);
  }
  const urls = nodes.map((n) => `http://127.0.0.1:${n.client}`);
  for (const url of urls) {
    await waitFor(`etcd at ${url}`, async () => {
      const health = await (await fetch(`${url}/health`)).json() as { health?: string };
      return health.health === "true";
    });
  }
  return urls;
}

async function startRedis(): Promise<number> {
  const port = await freePort();
  spawn("redis", [
    "redis-server",
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    root,
    "--protected-mode",
    "no",
  ]);
  await waitFor("redis", async () => {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    socket.end();
    return true;
  });
  return port;
}

/** Three no-op HTTP servers, one per kahuna node, so REST clients spread over them alike. */
async function startNoop(): Promise<string[]> {
  const urls: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const port = await freePort();
    spawn(`noop ${i}`, [bunBin, join(repoRoot, "test/bench/fixtures/noop-http.ts"), String(port)]);
    urls.push(`http://127.0.0.1:${port}`);
  }
  for (const url of urls) {
    await waitFor(`no-op server at ${url}`, async () => (await fetch(`${url}/`)).status === 404);
  }
  return urls;
}

/** fdatasync latency of this disk, as the log engine pays it: one small append, one sync. */
type FsyncProbe = { readonly p50Ms: number; readonly p99Ms: number; readonly syncs: number };

const fsyncProbeSyncs = 500;
const fsyncProbeRecordBytes = 256;

function probeFsync(directory: string): FsyncProbe {
  const path = join(directory, "fsync-probe");
  const fd = openSync(path, "w");
  const record = new Uint8Array(fsyncProbeRecordBytes).fill(0x6b);
  const took: number[] = [];
  try {
    for (let i = 0; i < fsyncProbeSyncs; i++) {
      const started = performance.now();
      writeSync(fd, record);
      fdatasyncSync(fd);
      took.push(performance.now() - started);
    }
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  took.sort((a, b) => a - b);
  const at = (q: number) => took[Math.min(took.length - 1, Math.floor(q * took.length))]!;
  return { p50Ms: at(0.5), p99Ms: at(0.99), syncs: took.length };
}

type Config = {
  readonly label: string;
  readonly system: "kahuna" | "etcd" | "redis" | "no-op";
  readonly durability: "persistent" | "ephemeral" | "none";
  readonly protocol: string;
  readonly target: BenchTarget;
  readonly kahunaDurability: Durability;
  /** The system's server processes, whose CPU time the run charges to it. */
  readonly pids: readonly number[];
};

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A run, with the CPU time per op of the system's servers and of the benchmark client. */
type Measured = BenchResult & { readonly serverCpuUs: number; readonly clientCpuUs: number };

async function measure(config: Config, workers: number, ms: number): Promise<Measured> {
  const bench: BenchConfig = {
    workload: "lock-unlock",
    durability: config.kahunaDurability,
    concurrency: workers,
    durationMs: ms,
    warmupMs,
    keyspace: 10_000,
    leaseMs: 10_000,
  };
  const serverBefore = totalCpuSeconds(config.pids);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const result = await runBench(config.target, bench);
  const client = process.cpuUsage(clientBefore);
  // CPU counters include the warm-up: charge them to every op of the run, estimated from the
  // measured rate over the whole time.
  const ops = result.opsPerSec * (performance.now() - started) / 1000;
  const serverCpuUs = (totalCpuSeconds(config.pids) - serverBefore) / ops * 1e6;
  const clientCpuUs = (client.user + client.system) / ops;
  console.error(
    `  ${config.label.padEnd(32)} ${String(workers).padStart(3)} clients ${
      String(result.opsPerSec).padStart(7)
    } ops/s ` +
      `${String(result.cyclesPerSec).padStart(6)} cycles/s  tryLock p50 ${
        result.byOp.tryLock?.latency.p50Ms ?? 0
      } ms ` +
      `p99 ${result.byOp.tryLock?.latency.p99Ms ?? 0} ms  errors ${result.errors}  CPU/op: ` +
      `server ${serverCpuUs.toFixed(1)} us, client ${clientCpuUs.toFixed(1)} us`,
  );
  return { ...result, serverCpuUs, clientCpuUs };
}

type Row = {
  readonly config: Config;
  readonly runs: Measured[];
};

function summary(row: Row) {
  const runs = row.runs;
  return {
    opsPerSec: median(runs.map((r) => r.opsPerSec)),
    cyclesPerSec: median(runs.map((r) => r.cyclesPerSec)),
    p50Ms: median(runs.map((r) => r.latency.p50Ms)),
    p99Ms: median(runs.map((r) => r.latency.p99Ms)),
    acquireP50Ms: median(runs.map((r) => r.byOp.tryLock?.latency.p50Ms ?? 0)),
    acquireP99Ms: median(runs.map((r) => r.byOp.tryLock?.latency.p99Ms ?? 0)),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    cycleRuns: runs.map((r) => r.cyclesPerSec),
    serverCpuUs: median(runs.map((r) => r.serverCpuUs)),
    clientCpuUs: median(runs.map((r) => r.clientCpuUs)),
  };
}

function version(command: string[]): string {
  const out = spawnSync(command[0]!, command.slice(1), { encoding: "utf8" });
  return (out.stdout || out.stderr).split("\n")[0]!.trim();
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function renderResults(
  loaded: Row[],
  single: Row[],
  fsyncs: readonly FsyncProbe[],
  startedAt: Date,
  startLoad: string,
  command: string,
): string {
  const byLabel = (rows: Row[], label: string) => rows.find((r) => r.config.label === label);
  const ratio = (
    a: Row | undefined,
    b: Row | undefined,
    pick: (s: ReturnType<typeof summary>) => number,
  ) =>
    a === undefined || b === undefined || pick(summary(b)) === 0
      ? "—"
      : `${(pick(summary(a)) / pick(summary(b))).toFixed(1)}×`;
  const etcd = byLabel(loaded, "etcd");
  const redis = byLabel(loaded, "redis");
  const noop = byLabel(loaded, "no-op http");
  const lines = [
    `Run of ${startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC: \`${command}\``,
    "",
    `Machine: ${cpus().length} cores (nproc), ${cpus()[0]?.model ?? "unknown CPU"}, ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB RAM, ${version(["uname", "-sr"])}; ${
      version([bunBin, "--version"]).replace(/^/, "Bun ")
    }, ` +
    `${version(["etcd", "--version"])}, ${
      version(["redis-server", "--version"]).split(" ").slice(0, 3).join(" ")
    }. ` +
    "Every process (3 kahuna nodes, 3 etcd nodes, Redis, 3 no-op HTTP servers, and the benchmark client itself) shares these cores, " +
    `with whatever else the machine runs (load average ${startLoad} at the start of the run, ` +
    `${loadavg().map((l) => l.toFixed(2)).join(", ")} at the end: 1, 5, 15 min).`,
    "",
    `Workload: lock-unlock (TryLock a random key of 10,000, Unlock it when taken; lease 10 s), ` +
    `${concurrency} concurrent clients, each with one request in flight, spread over the 3 nodes of each cluster ` +
    "(kahuna's binary rows send each request to its partition's leader, as the client library does; " +
    "the spread rows and REST let a node forward it); " +
    `${durationMs / 1000} s measured after ${
      warmupMs / 1000
    } s of warm-up; ${rounds} round(s), systems interleaved ` +
    "within each round; the figures are the medians of the rounds. An op is one request; a cycle is one lock " +
    "taken and released (kahuna and Redis: 2 requests; etcd: lease grant + txn + lease revoke = 3 HTTP calls).",
    "",
    "Durability: kahuna persistent = committed by a majority and fdatasynced on each (kahuna's log engine: " +
    "one append and one fdatasync per flush, for every partition of the node); " +
    "etcd default = fsync of its WAL on every commit; kahuna ephemeral = the partition leader's memory only; " +
    "Redis default = memory, background RDB snapshots, no per-write fsync. " +
    "The no-op HTTP row is 3 Bun.serve processes that read each request and answer it without lock work " +
    "(test/bench/fixtures/noop-http.ts), driven by the REST client kahuna's REST rows use: their ceiling.",
    "",
    `### ${concurrency} concurrent clients`,
    "",
    "| system | durability | client | cycles/s | ops/s | p50 ms | p99 ms | errors | server CPU µs/op | client CPU µs/op | cycles/s per round |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const row of loaded) {
    const s = summary(row);
    lines.push(
      `| ${row.config.system} | ${row.config.durability} | ${row.config.protocol} | ${
        fmt(s.cyclesPerSec)
      } | ` +
        `${fmt(s.opsPerSec)} | ${s.p50Ms.toFixed(2)} | ${s.p99Ms.toFixed(2)} | ${s.errors} | ` +
        `${s.serverCpuUs.toFixed(1)} | ${s.clientCpuUs.toFixed(1)} | ${
          s.cycleRuns.map(fmt).join(", ")
        } |`,
    );
  }
  lines.push("", "Ratios of cycles/s (medians):", "");
  for (const row of loaded.filter((r) => r.config.system === "kahuna")) {
    const peer = row.config.durability === "persistent" ? etcd : redis;
    lines.push(
      `- kahuna ${row.config.durability} over ${row.config.protocol} / ${
        peer?.config.system ?? "(not run)"
      }: ${ratio(row, peer, (s) => s.cyclesPerSec)}`,
    );
    if (row.config.protocol === "REST" && noop !== undefined) {
      lines.push(
        `- kahuna ${row.config.durability} over REST / no-op HTTP: ${
          ratio(row, noop, (s) => s.cyclesPerSec)
        }`,
      );
    }
  }
  lines.push(
    "",
    `### One client alone: acquire latency (${singleMs / 1000} s per round, same warm-up)`,
    "",
    "| system | durability | client | TryLock p50 ms | TryLock p99 ms | cycles/s |",
    "|---|---|---|---:|---:|---:|",
  );
  for (const row of single) {
    const s = summary(row);
    lines.push(
      `| ${row.config.system} | ${row.config.durability} | ${row.config.protocol} | ${
        s.acquireP50Ms.toFixed(3)
      } | ` +
        `${s.acquireP99Ms.toFixed(3)} | ${fmt(s.cyclesPerSec)} |`,
    );
  }
  if (fsyncs.length > 0) {
    const p50 = median(fsyncs.map((f) => f.p50Ms));
    const p99 = median(fsyncs.map((f) => f.p99Ms));
    lines.push(
      "",
      `### This disk's fdatasync (${fsyncProbeSyncs} appends of ${fsyncProbeRecordBytes} bytes, ` +
        "each followed by fdatasync, in the clusters' data directory, once per round)",
      "",
      `p50 ${p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms (medians of the rounds; p50 per round: ${
        fsyncs.map((f) => f.p50Ms.toFixed(3)).join(", ")
      } ms).`,
    );
    const persistent = byLabel(single, "kahuna persistent binary");
    if (persistent !== undefined && p50 > 0) {
      lines.push(
        "",
        `One client's persistent TryLock p50 over binary / fdatasync p50: ${
          (summary(persistent).acquireP50Ms / p50).toFixed(1)
        }×`,
      );
    }
  }
  return lines.join("\n");
}

function writeDoc(path: string, results: string): void {
  const begin = "<!-- peers:begin (written by test/bench/peers.ts) -->";
  const end = "<!-- peers:end -->";
  const block = `${begin}\n${results}\n${end}`;
  const current = existsSync(path)
    ? readFileSync(path, "utf8")
    : `# Performance\n\n${begin}\n${end}\n`;
  const from = current.indexOf(begin);
  const to = current.indexOf(end);
  const next = from >= 0 && to > from
    ? current.slice(0, from) + block + current.slice(to + end.length)
    : `${current.trimEnd()}\n\n${block}\n`;
  writeFileSync(path, next);
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const startLoad = loadavg().map((l) => l.toFixed(2)).join(", ");
  const command = `bun test/bench/peers.ts ${process.argv.slice(2).join(" ")}`.trim();
  ensurePeersInstalled();
  console.error(`starting etcd ×3, redis, kahuna ×3 under ${root}`);
  const [etcdUrls, redisPort, noopUrls, cluster] = await Promise.all([
    startEtcd(),
    startRedis(),
    startNoop(),
    startKahunaCluster({
      root,
      partitions: Number(values.partitions),
      ...(values["cpu-prof-dir"] === undefined
        ? {}
        : { cpuProfDir: resolve(values["cpu-prof-dir"]) }),
    }),
  ]);
  stopKahuna = () => cluster.stop();
  const kahuna = cluster.nodes;
  const pidsOf = (prefix: string) =>
    children.filter((c) => c.name.startsWith(prefix)).map((c) => c.process.pid);
  const systemPids = {
    etcd: pidsOf("etcd"),
    redis: pidsOf("redis"),
    noop: pidsOf("noop"),
    kahuna: kahuna.map((n) => n.process.pid),
  };
  const timeoutMs = 10_000;
  const binaries = kahuna.map((n) => n.binary);
  const kBinary = await binaryTarget(binaries, { connections: 2, timeoutMs, routing: "leader" });
  const kSpread = await binaryTarget(binaries, { connections: 2, timeoutMs, routing: "spread" });
  const kRest = restTarget(kahuna.map((n) => n.url), timeoutMs);
  const configs: Config[] = [
    {
      label: "etcd",
      system: "etcd",
      durability: "persistent",
      protocol: "HTTP/JSON gateway",
      target: etcdTarget(etcdUrls, timeoutMs),
      kahunaDurability: Durability.Persistent,
      pids: systemPids.etcd,
    },
    {
      label: "kahuna persistent binary",
      system: "kahuna",
      durability: "persistent",
      protocol: "binary",
      target: kBinary,
      kahunaDurability: Durability.Persistent,
      pids: systemPids.kahuna,
    },
    {
      label: "kahuna persistent spread",
      system: "kahuna",
      durability: "persistent",
      protocol: "binary, spread (nodes forward)",
      target: kSpread,
      kahunaDurability: Durability.Persistent,
      pids: systemPids.kahuna,
    },
    {
      label: "kahuna persistent rest",
      system: "kahuna",
      durability: "persistent",
      protocol: "REST",
      target: kRest,
      kahunaDurability: Durability.Persistent,
      pids: systemPids.kahuna,
    },
    {
      label: "redis",
      system: "redis",
      durability: "ephemeral",
      protocol: "RESP",
      target: await redisTarget("127.0.0.1", redisPort, 6),
      kahunaDurability: Durability.Ephemeral,
      pids: systemPids.redis,
    },
    {
      label: "kahuna ephemeral binary",
      system: "kahuna",
      durability: "ephemeral",
      protocol: "binary",
      target: kBinary,
      kahunaDurability: Durability.Ephemeral,
      pids: systemPids.kahuna,
    },
    {
      label: "kahuna ephemeral spread",
      system: "kahuna",
      durability: "ephemeral",
      protocol: "binary, spread (nodes forward)",
      target: kSpread,
      kahunaDurability: Durability.Ephemeral,
      pids: systemPids.kahuna,
    },
    {
      label: "kahuna ephemeral rest",
      system: "kahuna",
      durability: "ephemeral",
      protocol: "REST",
      target: kRest,
      kahunaDurability: Durability.Ephemeral,
      pids: systemPids.kahuna,
    },
    {
      label: "no-op http",
      system: "no-op",
      durability: "none",
      protocol: "REST",
      target: restTarget(noopUrls, timeoutMs),
      kahunaDurability: Durability.Ephemeral,
      pids: systemPids.noop,
    },
  ];
  const wanted = values.systems?.split(",").map((label) => label.trim());
  const chosen = configs.filter((config) => wanted === undefined || wanted.includes(config.label));
  const loaded: Row[] = chosen.map((config) => ({ config, runs: [] }));
  const single: Row[] = values["no-single"] ? [] : chosen.map((config) => ({ config, runs: [] }));
  const fsyncs: FsyncProbe[] = [];
  for (let round = 1; round <= rounds; round++) {
    console.error(`round ${round} of ${rounds}`);
    const probe = probeFsync(root);
    fsyncs.push(probe);
    console.error(
      `  fdatasync of ${probe.syncs} appends: p50 ${probe.p50Ms.toFixed(3)} ms, ` +
        `p99 ${probe.p99Ms.toFixed(3)} ms`,
    );
    for (const row of loaded) row.runs.push(await measure(row.config, concurrency, durationMs));
    for (const row of single) row.runs.push(await measure(row.config, 1, singleMs));
  }
  for (const config of configs) await config.target.close();
  const results = renderResults(loaded, single, fsyncs, startedAt, startLoad, command);
  console.log(results);
  writeDoc(values.out!, results);
  console.error(`wrote ${values.out}`);
}

try {
  await main();
} finally {
  await stopAll();
}

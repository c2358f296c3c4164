/**
 * What TLS and client tokens cost: two 3-node clusters side by side, one plain and one with
 * TLS on every port (HTTPS, binary over TLS, mutual TLS between the nodes) and `--auth-file`
 * (every request carries a bearer token or the binary handshake). The same `kahuna bench`
 * workload runs against each in turn, persistent and ephemeral, binary and REST; rounds
 * alternate the clusters so both see the same machine. The summary gives the median of the
 * rounds, the servers' CPU per op (from /proc) and the secured/plain ratio.
 *
 *   bun test/bench/security.ts [--rounds 3] [--duration 5s] [--concurrency 64]
 *
 * Not a test: it prints figures for docs/performance.md.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseDurationMs } from "../../src/cli/duration.ts";
import { runBench } from "../../src/bench/runner.ts";
import { type Access, type BenchTarget, binaryTarget, restTarget } from "../../src/bench/target.ts";
import { Durability } from "../../src/locks/types.ts";
import { addClient } from "../helpers/auth.ts";
import { makeCerts } from "../helpers/certs.ts";
import { type BenchCluster, startKahunaCluster } from "./kahuna-cluster.ts";
import { totalCpuSeconds } from "./proc-cpu.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "5s" },
    concurrency: { type: "string", default: "64" },
  },
});
const rounds = Number(values.rounds);
const durationMs = parseDurationMs("--duration", values.duration!);
if (typeof durationMs === "string") throw new Error(durationMs);
const concurrency = Number(values.concurrency);

const root = mkdtempSync(join(tmpdir(), "kahuna-security-bench-"));
const certs = await makeCerts(["1", "2", "3"], mkdtempSync(join(root, "certs-")));
const authFile = join(root, "auth.json");
const token = addClient(authFile, "bench", ["--prefix", "", "--admin"]);

type Setup = { name: string; cluster: BenchCluster; access: Access };
const setups: Setup[] = [];
try {
  setups.push({
    name: "plain",
    cluster: await startKahunaCluster({ root: join(root, "plain"), partitions: 16 }),
    access: {},
  });
  setups.push({
    name: "TLS + tokens",
    cluster: await startKahunaCluster({
      root: join(root, "secure"),
      partitions: 16,
      nodeArgs: (id) => [
        "--tls-cert",
        certs.node(id).certFile,
        "--tls-key",
        certs.node(id).keyFile,
        "--peer-ca",
        certs.caFile,
        "--auth-file",
        authFile,
      ],
      secure: { ca: certs.ca, token },
    }),
    access: { ca: certs.ca, token },
  });

  type Row = { opsPerSec: number; p50Ms: number; p99Ms: number; cpuUsPerOp: number };
  const rows = new Map<string, Row[]>();
  const targets = new Map<string, BenchTarget>();
  for (const setup of setups) {
    const nodes = setup.cluster.nodes;
    targets.set(
      `${setup.name} binary`,
      await binaryTarget(nodes.map((n) => n.binary), {
        connections: 2,
        timeoutMs: 10_000,
        ...setup.access,
      }),
    );
    targets.set(`${setup.name} rest`, restTarget(nodes.map((n) => n.url), 10_000, setup.access));
  }
  for (let round = 1; round <= rounds; round++) {
    for (const durability of [Durability.Persistent, Durability.Ephemeral]) {
      for (const protocol of ["binary", "rest"] as const) {
        for (const setup of setups) {
          const target = targets.get(`${setup.name} ${protocol}`)!;
          const pids = setup.cluster.nodes.map((n) => n.process.pid);
          const config = {
            workload: "lock-unlock",
            durability,
            concurrency,
            keyspace: 10_000,
            leaseMs: 10_000,
          } as const;
          // A warm-up of its own, so that the CPU measured is that of the measured ops.
          await runBench(target, { ...config, durationMs: 1_000, warmupMs: 0 });
          const cpuBefore = totalCpuSeconds(pids);
          const result = await runBench(target, { ...config, durationMs, warmupMs: 0 });
          const cpu = totalCpuSeconds(pids) - cpuBefore;
          if (result.errors > 0) {
            console.error(`  ${result.errors} errors: ${result.errorSamples.join("; ")}`);
          }
          const ops = result.ops;
          const name = `${result.durability} ${protocol} | ${setup.name}`;
          const row = {
            opsPerSec: result.opsPerSec,
            p50Ms: result.latency.p50Ms,
            p99Ms: result.latency.p99Ms,
            cpuUsPerOp: (cpu / ops) * 1e6,
          };
          rows.set(name, [...(rows.get(name) ?? []), row]);
          console.error(
            `round ${round}: ${name}: ${row.opsPerSec.toFixed(0)} ops/s, p50 ` +
              `${row.p50Ms.toFixed(2)} ms, p99 ${row.p99Ms.toFixed(2)} ms, ` +
              `${row.cpuUsPerOp.toFixed(0)} µs CPU/op`,
          );
        }
      }
    }
  }
  for (const target of targets.values()) await target.close();

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const med = (name: string, key: keyof Row) => median(rows.get(name)!.map((r) => r[key]));
  console.log(
    `\n${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores; ` +
      `${rounds} rounds of ${durationMs} ms, ${concurrency} clients, lock-unlock, medians\n`,
  );
  console.log(
    "| workload | cluster | ops/s | p50 ms | p99 ms | server CPU µs/op | ops/s vs plain |",
  );
  console.log("|---|---|---:|---:|---:|---:|---:|");
  for (const name of rows.keys()) {
    const [workload, cluster] = name.split(" | ") as [string, string];
    const plain = `${workload} | plain`;
    const ratio = med(name, "opsPerSec") / med(plain, "opsPerSec");
    console.log(
      `| ${workload} | ${cluster} | ${med(name, "opsPerSec").toFixed(0)} | ` +
        `${med(name, "p50Ms").toFixed(2)} | ${med(name, "p99Ms").toFixed(2)} | ` +
        `${med(name, "cpuUsPerOp").toFixed(0)} | ${ratio.toFixed(2)}× |`,
    );
  }
} finally {
  for (const setup of setups) await setup.cluster.stop();
  rmSync(root, { recursive: true, force: true });
}

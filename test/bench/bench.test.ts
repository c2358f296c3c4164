/**
 * `kahuna bench` against a real server: short runs of every workload over both protocols.
 * These check the summary's shape and that the counts add up; they never assert speed
 * (docs/testing.md: CI does not time things).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { runBenchCommand } from "../../src/bench/command.ts";
import type { BenchResult } from "../../src/bench/runner.ts";
import { join } from "node:path";
import { addClient } from "../helpers/auth.ts";
import { makeCerts } from "../helpers/certs.ts";
import {
  bunBin,
  mainTs,
  repoRoot,
  type ServerProcess,
  startServer,
  tempDir,
} from "../helpers/server.ts";

let server: ServerProcess;

beforeAll(async () => {
  server = await startServer();
}, 60_000);

afterAll(async () => {
  await server?.cleanup();
});

async function bench(args: string[]): Promise<{ status: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await runBenchCommand(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { status, out, err };
}

function serverFlag(protocol: "rest" | "binary"): string[] {
  return [
    "--protocol",
    protocol,
    "--server",
    protocol === "rest" ? server.url : `127.0.0.1:${server.binaryPort}`,
  ];
}

/** A short measured run with no warm-up, its summary as JSON: what most tests here run. */
const shortRun = ["--duration", "700ms", "--warmup", "0", "--json", "--quiet"];

function checkCountsAddUp(result: BenchResult): void {
  const byOp = Object.values(result.byOp);
  expect(result.ops).toBeGreaterThan(0);
  expect(byOp.reduce((sum, op) => sum + op.count, 0)).toBe(result.ops);
  expect(byOp.reduce((sum, op) => sum + op.errors, 0)).toBe(result.errors);
  expect(Object.values(result.outcomes).reduce((a, b) => a + b, 0)).toBe(result.ops);
  expect(result.outcomes["error"] ?? 0).toBe(result.errors);
  expect(result.latency.count).toBe(result.ops);
  const l = result.latency;
  expect(l.minMs).toBeLessThanOrEqual(l.p50Ms);
  expect(l.p50Ms).toBeLessThanOrEqual(l.p90Ms);
  expect(l.p90Ms).toBeLessThanOrEqual(l.p99Ms);
  expect(l.p99Ms).toBeLessThanOrEqual(l.maxMs);
  // elapsedMs is rounded to the ms, so allow that much.
  const perSec = result.ops / (Math.max(result.elapsedMs, 1) / 1000);
  expect(Math.abs(result.opsPerSec - perSec)).toBeLessThanOrEqual(perSec * 0.01 + 1);
}

for (const protocol of ["binary", "rest"] as const) {
  test(
    `lock-unlock over ${protocol}: every unlock follows its own lock, and counts add up`,
    async () => {
      const { status, out } = await bench([
        "lock-unlock",
        ...serverFlag(protocol),
        "--concurrency",
        "8",
        ...shortRun,
      ]);
      expect(status).toBe(0);
      expect(out).toHaveLength(1);
      const result = JSON.parse(out[0]!) as BenchResult;
      expect(result).toMatchObject({
        workload: "lock-unlock",
        target: protocol,
        durability: "persistent",
        concurrency: 8,
        errors: 0,
      });
      checkCountsAddUp(result);
      const o = result.outcomes;
      // A lock-unlock cycle: every Locked answer is followed by exactly one Unlocked.
      expect(o["unlocked"]).toBe(o["locked"]);
      expect(result.cycles).toBe(o["unlocked"]!);
      expect(result.byOp.tryLock!.count).toBe((o["locked"] ?? 0) + (o["busy"] ?? 0));
      expect(result.byOp.unlock!.count).toBe(o["unlocked"]!);
    },
    30_000,
  );
}

test("contended ephemeral: few keys, so many tries come back busy, and no lock is lost", async () => {
  const { status, out } = await bench([
    "contended",
    ...serverFlag("binary"),
    "--durability",
    "ephemeral",
    "--concurrency",
    "16",
    "--duration",
    "700ms",
    "--warmup",
    "0",
    "--json",
    "--quiet",
  ]);
  expect(status).toBe(0);
  const result = JSON.parse(out[0]!) as BenchResult;
  expect(result).toMatchObject({
    workload: "contended",
    durability: "ephemeral",
    keyspace: 4,
    errors: 0,
  });
  checkCountsAddUp(result);
  expect(result.outcomes["busy"]).toBeGreaterThan(0);
  expect(result.outcomes["unlocked"]).toBe(result.outcomes["locked"]);
});

for (const protocol of ["binary", "rest"] as const) {
  test(`queue over ${protocol}: waiters are handed the lock without a busy answer`, async () => {
    const { status, out } = await bench([
      "queue",
      ...serverFlag(protocol),
      "--concurrency",
      "8",
      ...shortRun,
    ]);
    expect(status).toBe(0);
    const result = JSON.parse(out[0]!) as BenchResult;
    expect(result).toMatchObject({ workload: "queue", keyspace: 4, errors: 0 });
    checkCountsAddUp(result);
    // Everyone waits in line for its turn: no try comes back Busy within 5 s.
    expect(result.outcomes["busy"] ?? 0).toBe(0);
    expect(result.outcomes["unlocked"]).toBe(result.outcomes["locked"]);
    expect(result.handoff!.count).toBeGreaterThan(0);
    expect(result.handoff!.count).toBeLessThanOrEqual(result.cycles);
  });
}

test("extend: extends dominate, and each cycle is one lock and one unlock", async () => {
  const { out } = await bench([
    "extend",
    ...serverFlag("binary"),
    "--durability",
    "ephemeral",
    "--concurrency",
    "4",
    "--duration",
    "700ms",
    "--warmup",
    "0",
    "--json",
    "--quiet",
  ]);
  const result = JSON.parse(out[0]!) as BenchResult;
  checkCountsAddUp(result);
  expect(result.byOp.extend!.count).toBeGreaterThan(result.byOp.tryLock!.count);
  expect(result.outcomes["extended"]).toBe(result.byOp.extend!.count);
  expect(result.cycles).toBe(result.outcomes["unlocked"]!);
});

test("get: reads find both held and free locks", async () => {
  const { out } = await bench([
    "get",
    ...serverFlag("binary"),
    "--keyspace",
    "100",
    "--concurrency",
    "4",
    "--duration",
    "500ms",
    "--warmup",
    "0",
    "--json",
    "--quiet",
  ]);
  const result = JSON.parse(out[0]!) as BenchResult;
  checkCountsAddUp(result);
  expect(Object.keys(result.byOp)).toEqual(["get"]);
  expect(result.outcomes["got"]).toBeGreaterThan(0);
  expect(result.outcomes["lockDoesNotExist"]).toBeGreaterThan(0);
  expect(result.cycles).toBe(result.ops);
});

test("the text summary names ops/s and the latency percentiles; progress goes to stderr", async () => {
  const { status, out, err } = await bench([
    ...serverFlag("binary"),
    "--concurrency",
    "2",
    "--duration",
    "1500ms",
    "--warmup",
    "0",
  ]);
  expect(status).toBe(0);
  const text = out.join("\n");
  expect(text).toMatch(/^lock-unlock · persistent · binary · 2 clients/);
  expect(text).toMatch(/ops\/s/);
  expect(text).toMatch(/p50 [\d.]+ {2}p90 [\d.]+ {2}p99 [\d.]+ {2}max [\d.]+/);
  expect(err.some((line) => /ops\/s .* errors$/.test(line))).toBe(true);
});

test(
  "--ca and --token: the bench reaches a server with TLS and tokens, and is refused without",
  async () => {
    const dir = tempDir("kahuna-bench-secure-");
    const certs = await makeCerts(["1"], dir);
    const authFile = join(dir, "auth.json");
    const token = addClient(authFile, "bench", ["--prefix", "bench/"]);
    const other = addClient(authFile, "other", ["--prefix", "elsewhere/"]);
    const secure = await startServer({
      extraArgs: [
        "--tls-cert",
        certs.node("1").certFile,
        "--tls-key",
        certs.node("1").keyFile,
        "--auth-file",
        authFile,
        "--quiet",
      ],
      ca: certs.ca,
    });
    try {
      for (const protocol of ["binary", "rest"] as const) {
        const server = protocol === "rest" ? secure.url : `127.0.0.1:${secure.binaryPort}`;
        const flags = ["--protocol", protocol, "--server", server, "--ca", certs.caFile];
        const run = await bench([...flags, "--token", token, "--keyspace", "50", ...shortRun]);
        expect(run.status).toBe(0);
        const result = JSON.parse(run.out[0]!) as BenchResult;
        expect(result.errors).toBe(0);
        checkCountsAddUp(result);
        // The bench's keys are bench/…: a token for other prefixes only is refused each time.
        const refused = await bench([...flags, "--token", other, ...shortRun]);
        const refusal = JSON.parse(refused.out[0]!) as BenchResult;
        expect(refusal.ops).toBeGreaterThan(0);
        expect(refusal.errors).toBe(refusal.ops);
        expect(refusal.errorSamples.every((sample) => sample.startsWith("forbidden: "))).toBe(true);
      }
    } finally {
      await secure.cleanup();
    }
  },
  60_000,
);

test("no server to reach: exit status 3 and a line that says what to do", async () => {
  const { status, err } = await bench(["--server", "127.0.0.1:1", "--duration", "1s", "--quiet"]);
  expect(status).toBe(3);
  expect(err[0]).toMatch(/unreachable.*start a server/);
});

test("kahuna bench runs from the executable's dispatcher", () => {
  const result = Bun.spawnSync([
    bunBin,
    mainTs,
    "bench",
    "get",
    "--server",
    `127.0.0.1:${server.binaryPort}`,
    "--durability",
    "ephemeral",
    "--duration",
    "300ms",
    "--warmup",
    "0",
    "--concurrency",
    "2",
    "--json",
    "--quiet",
  ], { cwd: repoRoot, timeout: 30_000 });
  expect(result.exitCode).toBe(0);
  const parsed = JSON.parse(result.stdout.toString()) as BenchResult;
  expect(parsed.workload).toBe("get");
  expect(Bun.spawnSync([bunBin, mainTs, "bench", "--bogus"], { cwd: repoRoot }).exitCode).toBe(2);
});

test(
  "every kahuna bench example in docs/performance.md runs, shortened, against this server",
  async () => {
    const text = await Bun.file(`${repoRoot}/docs/performance.md`).text();
    const examples = [...text.matchAll(/^kahuna bench\b([^#\n]*)/gm)].map((m) =>
      m[1]!.trim().split(/\s+/).filter((arg) => arg !== "")
    );
    expect(examples.length).toBeGreaterThanOrEqual(5);
    for (const example of examples) {
      // The example's own servers and duration give way to this test's server and a short run.
      const args: string[] = [];
      for (let i = 0; i < example.length; i++) {
        if (example[i] === "--server" || example[i] === "--duration") i++;
        else if (example[i] !== "--json") args.push(example[i]!);
      }
      const protocol = args.includes("rest") ? "rest" : "binary";
      args.push(
        ...serverFlag(protocol),
        "--duration",
        "300ms",
        "--warmup",
        "0",
        "--quiet",
        "--json",
      );
      const { status, out, err } = await bench(args);
      expect({ example: example.join(" "), status, err }).toEqual({
        example: example.join(" "),
        status: 0,
        err: [],
      });
      const result = JSON.parse(out[0]!) as BenchResult;
      expect({ example: example.join(" "), errors: result.errors }).toEqual({
        example: example.join(" "),
        errors: 0,
      });
      expect(result.ops).toBeGreaterThan(0);
    }
  },
  60_000,
);

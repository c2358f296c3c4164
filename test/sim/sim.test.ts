/**
 * The deterministic simulator as a test: many seeds of real NodeHosts under faults, every
 * checker on, and the same seed twice giving the same trace hash. A failure names the seed and
 * the command that replays it.
 */
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { profiles, replayCommand } from "./run.ts";
import { simulate } from "./simulator.ts";

const seedsPerTest = 150;

function runSeeds(from: number, count: number, profile?: string): string[] {
  const failures: string[] = [];
  for (let seed = from; seed < from + count; seed++) {
    const result = simulate(seed, profile === undefined ? {} : profiles[profile]);
    if (result.violations.length === 0) continue;
    const v = result.violations[0]!;
    const flags = profile === undefined ? "" : ` --profile ${profile}`;
    failures.push(
      `seed ${seed}: [${v.checker}] ${v.message}\n  replay: ${replayCommand(seed, flags)}`,
    );
  }
  return failures;
}

test("the same seed twice gives the same trace hash and the same findings", () => {
  for (const seed of [1, 42, 4242]) {
    const a = simulate(seed);
    const b = simulate(seed);
    expect(a.traceHash).toBe(b.traceHash);
    expect(a.simulatedMs).toBe(b.simulatedMs);
    expect(a.stats).toEqual(b.stats);
    expect(a.violations).toEqual(b.violations);
  }
});

test("different seeds give different runs", () => {
  const hashes = new Set([1, 2, 3, 4, 5].map((seed) => simulate(seed).traceHash));
  expect(hashes.size).toBe(5);
});

test(`seeds 1-${seedsPerTest}: no checker finds a violation under faults`, () => {
  expect(runSeeds(1, seedsPerTest)).toEqual([]);
}, 120_000);

test(
  `seeds ${seedsPerTest + 1}-${2 * seedsPerTest}: no checker finds a violation under faults`,
  () => {
    expect(runSeeds(seedsPerTest + 1, seedsPerTest)).toEqual([]);
  },
  120_000,
);

test("a run injects every kind of fault and still makes progress", () => {
  const totals: Record<string, number> = {};
  let grants = 0;
  for (let seed = 1000; seed < 1040; seed++) {
    const result = simulate(seed);
    for (const [kind, n] of Object.entries(result.faults)) totals[kind] = (totals[kind] ?? 0) + n;
    grants += result.history.grants;
  }
  for (
    const kind of [
      "partition",
      "isolateLeader",
      "oneWayCut",
      "crash",
      "crashInDiskWrite",
      "lossyNetwork",
      "clockRate",
      "restartAll",
      "diskLost",
      "lostFrames",
      "duplicatedFrames",
    ]
  ) {
    expect(totals[kind] ?? 0).toBeGreaterThan(0);
  }
  expect(grants).toBeGreaterThan(200);
}, 60_000);

test("Deno replays a seed with the same trace hash as Bun", () => {
  const root = join(import.meta.dir, "../..");
  const deno = spawnSync(
    join(root, "node_modules/.bin/deno"),
    ["run", "--allow-all", "test/sim/run.ts", "--seed", "42"],
    { cwd: root, encoding: "utf8", timeout: 60_000 },
  );
  const hash = /trace hash ([0-9a-f]{8})/.exec(deno.stdout ?? "")?.[1];
  expect(hash).toBe(simulate(42).traceHash);
}, 90_000);

test("harsh profile (5 nodes, 3 groups, a fault every ~100 ms), seeds 1-40: no violation", () => {
  expect(runSeeds(1, 40, "harsh")).toEqual([]);
}, 120_000);

test(
  "disk-lost profile (wiped nodes re-seeded among crashes and cuts), seeds 1-20: no violation",
  () => {
    expect(runSeeds(1, 20, "disk-lost")).toEqual([]);
  },
  120_000,
);

test(
  "large-state profile (50,000 locks with 200-byte names), one seed: all kept, no violation",
  () => {
    expect(runSeeds(1, 1, "large-state")).toEqual([]);
  },
  120_000,
);

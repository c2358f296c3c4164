/**
 * What a node's memory does with lock records (docs/cluster.md, "Lock records and the
 * sweep"): one NodeHost in this process (16 partitions, an in-memory log store, snapshots
 * and compaction as in production), `--locks` persistent locks taken and released, then the
 * clock moved past the sweep grace until every record is gone. After each phase: the heap
 * after a forced GC, RSS, and the records kept. The goal: the heap after the sweep within 20%
 * of an idle node's (one whose log tail behind its snapshots is as full, with few records).
 *
 *   bun test/bench/sweep-heap.ts [--locks 1000000]
 *
 * Not a test. The process holds what a real node's host holds; SQLite's page cache (a real
 * node's other large share) is not in it.
 */
import { parseArgs } from "node:util";
import { MemoryLogStore } from "../../src/adapters/memory/memory-log-store.ts";
import { tickMs } from "../../src/constants.ts";
import { NodeHost } from "../../src/host/node-host.ts";
import { Durability, ResponseType } from "../../src/locks/types.ts";

const { values } = parseArgs({ options: { locks: { type: "string", default: "1000000" } } });
const locks = Number(values.locks);
const graceMs = 60_000;
let nowMs = 0;
let seed = 7;
const host = new NodeHost({
  nodeId: "a",
  voters: ["a"],
  groups: 16,
  sweepGraceMs: graceMs,
  logStore: new MemoryLogStore(),
  transport: { send: () => {} },
  clock: { nowMs: () => nowMs, wallMs: () => nowMs },
  random: { int: (n) => Math.floor(((seed = (seed * 16807) % 2147483647) / 2147483647) * n) },
});

function step(): void {
  host.flush();
  nowMs += 1;
  if (nowMs % tickMs === 0) host.tick();
}
while (!host.health().ok) step();

function heapAfterGc(): { heapMB: number; rssMB: number } {
  Bun.gc(true);
  const { heapUsed, rss } = process.memoryUsage();
  return { heapMB: heapUsed / 1e6, rssMB: rss / 1e6 };
}
const records = () => host.groupStatuses().reduce((n, g) => n + g.records, 0);

/** Runs `op(i)` for i < count, 2,000 in flight, until every answer is `expected`. */
function run(
  count: number,
  op: (i: number) => Parameters<NodeHost["submit"]>[0],
  expected: number,
) {
  let next = 0;
  let answered = 0;
  let inflight = 0;
  while (answered < count) {
    while (inflight < 2_000 && next < count) {
      inflight++;
      host.submit(op(next++), (response) => {
        if (response.type !== expected) throw new Error(`answered ${JSON.stringify(response)}`);
        inflight--;
        answered++;
      });
    }
    step();
  }
}

const report = (phase: string) => {
  const { heapMB, rssMB } = heapAfterGc();
  console.log(
    `${phase.padEnd(38)} heap ${heapMB.toFixed(1).padStart(7)} MB  rss ${
      rssMB.toFixed(0).padStart(5)
    } MB  records ${records()}`,
  );
  return heapMB;
};

report("empty node");
// The fair reference: a node whose log tail (the entries kept behind each snapshot) is full,
// but that holds few records: 40,000 lock/unlock cycles on 64 resources.
const warm = (i: number) => `warm/${i % 64}`;
for (let round = 0; round < 20_000 / 64; round++) {
  run(64, (i) => ({
    op: "tryLock",
    resource: warm(i),
    owner: "w",
    expiresMs: 600_000,
    durability: Durability.Persistent,
  }), ResponseType.Locked);
  run(
    64,
    (i) => ({ op: "unlock", resource: warm(i), owner: "w", durability: Durability.Persistent }),
    ResponseType.Unlocked,
  );
}
const empty = report("idle node, log tail full (reference)");
const name = (i: number) => `jobs/report-${i}`;
const started = performance.now();
run(locks, (i) => ({
  op: "tryLock",
  resource: name(i),
  owner: `w${i}`,
  expiresMs: 600_000,
  durability: Durability.Persistent,
}), ResponseType.Locked);
report(`${locks} locks held`);
run(
  locks,
  (i) => ({ op: "unlock", resource: name(i), owner: `w${i}`, durability: Durability.Persistent }),
  ResponseType.Unlocked,
);
const released = report(`${locks} locks released (before the sweep)`);
const sweepFrom = performance.now();
nowMs += graceMs;
const graceEndMs = nowMs;
let sweptAtMs = nowMs;
while (records() > 64) {
  step();
  sweptAtMs = nowMs;
}
const sweepSeconds = (performance.now() - sweepFrom) / 1000;
const after = report("after the sweep");
console.log(
  `sweep: ${((sweptAtMs - graceEndMs) / 1000).toFixed(1)} s of node clock after the grace, ` +
    `${sweepSeconds.toFixed(1)} s of CPU here; taking and releasing took ` +
    `${((sweepFrom - started) / 1000).toFixed(1)} s`,
);
console.log(
  `heap after the sweep: ${(after / empty).toFixed(2)}x the reference's ` +
    `(released, not swept: ${(released / empty).toFixed(1)}x)`,
);

/**
 * The runner against in-process targets (no server): counting rules, warm-up, errors. The
 * real-server runs are in test/bench/bench.test.ts.
 */
import { expect, test } from "bun:test";
import { MemoryLockService } from "../http/memory-lock-service.ts";
import { Durability, type LockRequest, type LockResponse, ResponseType } from "../locks/types.ts";
import { type BenchConfig, type BenchResult, runBench } from "./runner.ts";
import type { BenchTarget } from "./target.ts";

const base: BenchConfig = {
  workload: "lock-unlock",
  durability: Durability.Ephemeral,
  concurrency: 4,
  durationMs: 150,
  warmupMs: 0,
  keyspace: 1_000,
  leaseMs: 10_000,
};

/** The in-memory lock rules, answered on a later turn of the event loop like a socket would. */
function memoryTarget(
  answer?: (request: LockRequest) => LockResponse | Error | undefined,
): BenchTarget & { readonly requests: LockRequest[] } {
  const service = new MemoryLockService(() => performance.now());
  const requests: LockRequest[] = [];
  return {
    name: "memory",
    requests,
    client: () => ({
      execute: (request) =>
        new Promise((resolve, reject) =>
          setImmediate(() => {
            requests.push(request);
            const special = answer?.(request);
            if (special instanceof Error) reject(special);
            else resolve(special ?? service.apply(request));
          })
        ),
    }),
    close: async () => {},
  };
}

function expectCountsAddUp(result: BenchResult): void {
  const ops = Object.values(result.byOp);
  expect(ops.reduce((sum, op) => sum + op.count, 0)).toBe(result.ops);
  expect(ops.reduce((sum, op) => sum + op.errors, 0)).toBe(result.errors);
  expect(Object.values(result.outcomes).reduce((a, b) => a + b, 0)).toBe(result.ops);
  expect(result.latency.count).toBe(result.ops);
}

test("lock-unlock: every request is counted once, and every lock taken is released", async () => {
  const target = memoryTarget();
  const result = await runBench(target, base);
  expectCountsAddUp(result);
  expect(result.ops).toBe(target.requests.length);
  expect(result.outcomes["locked"]).toBe(result.outcomes["unlocked"]);
  expect(result.cycles).toBe(result.outcomes["unlocked"]!);
  expect(result.errors).toBe(0);
  // Every lock name carries the run's own prefix.
  expect(new Set(target.requests.map((r) => r.resource.split("/")[1])).size).toBe(1);
});

test("requests completing during the warm-up are neither counted nor timed", async () => {
  const target = memoryTarget();
  const result = await runBench(target, { ...base, warmupMs: 100, durationMs: 100 });
  expectCountsAddUp(result);
  expect(result.ops).toBeGreaterThan(0);
  expect(result.ops).toBeLessThan(target.requests.length);
});

test("a rejected request and a MustRetry answer are errors, with samples of their messages", async () => {
  let n = 0;
  const target = memoryTarget((request) => {
    n += 1;
    if (request.op !== "tryLock") return undefined;
    if (n % 3 === 0) return new Error("connection reset");
    if (n % 3 === 1) return { type: ResponseType.MustRetry, fencingToken: 0, error: "no leader" };
    return undefined;
  });
  const result = await runBench(target, base);
  expectCountsAddUp(result);
  expect(result.errors).toBeGreaterThan(0);
  expect(result.outcomes["error"]).toBe(result.errors);
  expect(result.byOp.unlock?.errors ?? 0).toBe(0);
  expect(result.errorSamples.some((s) => s.includes("connection reset"))).toBe(true);
  expect(result.errorSamples.some((s) => s.includes("mustRetry: no leader"))).toBe(true);
  // A failed TryLock is never followed by an Unlock.
  expect(result.outcomes["unlocked"]).toBe(result.outcomes["locked"]);
});

test("extend holds each lock for up to eight extends; get reads held and free keys", async () => {
  const extend = await runBench(memoryTarget(), { ...base, workload: "extend" });
  expectCountsAddUp(extend);
  expect(extend.byOp.extend!.count).toBeGreaterThan(extend.byOp.tryLock!.count);
  expect(extend.byOp.extend!.count).toBeLessThanOrEqual(8 * extend.byOp.tryLock!.count);
  const get = await runBench(memoryTarget(), { ...base, workload: "get", keyspace: 50 });
  expectCountsAddUp(get);
  expect(get.outcomes["got"]).toBeGreaterThan(0);
  expect(get.outcomes["lockDoesNotExist"]).toBeGreaterThan(0);
});

test("a target that answers on the same turn still ends on time and leaves the warm-up", async () => {
  const service = new MemoryLockService(() => performance.now());
  const target: BenchTarget = {
    name: "sync",
    client: () => ({ execute: (request) => service.execute(request) }),
    close: async () => {},
  };
  const started = performance.now();
  const result = await runBench(target, { ...base, warmupMs: 30, durationMs: 60 });
  expect(performance.now() - started).toBeLessThan(2_000);
  expect(result.ops).toBeGreaterThan(0);
  expectCountsAddUp(result);
});

test("queue-poll: a Busy lock is tried again after a pause, and hand-offs are timed", async () => {
  const target = memoryTarget();
  const result = await runBench(target, {
    ...base,
    workload: "queue-poll",
    concurrency: 3,
    keyspace: 1,
    durationMs: 700,
  });
  expectCountsAddUp(result);
  expect(result.errors).toBe(0);
  expect(result.cycles).toBe(result.outcomes["unlocked"]!);
  expect(result.outcomes["busy"]).toBeGreaterThan(0);
  // Only grants of requests sent before the release they follow are hand-offs.
  expect(result.handoff!.count).toBeGreaterThan(0);
  expect(result.handoff!.count).toBeLessThanOrEqual(result.cycles);
  // Nobody holds the lock between cycles: a waiter gets it within a poll or so.
  expect(result.handoff!.p50Ms).toBeLessThan(250);
});

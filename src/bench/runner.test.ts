/**
 * The runner against in-process targets (no server): counting rules, warm-up, errors. The
 * real-server runs are in test/bench/bench.test.ts.
 */
import { expect, test } from "bun:test";
import { MemoryLockService } from "../http/memory-lock-service.ts";
import { EphemeralLocks } from "../locks/ephemeral-locks.ts";
import {
  Durability,
  type LockOpRequest,
  type LockRequest,
  type LockResponse,
  ResponseType,
} from "../locks/types.ts";
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

const busy: LockResponse = { type: ResponseType.Busy, fencingToken: 0 };

type Waiter = {
  readonly request: LockOpRequest;
  readonly answer: (response: LockResponse) => void;
  timer?: ReturnType<typeof setTimeout>;
};

/**
 * The lock rules of a leader's ephemeral table (which, unlike MemoryLockService, grants shared
 * locks) behind a waiting line like the server's (docs/spec.md §2.5): a TryLock with waitMs
 * that is Busy, or finds others waiting, waits first come first served until a release lets it
 * in (its grant is answered `handoffMs` later) or its waitMs runs out. `mostHeld` is the most
 * holders one lock had at once.
 */
function linedTarget(handoffMs: number): BenchTarget & { readonly mostHeld: () => number } {
  const locks = new EphemeralLocks(0);
  const lines = new Map<string, Waiter[]>();
  let mostHeld = 0;
  const lineOf = (resource: string): Waiter[] => {
    const line = lines.get(resource) ?? [];
    lines.set(resource, line);
    return line;
  };
  const decide = (request: LockOpRequest): LockResponse => {
    const response = locks.execute(request, performance.now());
    if (response.type === ResponseType.Locked) {
      const holders = locks.record(request.resource)?.holders?.length ?? 1;
      mostHeld = Math.max(mostHeld, holders);
    }
    return response;
  };
  /** After a release: grants the line's first waiters for as long as the rules let them in. */
  const admit = (line: Waiter[]): void => {
    while (line.length > 0) {
      const response = decide(line[0]!.request);
      if (response.type === ResponseType.Busy) return;
      const waiter = line.shift()!;
      clearTimeout(waiter.timer);
      setTimeout(() => waiter.answer(response), handoffMs);
    }
  };
  const arrive = (waiter: Waiter): void => {
    const { request } = waiter;
    const line = lineOf(request.resource);
    const waitMs = request.op === "tryLock" ? request.waitMs : undefined;
    const response = waitMs !== undefined && line.length > 0 ? busy : decide(request);
    if (waitMs !== undefined && response.type === ResponseType.Busy) {
      line.push(waiter);
      waiter.timer = setTimeout(() => {
        line.splice(line.indexOf(waiter), 1);
        waiter.answer(busy);
      }, waitMs);
      return;
    }
    waiter.answer(response);
    if (response.type === ResponseType.Unlocked) admit(line);
  };
  return {
    name: "lined",
    mostHeld: () => mostHeld,
    client: () => ({
      execute: (request) =>
        new Promise((answer) => setImmediate(() => arrive({ request, answer }))),
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

test("queue and semaphore wait in line for one grant or up to limit; each release is timed to its grant", async () => {
  const handoffMs = 20;
  for (const [workload, limit] of [["queue", undefined], ["semaphore", 2]] as const) {
    const target = linedTarget(handoffMs);
    const result = await runBench(target, {
      ...base,
      workload,
      concurrency: 5,
      keyspace: 1,
      durationMs: 400,
      ...(limit === undefined ? {} : { limit }),
    });
    expectCountsAddUp(result);
    expect(result.errors).toBe(0);
    expect(result.outcomes["busy"]).toBeUndefined();
    expect(result.cycles).toBe(result.outcomes["unlocked"]!);
    expect(result.limit).toBe(limit);
    expect(target.mostHeld()).toBe(limit ?? 1);
    // Five clients for one or two places: nearly every grant goes to a client that waited.
    expect(result.handoff!.count).toBeGreaterThan(result.cycles / 2);
    expect(result.handoff!.count).toBeLessThanOrEqual(result.cycles);
    // Each release is timed to the grant that took its place, handoffMs later, not to the
    // semaphore's other holder's release (this twin admits both, so they release together).
    expect(result.handoff!.p50Ms).toBeGreaterThanOrEqual(0.9 * handoffMs);
    expect(result.handoff!.p50Ms).toBeLessThan(2 * handoffMs);
  }
});

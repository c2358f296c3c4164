/**
 * Runs one benchmark: `concurrency` workers, each a client that waits for every answer
 * before sending its next request (a closed loop), drive a workload against a target for a
 * fixed time, and every request's latency is recorded.
 *
 * Counting rules, which the tests check add up:
 * - An op is one request. `ops` = Σ byOp[op].count = Σ outcomes (errors included).
 * - A cycle is one workload unit done to the end (lock-unlock: a lock taken then released).
 * - Requests that complete during the warm-up are neither counted nor timed.
 * - After the deadline a worker starts nothing new except the unlock of a lock it holds.
 * - queue, queue-poll and semaphore also time each hand-off: from the moment a holder sends its
 *   Unlock to the moment the next holder has its grant, for a grant whose request was sent
 *   before that Unlock (it was waiting). queue waits in the server's line (waitMs); queue-poll
 *   retries a Busy TryLock every pollMs, as clients had to before the server queued; semaphore
 *   waits in line for one of `limit` places, so each Unlock is paired with the next grant that
 *   took the place it freed (not merely with the lock's latest Unlock).
 */
import { assert } from "../assert.ts";
import { randomOwner } from "../client/owner.ts";
import {
  type Durability,
  type LockOp,
  type LockOpRequest,
  type LockResponse,
  ResponseType,
} from "../locks/types.ts";
import { LatencyHistogram, type LatencySummary } from "./histogram.ts";
import type { BenchClient, BenchTarget } from "./target.ts";

export const workloadNames = [
  "lock-unlock",
  "contended",
  "extend",
  "get",
  "queue",
  "queue-poll",
  "semaphore",
] as const;
export type WorkloadName = (typeof workloadNames)[number];

export type BenchConfig = {
  readonly workload: WorkloadName;
  readonly durability: Durability;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly keyspace: number;
  /** Lease of every lock the benchmark takes. */
  readonly leaseMs: number;
  /** Set for semaphore alone, which needs it: the most holders of one lock at once (`limit`). */
  readonly limit?: number;
};

export type OpSummary = {
  readonly count: number;
  readonly errors: number;
  readonly latency: LatencySummary;
};

export type BenchResult = {
  readonly workload: WorkloadName;
  readonly target: string;
  readonly durability: "ephemeral" | "persistent";
  readonly concurrency: number;
  readonly keyspace: number;
  /** semaphore: the most holders of one lock at once. */
  readonly limit?: number;
  /** Measured time: from the end of the warm-up to the last worker's last answer. */
  readonly elapsedMs: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly cycles: number;
  readonly cyclesPerSec: number;
  readonly errors: number;
  /** Up to five distinct error messages, to say what went wrong. */
  readonly errorSamples: readonly string[];
  /** Answers by name (locked, busy, …) plus "error" for requests without a usable answer. */
  readonly outcomes: Readonly<Record<string, number>>;
  readonly latency: LatencySummary;
  readonly byOp: Readonly<Partial<Record<LockOp, OpSummary>>>;
  /** queue, queue-poll and semaphore: release → next grant of the same lock. */
  readonly handoff?: LatencySummary;
};

export type Progress = {
  readonly elapsedMs: number;
  readonly ops: number;
  readonly errors: number;
  readonly opsPerSec: number;
};

const outcomeNames: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(ResponseType).map((
    [name, type],
  ) => [type, name[0]!.toLowerCase() + name.slice(1)]),
);
const errorTypes: ReadonlySet<number> = new Set([
  ResponseType.Errored,
  ResponseType.InvalidInput,
  ResponseType.MustRetry,
  ResponseType.Indeterminate,
  ResponseType.Unauthorized,
  ResponseType.Forbidden,
]);
/** A worker pauses this long after an error, so a dead server is not hammered in a spin. */
const errorPauseMs = 10;
const progressEveryMs = 1_000;
/** Locks the get workload holds while it reads: every other key, up to this many. */
const getHeldMax = 1_000;
const extendsPerCycle = 8;
/** queue and semaphore: the wait one TryLock asks for; a Busy after it is tried again. */
export const queueWaitMs = 5_000;
/** queue-poll: the pause between tries of a Busy lock (what the client did before queueing). */
export const pollMs = 100;

/**
 * One lock's turns as the clients see them: how many hold it (grants answered less Unlocks
 * sent, never more than the server's count) and when the Unlocks were sent whose freed places
 * no grant has taken yet, oldest first: never more of those than places free.
 */
type Turns = { holders: number; readonly releasesMs: number[] };

class Recorder {
  #measuring = false;
  readonly histograms = new Map<LockOp, LatencyHistogram>();
  readonly opErrors = new Map<LockOp, number>();
  readonly outcomes = new Map<string, number>();
  readonly errorSamples = new Set<string>();
  readonly handoff = new LatencyHistogram();
  readonly #turns = new Map<string, Turns>();
  ops = 0;
  errors = 0;
  cycles = 0;

  /**
   * Measuring starts at `measureFromMs` (read from the clock, so no timer has to fire). A lock
   * admits `places` holders at once: 1, or a semaphore's limit.
   */
  constructor(private readonly measureFromMs: number, private readonly places: number) {}

  get measuring(): boolean {
    this.#measuring ||= performance.now() >= this.measureFromMs;
    return this.#measuring;
  }

  record(op: LockOp, latencyMs: number, outcome: string, error: string | undefined): void {
    if (!this.measuring) return;
    let histogram = this.histograms.get(op);
    if (histogram === undefined) {
      histogram = new LatencyHistogram();
      this.histograms.set(op, histogram);
    }
    histogram.recordMs(latencyMs);
    this.ops += 1;
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    if (error === undefined) return;
    this.errors += 1;
    this.opErrors.set(op, (this.opErrors.get(op) ?? 0) + 1);
    if (this.errorSamples.size < 5) this.errorSamples.add(error.slice(0, 200));
  }

  cycle(): void {
    if (this.measuring) this.cycles += 1;
  }

  /** A holder of `resource` sent its Unlock at `releasedMs`. */
  released(resource: string, releasedMs: number): void {
    const turns = this.#turnsOf(resource);
    turns.holders -= 1;
    turns.releasesMs.push(releasedMs);
  }

  /**
   * A grant of `resource` whose request was sent at `sentMs` arrived at `grantedMs`. It must have
   * taken a place a pending Unlock freed only when fewer places are left free than Unlocks are
   * pending; then the oldest one's (the server's line grants in order), and it is a hand-off
   * when its request was sent before that Unlock. Kept even during the warm-up, so that the
   * pairs stay in step.
   */
  granted(resource: string, sentMs: number, grantedMs: number): void {
    const turns = this.#turnsOf(resource);
    turns.holders += 1;
    if (turns.releasesMs.length <= this.places - turns.holders) return;
    const releasedMs = turns.releasesMs.shift();
    if (!this.measuring || releasedMs === undefined || releasedMs < sentMs) return;
    this.handoff.recordMs(grantedMs - releasedMs);
  }

  #turnsOf(resource: string): Turns {
    let turns = this.#turns.get(resource);
    if (turns === undefined) {
      turns = { holders: 0, releasesMs: [] };
      this.#turns.set(resource, turns);
    }
    return turns;
  }
}

type Worker = {
  readonly client: BenchClient;
  readonly owner: string;
  readonly recorder: Recorder;
  readonly config: BenchConfig;
  readonly key: (index: number) => string;
  readonly endMs: number;
};

/** Sends one request and records it; returns the answer, or undefined when there was none. */
async function step(worker: Worker, request: LockOpRequest): Promise<LockResponse | undefined> {
  const started = performance.now();
  let response: LockResponse;
  try {
    response = await worker.client.execute(request);
  } catch (error) {
    worker.recorder.record(request.op, performance.now() - started, "error", String(error));
    await sleep(errorPauseMs);
    return undefined;
  }
  const latencyMs = performance.now() - started;
  if (errorTypes.has(response.type)) {
    const name = outcomeNames[response.type] ?? String(response.type);
    worker.recorder.record(request.op, latencyMs, "error", `${name}: ${response.error ?? ""}`);
    await sleep(errorPauseMs);
    return undefined;
  }
  worker.recorder.record(
    request.op,
    latencyMs,
    outcomeNames[response.type] ?? String(response.type),
    undefined,
  );
  return response;
}

function randomKey(worker: Worker): string {
  return worker.key(Math.floor(Math.random() * worker.config.keyspace));
}

/** lock-unlock and contended: TryLock a random key; when it is ours, Unlock it. */
async function lockUnlockCycle(worker: Worker): Promise<void> {
  const { owner, config } = worker;
  const resource = randomKey(worker);
  const { durability, leaseMs: expiresMs } = config;
  const locked = await step(worker, { op: "tryLock", resource, owner, expiresMs, durability });
  if (locked?.type !== ResponseType.Locked) return;
  const unlocked = await step(worker, { op: "unlock", resource, owner, durability });
  if (unlocked?.type === ResponseType.Unlocked) worker.recorder.cycle();
}

/** extend: TryLock a random key, Extend it eight times while it stays ours, Unlock it. */
async function extendCycle(worker: Worker): Promise<void> {
  const { owner, config } = worker;
  const resource = randomKey(worker);
  const { durability, leaseMs: expiresMs } = config;
  const locked = await step(worker, { op: "tryLock", resource, owner, expiresMs, durability });
  if (locked?.type !== ResponseType.Locked) return;
  for (let i = 0; i < extendsPerCycle && performance.now() < worker.endMs; i++) {
    const extended = await step(worker, { op: "extend", resource, owner, expiresMs, durability });
    if (extended?.type !== ResponseType.Extended) break;
  }
  const unlocked = await step(worker, { op: "unlock", resource, owner, durability });
  if (unlocked?.type === ResponseType.Unlocked) worker.recorder.cycle();
}

/** get: one Get of a random key; every other key among the first 2,000 is held. */
async function getCycle(worker: Worker): Promise<void> {
  const answer = await step(worker, {
    op: "get",
    resource: randomKey(worker),
    durability: worker.config.durability,
  });
  if (answer !== undefined) worker.recorder.cycle();
}

/**
 * queue, queue-poll and semaphore: take a random one of a few hot locks (semaphore: one of its
 * `limit` shared grants), waiting for it (in the server's line, or by polling), then Unlock it
 * at once, noting when, so the next holder's hand-off is timed.
 */
async function queueCycle(worker: Worker, poll: boolean): Promise<void> {
  const { owner, config, recorder } = worker;
  const resource = randomKey(worker);
  const { durability, leaseMs: expiresMs, limit } = config;
  const request: LockOpRequest = {
    op: "tryLock",
    resource,
    owner,
    expiresMs,
    durability,
    ...(poll ? {} : { waitMs: queueWaitMs }),
    ...(limit === undefined ? {} : { limit }),
  };
  const firstSentMs = performance.now();
  for (;;) {
    const locked = await step(worker, request);
    if (locked?.type === ResponseType.Locked) {
      recorder.granted(resource, firstSentMs, performance.now());
      break;
    }
    if (performance.now() >= worker.endMs) return;
    if (poll && locked?.type === ResponseType.Busy) await sleep(pollMs);
  }
  recorder.released(resource, performance.now());
  const unlocked = await step(worker, { op: "unlock", resource, owner, durability });
  if (unlocked?.type === ResponseType.Unlocked) recorder.cycle();
}

const cycles: Readonly<Record<WorkloadName, (worker: Worker) => Promise<void>>> = {
  "lock-unlock": lockUnlockCycle,
  contended: lockUnlockCycle,
  extend: extendCycle,
  get: getCycle,
  queue: (worker) => queueCycle(worker, false),
  "queue-poll": (worker) => queueCycle(worker, true),
  semaphore: (worker) => queueCycle(worker, false),
};

/** The workloads that time hand-offs. */
const handoffWorkloads: ReadonlySet<WorkloadName> = new Set(["queue", "queue-poll", "semaphore"]);

export async function runBench(
  target: BenchTarget,
  config: BenchConfig,
  onProgress?: (progress: Progress) => void,
): Promise<BenchResult> {
  assert(config.concurrency >= 1 && config.keyspace >= 1, "a run has workers and keys");
  assert(config.durationMs >= 1 && config.warmupMs >= 0, "a run lasts at least 1 ms");
  assert(
    (config.limit !== undefined) === (config.workload === "semaphore"),
    "a limit is for the semaphore workload, which needs one",
  );
  // A fresh prefix per run: locks left behind by an earlier run never make this one busy.
  const prefix = `bench/${randomOwner().slice(0, 8)}/`;
  const key = (index: number) => `${prefix}${index}`;
  const held = config.workload === "get" ? await holdForGets(target, config, key) : [];
  const startedMs = performance.now();
  const measureFromMs = startedMs + config.warmupMs;
  const endMs = measureFromMs + config.durationMs;
  const recorder = new Recorder(measureFromMs, config.limit ?? 1);
  const progress = startProgress(recorder, measureFromMs, onProgress);
  const cycle = cycles[config.workload];
  const workers = Array.from({ length: config.concurrency }, async (_, index) => {
    const worker: Worker = {
      client: target.client(index),
      owner: randomOwner(),
      recorder,
      config,
      key,
      endMs,
    };
    while (performance.now() < endMs) await cycle(worker);
    return performance.now();
  });
  const finishedMs = Math.max(...await Promise.all(workers));
  clearInterval(progress);
  await releaseHeld(target, config, held);
  return summarize(target, config, recorder, finishedMs - measureFromMs);
}

function startProgress(
  recorder: Recorder,
  measureFromMs: number,
  onProgress?: (p: Progress) => void,
) {
  let lastOps = 0;
  let lastMs = measureFromMs;
  return setInterval(() => {
    const nowMs = performance.now();
    if (onProgress === undefined || nowMs < measureFromMs) return;
    const opsPerSec = (recorder.ops - lastOps) / ((nowMs - lastMs) / 1000);
    lastOps = recorder.ops;
    lastMs = nowMs;
    onProgress({
      elapsedMs: nowMs - measureFromMs,
      ops: recorder.ops,
      errors: recorder.errors,
      opsPerSec,
    });
  }, progressEveryMs);
}

type Held = { readonly resource: string; readonly owner: string };

async function holdForGets(
  target: BenchTarget,
  config: BenchConfig,
  key: (i: number) => string,
): Promise<Held[]> {
  const owner = randomOwner();
  const count = Math.min(getHeldMax, Math.ceil(config.keyspace / 2));
  const held: Held[] = [];
  const client = target.client(0);
  for (let start = 0; start < count; start += 64) {
    const batch = Array.from(
      { length: Math.min(64, count - start) },
      (_, i) => key(2 * (start + i)),
    );
    const answers = await Promise.all(
      batch.map((resource) =>
        client.execute({
          op: "tryLock",
          resource,
          owner,
          expiresMs: 10 * 60_000,
          durability: config.durability,
        })
          .catch(() => undefined)
      ),
    );
    answers.forEach((answer, i) => {
      if (answer?.type === ResponseType.Locked) held.push({ resource: batch[i]!, owner });
    });
  }
  return held;
}

async function releaseHeld(
  target: BenchTarget,
  config: BenchConfig,
  held: readonly Held[],
): Promise<void> {
  const client = target.client(0);
  for (let start = 0; start < held.length; start += 64) {
    await Promise.all(
      held.slice(start, start + 64).map(({ resource, owner }) =>
        client.execute({ op: "unlock", resource, owner, durability: config.durability }).catch(() =>
          undefined
        )
      ),
    );
  }
}

function summarize(
  target: BenchTarget,
  config: BenchConfig,
  recorder: Recorder,
  elapsedMs: number,
): BenchResult {
  const all = new LatencyHistogram();
  const byOp: Partial<Record<LockOp, OpSummary>> = {};
  for (const [op, histogram] of [...recorder.histograms].sort(([a], [b]) => a.localeCompare(b))) {
    all.merge(histogram);
    byOp[op] = {
      count: histogram.count,
      errors: recorder.opErrors.get(op) ?? 0,
      latency: histogram.summary(),
    };
  }
  const seconds = Math.max(elapsedMs, 1) / 1000;
  return {
    workload: config.workload,
    target: target.name,
    durability: config.durability === 0 ? "ephemeral" : "persistent",
    concurrency: config.concurrency,
    keyspace: config.keyspace,
    ...(config.limit === undefined ? {} : { limit: config.limit }),
    elapsedMs: Math.round(elapsedMs),
    ops: recorder.ops,
    opsPerSec: Math.round(recorder.ops / seconds),
    cycles: recorder.cycles,
    cyclesPerSec: Math.round(recorder.cycles / seconds),
    errors: recorder.errors,
    errorSamples: [...recorder.errorSamples],
    outcomes: Object.fromEntries([...recorder.outcomes].sort(([a], [b]) => a.localeCompare(b))),
    latency: all.summary(),
    byOp,
    ...(handoffWorkloads.has(config.workload) ? { handoff: recorder.handoff.summary() } : {}),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

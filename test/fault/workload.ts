/**
 * Clients for the fault runs. Each client is one async loop, bounded by the run's end time;
 * every HTTP attempt is recorded in the history (history.ts) with times on this process's
 * monotonic clock. Clients behave as the client library does: a MustRetry or an unreachable
 * node is retried on another node, an unknown outcome is retried with the same owner
 * (TryLock is idempotent), and a definite "no" is accepted.
 *
 * Workloads (issue 5):
 * (a) hot: a few resources in both durabilities; holders with short leases acquire, write
 *     their fencing token to the fenced store, sometimes extend and write again, then release
 *     or abandon the lease;
 * (b) durable: persistent locks with long leases on fresh resources, some released; all are
 *     read back after the final full-cluster restart;
 * (c) reads: Gets mixed into both;
 * (d) shared (docs/spec.md §2.8): the hot clients also take two shared locks, a semaphore of
 *     2 and readers of a read-write lock, each taken exclusively now and then (a writer).
 *     Shared holders do not write to the fenced store: it takes one writer at a time.
 */
import { sharedLimitMax } from "../../src/constants.ts";
import { Durability, type LockOpRequest, ResponseType } from "../../src/locks/types.ts";
import type { FencedWrite, OpRecord } from "../checkers/history.ts";
import { keyOf, relianceEndMs } from "../checkers/history.ts";

/** A deterministic PRNG (mulberry32), so a seed picks the same choices in every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const now = () => performance.now();
const sleep = (ms: number) => Bun.sleep(Math.max(0, ms));

const paths = {
  tryLock: "try-lock",
  unlock: "try-unlock",
  extend: "try-extend",
  get: "get-info",
} as const;

export type Target = {
  readonly id: string;
  readonly url: string;
  /** The CA of the node's HTTPS certificate, when it serves HTTPS. */
  readonly ca?: string | undefined;
};

/** The store a holder protects: it refuses a token lower than the highest it has seen. */
export class FencedStore {
  private readonly highest = new Map<string, number>();
  readonly writes: FencedWrite[] = [];

  write(key: string, owner: string, fencingToken: number, reliedUntilMs: number): boolean {
    const storedToken = this.highest.get(key) ?? -1;
    const accepted = fencingToken >= storedToken;
    if (accepted) this.highest.set(key, fencingToken);
    this.writes.push({
      key,
      owner,
      fencingToken,
      atMs: now(),
      accepted,
      storedToken,
      reliedUntilMs,
    });
    return accepted;
  }
}

export class Recorder {
  readonly history: OpRecord[] = [];
  /** Answers that should never happen: 400 (a harness bug) and 500 (a server bug). */
  readonly oddities: string[] = [];
  private nextId = 0;

  constructor(readonly requestTimeoutMs = 8_000) {}

  /** One HTTP attempt, recorded. */
  async attempt(
    client: string,
    target: Target,
    request: LockOpRequest,
    leaseFromMs?: number,
  ): Promise<OpRecord> {
    const owner = request.op === "get" ? "" : request.owner;
    const expiresMs = request.op === "tryLock" || request.op === "extend" ? request.expiresMs : 0;
    const sendMs = now();
    const record: OpRecord = {
      id: this.nextId++,
      client,
      op: request.op,
      resource: request.resource,
      durability: request.durability,
      owner,
      expiresMs,
      ...(request.op === "tryLock" && request.limit !== undefined ? { limit: request.limit } : {}),
      sendMs,
      leaseFromMs: leaseFromMs ?? sendMs,
      ackMs: sendMs,
      outcome: "unknown",
      type: undefined,
      fencingToken: 0,
      gotOwner: undefined,
      node: target.id,
    };
    this.history.push(record);
    const { op: _op, ...body } = request;
    try {
      const response = await fetch(`${target.url}/v1/locks/${paths[request.op]}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.requestTimeoutMs),
        ...(target.ca === undefined ? {} : { tls: { ca: target.ca } }),
      });
      const answer = await response.json() as {
        type: number;
        fencingToken: number;
        owner?: string | null;
        error?: string;
        holders?: { owner: string; fencingToken: number }[];
      };
      if (response.status !== 200) record.note = `${response.status} ${answer.error ?? ""}`;
      record.ackMs = now();
      if (response.status === 200) {
        record.outcome = "ok";
        record.type = answer.type as ResponseType;
        record.fencingToken = answer.fencingToken;
        if (answer.type === ResponseType.Got && typeof answer.owner === "string") {
          record.gotOwner = answer.owner;
        }
        if (answer.type === ResponseType.Got && Array.isArray(answer.holders)) {
          record.gotHolders = answer.holders;
        }
      } else if (response.status === 503) {
        record.outcome = "failed";
      } else if (response.status === 504) {
        record.outcome = "unknown";
      } else {
        record.outcome = response.status === 400 ? "failed" : "unknown";
        this.oddities.push(
          `${response.status} ${JSON.stringify(answer)} for ${JSON.stringify(request)}`,
        );
      }
    } catch (error) {
      record.ackMs = now();
      // Refused before anything was sent: certainly not run. Anything else may have run.
      const text = String((error as { code?: string }).code ?? error);
      record.note = text;
      record.outcome = /ECONNREFUSED|ConnectionRefused/i.test(text) ? "failed" : "unknown";
    }
    return record;
  }
}

export type ClientContext = {
  readonly recorder: Recorder;
  readonly targets: () => readonly Target[];
  readonly endAtMs: number;
  readonly random: () => number;
  readonly name: string;
};

function hex32(random: () => number): string {
  let s = "";
  for (let i = 0; i < 32; i++) s += Math.floor(random() * 16).toString(16);
  return s;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/**
 * Sends a request until it gets a definite answer, retrying on other nodes (same owner), for
 * at most `deadlineMs` and never past the run's end. The last attempt's record, and the
 * first send (where a lease may count from).
 */
export async function settle(
  ctx: ClientContext,
  request: LockOpRequest,
  deadlineMs = 15_000,
  stopAtMs = ctx.endAtMs,
  trustMustRetry = false,
): Promise<{ last: OpRecord; firstSendMs: number }> {
  const started = now();
  let firstSendMs = -1;
  for (let attempt = 0;; attempt++) {
    const target = pick(ctx.random, ctx.targets());
    const leaseFrom = firstSendMs === -1 ? undefined : firstSendMs;
    const record = await ctx.recorder.attempt(
      ctx.name,
      target,
      request,
      request.op === "tryLock" ? leaseFrom : undefined,
    );
    if (firstSendMs === -1) firstSendMs = record.sendMs;
    if (record.outcome === "ok") return { last: record, firstSendMs };
    // A client that takes 503 at its word ("certainly not done") moves on, so a 503 for a
    // request that did run leaves a holder the history does not know, and the checkers see it.
    if (trustMustRetry && record.note?.startsWith("503") === true) {
      return { last: record, firstSendMs };
    }
    if (now() - started > deadlineMs || now() > stopAtMs || attempt >= 200) {
      return { last: record, firstSendMs };
    }
    await sleep(30 + ctx.random() * 120);
  }
}

export const hotLeasesMs = [300, 800, 1_500, 3_000] as const;

/** The shared locks of workload (d): a semaphore and a read-write lock's readers. */
export const sharedLocks = [
  { name: "shared/semaphore", limit: 2, exclusiveChance: 0.25 },
  { name: "shared/readers", limit: sharedLimitMax, exclusiveChance: 0.4 },
] as const;

/** Workload (a) with (c): holders on a few hot resources, both durabilities, and reads. */
export async function hotClient(
  ctx: ClientContext,
  resources: readonly string[],
  store: FencedStore,
): Promise<void> {
  const r = ctx.random;
  const names = [...resources, ...sharedLocks.map((s) => s.name)];
  while (now() < ctx.endAtMs) {
    const resource = pick(r, names);
    const durability = r() < 0.5 ? Durability.Ephemeral : Durability.Persistent;
    if (r() < 0.15) {
      await settle(ctx, { op: "get", resource, durability }, 5_000);
      continue;
    }
    const owner = hex32(r);
    const expiresMs = pick(r, hotLeasesMs);
    const trusting = r() < 0.3;
    // A third wait in the lock's line (docs/spec.md §2.5) instead of answering Busy at once.
    const waitMs = r() < 0.3 ? Math.floor(100 + r() * 1_900) : 0;
    const share = sharedLocks.find((s) => s.name === resource);
    const limit = share !== undefined && r() >= share.exclusiveChance ? share.limit : undefined;
    const request = {
      op: "tryLock",
      resource,
      owner,
      expiresMs,
      durability,
      ...(waitMs > 0 ? { waitMs } : {}),
      ...(limit === undefined ? {} : { limit }),
    } as const;
    const { last, firstSendMs } = await settle(ctx, request, 15_000, ctx.endAtMs, trusting);
    if (last.outcome !== "ok" || last.type !== ResponseType.Locked) {
      // Busy (or no answer): back off a little. An unknown grant is left to expire.
      await sleep(20 + r() * 80);
      continue;
    }
    await hold(ctx, {
      resource,
      durability,
      owner,
      expiresMs,
      token: last.fencingToken,
      firstSendMs,
      shared: limit !== undefined,
    }, store);
  }
}

async function hold(
  ctx: ClientContext,
  held: {
    resource: string;
    durability: Durability;
    owner: string;
    expiresMs: number;
    token: number;
    firstSendMs: number;
    shared: boolean;
  },
  store: FencedStore,
): Promise<void> {
  const r = ctx.random;
  const { resource, durability, owner, expiresMs, token } = held;
  const key = keyOf(held);
  let reliedUntil = relianceEndMs(held.firstSendMs, expiresMs);
  // A careful holder writes only while it can still rely on its lease (a shared one not at all).
  const write = () => {
    if (!held.shared && now() < reliedUntil) store.write(key, owner, token, reliedUntil);
  };
  write();
  await sleep(expiresMs * (0.1 + r() * 0.4));
  if (r() < 0.5 && now() < ctx.endAtMs) {
    const { last } = await settle(
      ctx,
      { op: "extend", resource, owner, expiresMs, durability },
      expiresMs,
    );
    if (last.outcome === "ok" && last.type === ResponseType.Extended) {
      reliedUntil = relianceEndMs(last.sendMs, expiresMs);
      write();
      await sleep(expiresMs * r() * 0.3);
    }
  }
  if (r() < 0.85) {
    // Released late (after the lease) is allowed: unlock works until someone re-takes it.
    await settle(ctx, { op: "unlock", resource, owner, durability }, 10_000, ctx.endAtMs + 10_000);
  }
}

export const durableLeaseMs = 7_200_000;

/** Workload (b): persistent locks on fresh resources with long leases; a quarter released. */
export async function durableClient(
  ctx: ClientContext,
  prefix: string,
  pauseMs = 100,
): Promise<string[]> {
  const r = ctx.random;
  const resources: string[] = [];
  for (let n = 0; now() < ctx.endAtMs; n++) {
    const resource = `${prefix}/${n}`;
    resources.push(resource);
    const owner = hex32(r);
    const durability = Durability.Persistent;
    const { last } = await settle(ctx, {
      op: "tryLock",
      resource,
      owner,
      expiresMs: durableLeaseMs,
      durability,
    });
    if (last.outcome === "ok" && last.type === ResponseType.Locked && r() < 0.25) {
      await settle(
        ctx,
        { op: "unlock", resource, owner, durability },
        15_000,
        ctx.endAtMs + 10_000,
      );
    }
    if (r() < 0.2) await settle(ctx, { op: "get", resource, durability }, 5_000);
    await sleep(pauseMs * r());
  }
  return resources;
}

/** After the final restart: reads every resource back (client "final"), until a definite answer. */
export async function readBack(
  recorder: Recorder,
  targets: () => readonly Target[],
  resources: readonly { resource: string; durability: Durability }[],
  random: () => number,
  deadlineMs = 60_000,
): Promise<number> {
  const ctx: ClientContext = {
    recorder,
    targets,
    endAtMs: now() + deadlineMs,
    random,
    name: "final",
  };
  let unanswered = 0;
  const queue = [...resources];
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const { last } = await settle(ctx, { op: "get", ...next }, 20_000);
      if (last.outcome !== "ok") unanswered += 1;
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return unanswered;
}

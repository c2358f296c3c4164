/**
 * The client workload: a few clients hammering a few hot resources with persistent and
 * ephemeral TryLock / Extend / Unlock / Get and short leases, each request sent to a random
 * node and retried on MustRetry (nodes that do not lead the partition answer it: there is no
 * forwarding yet), on Indeterminate and on timeouts, always with the same owner, as the client
 * library does. Every attempt goes into the history with true send and answer times.
 *
 * A quarter of the fresh TryLocks wait in the lock's line (waitMs up to 2 s); some of those
 * clients go away before their answer (the node cancels the request). Besides the hot
 * exclusive locks, two are shared (docs/spec.md §2.8): a semaphore and a read-write lock, each
 * also taken exclusively now and then.
 *
 * A client uses a fresh owner id for each acquisition, so an owner's leases are one story: the
 * lock-safety checker can tell from the history alone what the client may rely on.
 */
import {
  Durability,
  type LockOpRequest,
  type LockRequest,
  type LockResponse,
  ResponseType,
} from "../../src/locks/types.ts";
import type { Prng } from "../../src/adapters/sim/prng.ts";
import type { OpRecord } from "../checkers/history.ts";

/** How the simulator carries a request to a node and the answer back. */
export type ClientPort = {
  nodes(): readonly string[];
  /**
   * Sends `request` to `node`; `answer` runs at most once, at the true time it arrives. The
   * returned function is the client going away (its connection closes): the node cancels the
   * request if it still waits in line, and no answer comes.
   */
  send(
    node: string,
    request: LockRequest,
    answer: (response: LockResponse | "unreachable", nowMs: number) => void,
  ): () => void;
};

export const clientTimeoutMs = 2_500;
/** The longest wait in line a simulated client asks for. */
const waitMsMax = 2_000;
/** How often a client that waits in line goes away before its answer. */
const abandonChance = 0.15;
const attemptsMax = 40;

type Plan = { readonly request: LockOpRequest; readonly leaseFromMs: number; attempts: number };
type Holding = {
  readonly resource: string;
  readonly durability: Durability;
  readonly owner: string;
  readonly limit: number | undefined;
};

/** A lock the clients share (docs/spec.md §2.8): asked shared with `limit`, or exclusive. */
export type SharedResource = {
  readonly name: string;
  readonly limit: number;
  /** How often a fresh TryLock of it asks exclusive instead. */
  readonly exclusiveChance: number;
};

export class History {
  readonly ops: OpRecord[] = [];

  begin(
    client: string,
    request: LockOpRequest,
    node: string,
    sendMs: number,
    leaseFromMs: number,
  ): OpRecord {
    const op: OpRecord = {
      id: this.ops.length,
      client,
      op: request.op,
      resource: request.resource,
      durability: request.durability,
      owner: request.op === "get" ? "" : request.owner,
      ...(request.op === "tryLock" && request.limit !== undefined ? { limit: request.limit } : {}),
      expiresMs: request.op === "tryLock" || request.op === "extend" ? request.expiresMs : 0,
      sendMs,
      leaseFromMs,
      ackMs: Number.POSITIVE_INFINITY,
      outcome: "unknown",
      type: undefined,
      fencingToken: 0,
      gotOwner: undefined,
      node,
    };
    this.ops.push(op);
    return op;
  }

  /** Fills in an answer; "unreachable" and MustRetry mean the request certainly did not run. */
  finish(op: OpRecord, response: LockResponse | "unreachable", nowMs: number): void {
    if (response === "unreachable" || response.type === ResponseType.MustRetry) {
      op.outcome = "failed";
      op.ackMs = nowMs;
      op.type = response === "unreachable" ? undefined : response.type;
      op.note = response === "unreachable" ? "unreachable" : response.error ?? "MustRetry";
      return;
    }
    op.type = response.type;
    if (response.error !== undefined) op.note = response.error;
    if (response.type === ResponseType.Indeterminate) return; // may still run: stays unknown
    op.outcome = "ok";
    op.ackMs = nowMs;
    op.fencingToken = response.fencingToken;
    if (response.owner !== undefined) op.gotOwner = response.owner;
    if (response.holders !== undefined) op.gotHolders = response.holders;
  }
}

/**
 * How often a definite answer to a write is followed by the same request again, later, with
 * the same owner: a client whose answer was lost (a dropped connection, a crashed client
 * library retrying) repeats it without knowing it ran. The checkers must take the repeat for
 * what it is: TryLock by the holder is idempotent, a repeated Unlock finds no lock.
 */
const repeatChance = 0.1;

export class Client {
  private plan: Plan | undefined;
  private repeat: { request: LockOpRequest; atMs: number } | undefined;
  private inFlight:
    | { op: OpRecord; deadlineMs: number; abandonAtMs: number; abandon: () => void }
    | undefined;
  private holding: Holding | undefined;
  private nextAtMs = 0;
  private stopped = false;
  /** Definite answers, by type, for the summary. */
  answered = 0;

  constructor(
    readonly name: string,
    private readonly random: Prng,
    private readonly port: ClientPort,
    private readonly history: History,
    private readonly resources: readonly string[],
    private readonly leaseMsMax: number,
    private readonly shared: readonly SharedResource[] = [],
  ) {}

  /** No new plans; whatever is in flight may still finish. */
  stop(): void {
    this.stopped = true;
    this.plan = undefined;
  }

  idle(): boolean {
    return this.inFlight === undefined && this.plan === undefined;
  }

  step(nowMs: number): void {
    const inFlight = this.inFlight;
    if (inFlight !== undefined && nowMs >= inFlight.abandonAtMs) {
      // The client goes away while it waits in line: the outcome stays unknown (a grant being
      // committed may still happen), and it starts over with a new owner later.
      inFlight.abandon();
      this.inFlight = undefined;
      this.plan = undefined;
      this.holding = undefined;
      this.nextAtMs = nowMs + this.random.between(5, 300);
      return;
    }
    if (inFlight !== undefined) {
      if (nowMs < inFlight.deadlineMs) return;
      // No answer: the node may have crashed after running it. Unknown; retry the same.
      this.inFlight = undefined;
      this.nextAtMs = nowMs + this.random.between(1, 50);
    }
    if (this.stopped || nowMs < this.nextAtMs) return;
    if (this.plan === undefined && this.repeat !== undefined && nowMs >= this.repeat.atMs) {
      this.plan = fresh(this.repeat.request, nowMs);
      this.repeat = undefined;
    }
    if (this.plan === undefined) this.plan = this.choose(nowMs);
    if (this.plan === undefined) return;
    const plan = this.plan;
    plan.attempts += 1;
    if (plan.attempts > attemptsMax) {
      this.plan = undefined;
      this.holding = undefined;
      return;
    }
    this.sendPlan(plan, nowMs);
  }

  private sendPlan(plan: Plan, nowMs: number): void {
    const node = this.random.pick(this.port.nodes());
    const op = this.history.begin(this.name, plan.request, node, nowMs, plan.leaseFromMs);
    // A TryLock waiting in line is answered up to its waitMs later.
    const waitMs = plan.request.op === "tryLock" ? plan.request.waitMs ?? 0 : 0;
    const abandonAtMs = waitMs > 0 && this.random.chance(abandonChance)
      ? nowMs + this.random.between(1, waitMs)
      : Number.POSITIVE_INFINITY;
    const abandon = this.port.send(
      node,
      plan.request,
      (response, atMs) => this.onAnswer(op, response, atMs),
    );
    this.inFlight = { op, deadlineMs: nowMs + clientTimeoutMs + waitMs, abandonAtMs, abandon };
  }

  private onAnswer(op: OpRecord, response: LockResponse | "unreachable", nowMs: number): void {
    const inFlight = this.inFlight;
    if (inFlight === undefined || inFlight.op !== op) return; // timed out already
    this.inFlight = undefined;
    this.history.finish(op, response, nowMs);
    if (op.outcome !== "ok") {
      // Back off as the client library does: quickly at first, then up to ~300 ms.
      const attempts = this.plan?.attempts ?? 1;
      this.nextAtMs = nowMs +
        this.random.between(5, Math.min(300, 10 * 2 ** Math.min(attempts, 5)));
      return;
    }
    this.answered += 1;
    const done = this.plan;
    this.plan = undefined;
    if (done !== undefined && done.request.op !== "get" && this.random.chance(repeatChance)) {
      this.repeat = { request: done.request, atMs: nowMs + this.random.between(20, 600) };
    }
    this.react(op, nowMs);
  }

  private react(op: OpRecord, nowMs: number): void {
    const type = op.type;
    if (type === ResponseType.Errored || type === ResponseType.InvalidInput) {
      this.holding = undefined;
      this.nextAtMs = nowMs + 100;
      return;
    }
    if (op.op === "tryLock" && type === ResponseType.Locked) {
      this.holding = {
        resource: op.resource,
        durability: op.durability,
        owner: op.owner,
        limit: op.limit,
      };
      this.nextAtMs = nowMs + this.random.int(Math.max(1, Math.floor(op.expiresMs * 0.9)));
    } else if (op.op === "extend" && type === ResponseType.Extended) {
      this.nextAtMs = nowMs + this.random.int(Math.max(1, Math.floor(op.expiresMs * 0.9)));
    } else if (op.op === "get") {
      this.nextAtMs = nowMs + this.random.between(0, 100);
    } else {
      // Busy, lost lock, unlocked: start over after a pause.
      this.holding = undefined;
      this.nextAtMs = nowMs + this.random.between(5, 300);
    }
  }

  private choose(nowMs: number): Plan | undefined {
    const r = this.random.float();
    const holding = this.holding;
    const leaseMs = this.random.between(50, this.leaseMsMax);
    if (holding !== undefined) {
      const { resource, durability, owner } = holding;
      if (r < 0.35) {
        // Some Extends publish a value (a leader proclaiming, docs/spec.md §2.1).
        const value = this.random.chance(0.3) ? { value: `v${this.random.int(4)}` } : {};
        return fresh(
          { op: "extend", resource, owner, expiresMs: leaseMs, durability, ...value },
          nowMs,
        );
      }
      if (r < 0.5) return fresh({ op: "get", resource, durability }, nowMs);
      // The idempotent retry: answered Locked with the same token, it keeps the first lease.
      if (r < 0.55) {
        const limit = holding.limit === undefined ? {} : { limit: holding.limit };
        return fresh(
          { op: "tryLock", resource, owner, expiresMs: leaseMs, durability, ...limit },
          nowMs,
        );
      }
      this.holding = undefined;
      if (r < 0.9) return fresh({ op: "unlock", resource, owner, durability }, nowMs);
      return undefined; // abandon: let the lease run out
    }
    // Half the fresh plans go to the shared locks, so that their holders often overlap.
    const resource = this.shared.length > 0 && this.random.chance(0.5)
      ? this.random.pick(this.shared).name
      : this.random.pick(this.resources);
    const durability = this.random.chance(0.6) ? Durability.Persistent : Durability.Ephemeral;
    if (r < 0.2) return fresh({ op: "get", resource, durability }, nowMs);
    const owner = this.random.hex(16);
    const value = this.random.chance(0.3) ? { value: `v${this.random.int(4)}` } : {};
    // A shared lock's clients ask shared with its limit, some exclusive (a writer).
    const share = this.shared.find((s) => s.name === resource);
    const limit = share !== undefined && !this.random.chance(share.exclusiveChance)
      ? { limit: share.limit }
      : {};
    const request = {
      op: "tryLock",
      resource,
      owner,
      expiresMs: leaseMs,
      durability,
      ...value,
      ...limit,
    } as const;
    // Some wait in the lock's line (docs/spec.md §2.5), most answer at once.
    if (r < 0.45) return fresh({ ...request, waitMs: this.random.between(20, waitMsMax) }, nowMs);
    return fresh(request, nowMs);
  }
}

function fresh(request: LockOpRequest, nowMs: number): Plan {
  return { request, leaseFromMs: nowMs, attempts: 0 };
}

/**
 * The client history every lock checker judges, from the simulator and from the fault suite
 * alike: one record per attempt a client made, with the times it was sent and answered on
 * the one clock the lease rules are judged on (the simulator's true time, or the fault
 * harness's monotonic clock; never a node's clock).
 *
 * Times are taken conservatively: `sendMs` no later than the request left, `ackMs` no earlier
 * than the answer arrived. A lease then looks shorter and a grant later than they were, so a
 * reported violation is never an artefact of measuring.
 */
import { clockDriftPpmMax } from "../../src/constants.ts";
import { type Durability, type LockOp, ResponseType } from "../../src/locks/types.ts";

/**
 * How an attempt ended:
 * - "ok": a definite answer (any lock outcome, including Busy and LockDoesNotExist).
 * - "failed": the request certainly did not run (MustRetry, or the node was unreachable).
 * - "unknown": it may or may not have run, at any time after it was sent (Indeterminate, a
 *   timeout, a connection cut after sending).
 */
export type Outcome = "ok" | "failed" | "unknown";

export type OpRecord = {
  readonly id: number;
  readonly client: string;
  readonly op: Exclude<LockOp, "watch">;
  readonly resource: string;
  readonly durability: Durability;
  /** "" for get. */
  readonly owner: string;
  /** 0 for unlock and get. */
  readonly expiresMs: number;
  readonly sendMs: number;
  /**
   * The first send of this request: retries (same owner, same request) keep it, so a holder
   * relies on a lease from no later than its first attempt.
   */
  readonly leaseFromMs: number;
  /** When the answer arrived; for an unknown outcome, when the client gave up (or +∞). */
  ackMs: number;
  outcome: Outcome;
  /** The response type when outcome is "ok" (or the type that made it failed or unknown). */
  type: ResponseType | undefined;
  fencingToken: number;
  /** The owner a Got answer named. */
  gotOwner: string | undefined;
  /** A shared TryLock's limit (docs/spec.md §2.8); undefined for an exclusive one. */
  readonly limit?: number;
  /** A Got of a shared lock: its holders' owners and tokens. */
  gotHolders?: readonly { readonly owner: string; readonly fencingToken: number }[];
  /** The node the request was sent to. */
  node: string;
  /** Why an attempt was not "ok": the node's message, an HTTP status, or the error. */
  note?: string;
};

/** Locks are independent per (resource, durability): the checkers split the history by it. */
export function keyOf(op: { readonly resource: string; readonly durability: Durability }): string {
  return `${op.durability}:${op.resource}`;
}

export function typeName(type: ResponseType | undefined): string {
  for (const [name, value] of Object.entries(ResponseType)) if (value === type) return name;
  return String(type);
}

export function describe(op: OpRecord): string {
  const who = op.op === "get" ? "" : ` owner=${op.owner.slice(0, 8)}`;
  const lease = op.expiresMs > 0 ? ` L=${op.expiresMs}` : "";
  const answer = op.outcome === "ok" ? `${typeName(op.type)} f${op.fencingToken}` : op.outcome;
  const got = op.gotOwner !== undefined ? ` holder=${op.gotOwner.slice(0, 8)}` : "";
  return `#${op.id} ${op.client} ${op.op}(${keyOf(op)}${who}${lease}) ` +
    `[${op.sendMs.toFixed(0)}..${op.ackMs.toFixed(0)}] via n${op.node} -> ${answer}${got}`;
}

export type Violation = {
  readonly checker: string;
  /** The lock (keyOf) or the group it is about; "" when neither. */
  readonly key: string;
  readonly message: string;
  /** When it was seen, on the history's clock. */
  readonly atMs: number;
  /** The records involved, described, so a report can be read without the history. */
  readonly ops: readonly string[];
};

/** A fenced write the fault harness's store saw: refused when an older token came after a newer. */
export type FencedWrite = {
  readonly key: string;
  readonly owner: string;
  readonly fencingToken: number;
  readonly atMs: number;
  readonly accepted: boolean;
  /** The highest token the store had seen when this write arrived. */
  readonly storedToken: number;
  /** Until when the writer could rely on its lease (its own reckoning), when it wrote. */
  readonly reliedUntilMs: number;
};

/**
 * Until when a holder may rely on a lease of `expiresMs` counted from `fromMs`: the drift
 * bound is taken off, since no two clocks are assumed to agree better than that.
 */
export function relianceEndMs(
  fromMs: number,
  expiresMs: number,
  driftBoundPpm = clockDriftPpmMax,
): number {
  return fromMs + expiresMs * (1 - driftBoundPpm / 1_000_000);
}

/**
 * The history the fault checkers judge: one record per HTTP attempt a client made against a
 * real cluster, with times on this machine's single monotonic clock (performance.now, ms).
 * Every node runs on this machine, so these times are the one true time the lease rules are
 * measured against (SPEC.md §2.3); no node's clock is ever read.
 *
 * Times are taken conservatively for the checkers: `sendMs` just before the request is handed
 * to fetch (the request leaves later), `ackMs` just after the answer is read (it arrived
 * earlier). A lease the client relies on then looks shorter and a grant looks later than they
 * were, so a reported violation is never an artefact of measuring.
 */
import { type Durability, type LockOp, ResponseType } from "../../src/locks/types.ts";

/**
 * How an attempt ended:
 * - "ok": a definite answer (any lock outcome, including Busy and LockDoesNotExist).
 * - "failed": the request certainly did not run (503 MustRetry, or the connection was refused
 *   before anything was sent).
 * - "unknown": it may or may not have run, at any time after it was sent (504 Indeterminate,
 *   a timeout, a connection cut after sending).
 */
export type Outcome = "ok" | "failed" | "unknown";

export type OpRecord = {
  readonly id: number;
  readonly client: string;
  readonly op: LockOp;
  readonly resource: string;
  readonly durability: Durability;
  /** "" for get. */
  readonly owner: string;
  /** 0 for unlock and get. */
  readonly expiresMs: number;
  readonly sendMs: number;
  /**
   * Where the lease this attempt may create counts from, for the holder's reliance: for
   * tryLock the first send of this owner's tryLock (a retry answered Locked keeps the
   * original grant), for extend this attempt's send.
   */
  readonly leaseFromMs: number;
  ackMs: number;
  outcome: Outcome;
  /** The response type when outcome is "ok". */
  type: ResponseType | undefined;
  fencingToken: number;
  /** The owner a Got answer named. */
  gotOwner: string | undefined;
  /** The node (id) the request was sent to. */
  node: string;
  /** Why an attempt was not "ok" (HTTP status and the server's message, or the error). */
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
  readonly key: string;
  readonly message: string;
  /** The records involved, described, so a report can be read without the history. */
  readonly ops: readonly string[];
};

/** A fenced write the harness's store refused: an older token after a newer one was written. */
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

/** Margin for clock rates: a holder relies on expiresMs × (1 − drift) (SPEC.md §2.3). */
export const driftFraction = 0.01;

export function relianceEndMs(fromMs: number, expiresMs: number): number {
  return fromMs + expiresMs * (1 - driftFraction);
}

/**
 * The client history the lock checkers judge: one record per attempt a client made, with
 * true (simulated) times. Times are the simulator's, never a node's clock: the checkers
 * judge what a client could observe and rely on (SPEC.md §2.3).
 */
import { type Durability, type LockOp, ResponseType } from "../../src/locks/types.ts";

/**
 * How an attempt ended:
 * - "ok": a definite answer (any lock outcome, including Busy and LockDoesNotExist).
 * - "failed": the request certainly did not run (MustRetry, or the node was unreachable).
 * - "unknown": it may or may not have run (Indeterminate, or no answer before the timeout).
 */
export type Outcome = "ok" | "failed" | "unknown";

export type OpRecord = {
  readonly id: number;
  readonly client: string;
  readonly op: LockOp;
  readonly resource: string;
  readonly durability: Durability;
  /** Empty for get. */
  readonly owner: string;
  /** 0 for unlock and get. */
  readonly expiresMs: number;
  readonly sendMs: number;
  /** The first send of this request: retries (same owner, same request) keep it. */
  readonly leaseFromMs: number;
  ackMs: number;
  outcome: Outcome;
  type: ResponseType | undefined;
  fencingToken: number;
  gotOwner: string | undefined;
  node: string;
  /** The node's message for MustRetry, Indeterminate or Errored. */
  error: string | undefined;
};

export function keyOf(op: { resource: string; durability: Durability }): string {
  return `${op.durability}:${op.resource}`;
}

export function describe(op: OpRecord): string {
  const args = op.op === "get" ? "" : ` owner=${op.owner.slice(0, 8)}`;
  const lease = op.expiresMs > 0 ? ` L=${op.expiresMs}` : "";
  const answer = op.outcome === "ok" ? `${typeName(op.type)} f${op.fencingToken}` : op.outcome;
  const got = op.gotOwner !== undefined ? ` holder=${op.gotOwner.slice(0, 8)}` : "";
  return `#${op.id} ${op.client} ${op.op}(${keyOf(op)}${args}${lease}) ` +
    `[${op.sendMs}..${op.ackMs}] via n${op.node} -> ${answer}${got}`;
}

export function typeName(type: ResponseType | undefined): string {
  for (const [name, value] of Object.entries(ResponseType)) if (value === type) return name;
  return String(type);
}

export type Violation = {
  readonly checker: string;
  readonly message: string;
  readonly atMs: number;
};

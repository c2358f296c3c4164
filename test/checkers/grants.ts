/**
 * Grants and what their holders may rely on, for the lock-safety and token checkers.
 *
 * A grant is one owner's lease on one lock with one token, however many attempts it took.
 * Its holder may rely on it from the first Locked answer until the first send of any attempt
 * that may have made it plus expiresMs less the drift bound (docs/spec.md §2.3; a retry answered
 * Locked with the same token keeps the first lease). An Extend sent at s caps that at
 * s + expiresMs less the bound whatever its answer (it may shorten the lease), and an Extended
 * answer relies on exactly that. An Unlock that may have run ends it at its send.
 */
import { ResponseType } from "../../src/locks/types.ts";
import { keyOf, type OpRecord, relianceEndMs } from "./history.ts";

export type Interval = { readonly from: number; to: number };

export type Grant = {
  readonly key: string;
  readonly owner: string;
  readonly token: number;
  /** The first Locked answer with this token. */
  readonly ackMs: number;
  /** The earliest send of an attempt answered Locked with this token. */
  readonly sendMs: number;
  /** The earliest a client of this grant could have sent the request that made it. */
  readonly firstSendMs: number;
  /** What the holder relies on: the grant's lease, then each Extended answer's. */
  readonly intervals: Interval[];
  /** The send of the first unlock of this grant that may have run (+∞: none). */
  releasedMs: number;
  readonly op: OpRecord;
  /** A shared grant's limit (docs/spec.md §2.8); undefined for an exclusive grant. */
  readonly limit: number | undefined;
};

export function byKey(history: readonly OpRecord[]): Map<string, OpRecord[]> {
  const keys = new Map<string, OpRecord[]>();
  for (const op of history) {
    const key = keyOf(op);
    let list = keys.get(key);
    if (list === undefined) keys.set(key, list = []);
    list.push(op);
  }
  return keys;
}

export const isOk = (op: OpRecord, type: ResponseType) => op.outcome === "ok" && op.type === type;

/** Each owner's operations on one key (owners are per lock session, so these lists are short). */
export function byOwner(ops: readonly OpRecord[]): Map<string, OpRecord[]> {
  const owners = new Map<string, OpRecord[]>();
  for (const op of ops) {
    let list = owners.get(op.owner);
    if (list === undefined) owners.set(op.owner, list = []);
    list.push(op);
  }
  return owners;
}

/** The grants of one lock, by token, with what their clients may rely on. */
export function grantsOf(ops: readonly OpRecord[], driftBoundPpm: number): Grant[] {
  const owners = byOwner(ops);
  const grants = new Map<string, Grant>();
  const locked = ops.filter((op) => op.op === "tryLock" && isOk(op, ResponseType.Locked))
    .sort((a, b) => a.ackMs - b.ackMs);
  for (const op of locked) {
    const id = `${op.owner}#${op.fencingToken}`;
    const seen = grants.get(id);
    if (seen !== undefined) {
      if (op.sendMs < seen.sendMs) grants.set(id, { ...seen, sendMs: op.sendMs });
      continue;
    }
    // Any attempt of this owner that may have made the grant: answered with it, or unknown.
    const makers = owners.get(op.owner)!.filter((o) =>
      o.op === "tryLock" && o.sendMs <= op.ackMs &&
      (o.outcome === "unknown" ||
        (isOk(o, ResponseType.Locked) && o.fencingToken === op.fencingToken))
    );
    const endMs = Math.min(
      ...makers.map((o) => relianceEndMs(o.leaseFromMs, o.expiresMs, driftBoundPpm)),
    );
    grants.set(id, {
      key: keyOf(op),
      owner: op.owner,
      token: op.fencingToken,
      ackMs: op.ackMs,
      sendMs: op.sendMs,
      firstSendMs: Math.min(...makers.map((o) => o.leaseFromMs)),
      intervals: [{ from: op.ackMs, to: endMs }],
      releasedMs: Number.POSITIVE_INFINITY,
      op,
      limit: op.limit,
    });
  }
  for (const grant of grants.values()) relyOn(grant, owners.get(grant.owner)!, driftBoundPpm);
  return [...grants.values()].sort((a, b) => a.token - b.token || a.ackMs - b.ackMs);
}

/** Caps the grant's intervals by its owner's extends and unlocks. */
function relyOn(grant: Grant, mine: readonly OpRecord[], driftBoundPpm: number): void {
  const extends_ = mine.filter((op) =>
    op.op === "extend" && op.outcome !== "failed" && op.sendMs >= grant.firstSendMs
  ).sort((a, b) => a.sendMs - b.sendMs);
  for (const op of extends_) {
    // Once sent, an Extend may set the lease to now + expiresMs, shorter than before: the
    // client relies on no more than that from its send on, whatever the answer.
    const endMs = relianceEndMs(op.sendMs, op.expiresMs, driftBoundPpm);
    for (const interval of grant.intervals) {
      interval.to = Math.min(interval.to, Math.max(endMs, op.sendMs));
    }
    if (isOk(op, ResponseType.Extended) && op.fencingToken === grant.token) {
      grant.intervals.push({ from: op.ackMs, to: endMs });
    }
  }
  // An unlock that certainly did not run leaves the lease on the node: it still protects.
  const unlocks = mine.filter((op) =>
    op.op === "unlock" && op.outcome !== "failed" && op.sendMs >= grant.ackMs
  );
  grant.releasedMs = Math.min(...unlocks.map((op) => op.sendMs));
  for (const interval of grant.intervals) {
    interval.to = Math.min(interval.to, grant.releasedMs);
  }
}

/** The end of the last thing the holder of `grant` relies on. */
export function reliedUntilMs(grant: Grant): number {
  return Math.max(...grant.intervals.map((i) => i.to));
}

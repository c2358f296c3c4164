/**
 * The semantics of one lock (one resource, one durability): docs/spec.md §2.1's table, as pure
 * functions from (record, request, now) to (answer, next record). Both the replicated
 * persistent table (lock-machine.ts) and the leader's ephemeral table (ephemeral-locks.ts)
 * use these, so the two durabilities cannot drift apart.
 *
 * Invariants: a record, once made, is never removed by these rules (only a sweep removes it,
 * and only once it is sweepable), and its fencing token only grows: +1 on a fresh grant,
 * unchanged otherwise (so unlock keeps it and the next grant continues from it). A lock is
 * held exactly when it has an owner and `nowMs < leaseEndMs`; a record not held has been free
 * since `leaseEndMs` (its unlock, or the end of its lease).
 */
import { assert } from "../assert.ts";
import { type LockResponse, ResponseType } from "./types.ts";

export type LockRecord = {
  /** "" when unlocked. An expired lock keeps its owner until someone else takes it. */
  readonly owner: string;
  /** The token of the latest grant. */
  readonly fencingToken: number;
  /**
   * What the holder published with its grant or last Extend (an elected leader's address, say);
   * absent when none. A release drops it.
   */
  readonly value?: string;
  /** How many times an Extend changed the value during this grant (0 when absent). */
  readonly valueSeq?: number;
  /**
   * When the lease ends, on the clock the table's times are read on; when unlocked, when the
   * unlock happened (the record is free from then on).
   */
  readonly leaseEndMs: number;
};

export type Outcome = {
  readonly response: LockResponse;
  /** The record after the operation: the same object when nothing changed. */
  readonly record: LockRecord | undefined;
};

export function isHeld(record: LockRecord | undefined, nowMs: number): boolean {
  return record !== undefined && record.owner !== "" && nowMs < record.leaseEndMs;
}

const doesNotExist: LockResponse = { type: ResponseType.LockDoesNotExist, fencingToken: 0 };
const invalidOwner: LockResponse = { type: ResponseType.InvalidOwner, fencingToken: 0 };
const busy: LockResponse = { type: ResponseType.Busy, fencingToken: 0 };

/**
 * True when a sweep may remove the record: it is not held and has been free for at least
 * `graceMs`. Its token must then be carried by the table's floor (`firstToken` below).
 */
export function isSweepable(record: LockRecord, nowMs: number, graceMs: number): boolean {
  return !isHeld(record, nowMs) && record.leaseEndMs + graceMs <= nowMs;
}

/**
 * The sweep's scan over one table: each call looks at up to `scanMax` records after where the
 * last call stopped (a Map iterator stays valid across deletions and insertions) and starts
 * over after the end. It hands `take` each sweepable record; `take` returning false stops the
 * call. Not replicated state: only where the leader is in its table.
 */
export class SweepScan {
  #cursor: Iterator<[string, LockRecord]> | undefined;

  next(
    records: Map<string, LockRecord>,
    nowMs: number,
    graceMs: number,
    scanMax: number,
    take: (name: string, record: LockRecord) => boolean,
  ): void {
    this.#cursor ??= records.entries();
    for (let scanned = 0; scanned < scanMax; scanned++) {
      const next = this.#cursor.next();
      if (next.done === true) {
        this.#cursor = undefined;
        return;
      }
      const [name, record] = next.value;
      if (isSweepable(record, nowMs, graceMs) && !take(name, record)) return;
    }
  }
}

/**
 * TryLock. `firstToken` is the token of a grant on a resource with no record: a floor above
 * every token of a record the table removed (0 for a persistent table that removed none; at
 * least the leader's first reserved token for an ephemeral one).
 */
export function tryLock(
  record: LockRecord | undefined,
  owner: string,
  expiresMs: number,
  nowMs: number,
  firstToken: number,
  value?: string,
): Outcome {
  assert(expiresMs > 0, "tryLock: expiresMs must be positive");
  if (isHeld(record, nowMs)) {
    assert(record !== undefined, "held implies a record");
    // The same owner retrying (its answer may have been lost) gets the same grant back.
    if (record.owner === owner) {
      return { response: locked(record.fencingToken), record };
    }
    return { response: busy, record };
  }
  const fencingToken = record === undefined ? firstToken : record.fencingToken + 1;
  assert(Number.isSafeInteger(fencingToken), "tryLock: fencing token left the safe integers");
  const next: LockRecord = value === undefined
    ? { owner, fencingToken, leaseEndMs: nowMs + expiresMs }
    : { owner, fencingToken, leaseEndMs: nowMs + expiresMs, value };
  assert(isHeld(next, nowMs), "a fresh grant is held");
  return { response: locked(fencingToken), record: next };
}

/**
 * Extend. With `value`, the holder publishes a new value (an elected leader proclaiming); a
 * different one counts as a change (`valueSeq`), the same one does not. Without, it stays.
 */
export function extend(
  record: LockRecord | undefined,
  owner: string,
  expiresMs: number,
  nowMs: number,
  value?: string,
): Outcome {
  assert(expiresMs > 0, "extend: expiresMs must be positive");
  if (!isHeld(record, nowMs)) return { response: doesNotExist, record };
  assert(record !== undefined, "held implies a record");
  if (record.owner !== owner) return { response: invalidOwner, record };
  const changed = value !== undefined && value !== record.value;
  const kept = changed ? value : record.value;
  const seq = (record.valueSeq ?? 0) + (changed ? 1 : 0);
  const next: LockRecord = {
    owner,
    fencingToken: record.fencingToken,
    leaseEndMs: nowMs + expiresMs,
    ...(kept === undefined ? {} : { value: kept }),
    ...(seq === 0 ? {} : { valueSeq: seq }),
  };
  return {
    response: { type: ResponseType.Extended, fencingToken: next.fencingToken },
    record: next,
  };
}

/**
 * Unlock works for the owner even after the lease expired, as long as nobody re-took the lock
 * (and no sweep removed its record). An expired lock of another owner answers InvalidOwner:
 * the record still names that owner. The record is free from `nowMs` on.
 */
export function unlock(record: LockRecord | undefined, owner: string, nowMs: number): Outcome {
  if (record === undefined || record.owner === "") return { response: doesNotExist, record };
  if (record.owner !== owner) return { response: invalidOwner, record };
  const next: LockRecord = { owner: "", fencingToken: record.fencingToken, leaseEndMs: nowMs };
  return {
    response: { type: ResponseType.Unlocked, fencingToken: next.fencingToken },
    record: next,
  };
}

export function get(record: LockRecord | undefined, nowMs: number): LockResponse {
  if (!isHeld(record, nowMs)) return doesNotExist;
  assert(record !== undefined, "held implies a record");
  const expiresMs = record.leaseEndMs - nowMs;
  assert(expiresMs > 0, "a held lease has time left");
  return {
    type: ResponseType.Got,
    fencingToken: record.fencingToken,
    owner: record.owner,
    expiresMs,
    ...(record.value === undefined ? {} : { value: record.value }),
  };
}

function locked(fencingToken: number): LockResponse {
  return { type: ResponseType.Locked, fencingToken };
}

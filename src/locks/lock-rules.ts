/**
 * The semantics of one lock (one resource, one durability): docs/spec.md §2.1's table, as pure
 * functions from (record, request, now) to (answer, next record). Both the replicated
 * persistent table (lock-machine.ts) and the leader's ephemeral table (ephemeral-locks.ts)
 * use these, so the two durabilities cannot drift apart.
 *
 * A lock is held exclusively (one owner: a plain lock, a writer) or shared (docs/spec.md §2.8:
 * up to `limit` holders at once, each with its own lease and token: a semaphore, readers). An
 * exclusive grant needs no live holder at all; a shared one needs no exclusive holder and fewer
 * live holders than the smallest limit among them and itself.
 *
 * Invariants: a record, once made, is never removed by these rules (only a sweep removes it,
 * and only once it is sweepable), and its fencing token (the latest grant's) only grows: +1 on
 * every grant, unchanged otherwise (so unlock keeps it and the next grant continues from it).
 * An exclusive record is held exactly when it has an owner and `nowMs < leaseEndMs`; a shared
 * record (owner "", `holders` non-empty) when one of its holders' leases runs; its `leaseEndMs`
 * is the latest of theirs. A record not held has been free since `leaseEndMs` (its unlock, or
 * the end of its last lease).
 */
import { assert } from "../assert.ts";
import { type LockHolder, type LockResponse, ResponseType } from "./types.ts";

/** One shared holder: its own lease, token and published value. */
export type Holder = {
  readonly owner: string;
  readonly fencingToken: number;
  readonly leaseEndMs: number;
  /** The most holders this one accepts at once, itself included (1..sharedLimitMax). */
  readonly limit: number;
  readonly value?: string;
  /** How many times an Extend changed this holder's value (0 when absent). */
  readonly valueSeq?: number;
};

export type LockRecord = {
  /** "" when unlocked or shared. An expired lock keeps its owner until someone else takes it. */
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
   * unlock happened (the record is free from then on). Shared: the latest holder's lease end.
   */
  readonly leaseEndMs: number;
  /**
   * Only while shared: its holders in grant order (tokens ascending), never empty. A holder
   * whose lease ended stays until the next TryLock or Unlock of the lock prunes it, so that it
   * may still release, as an expired exclusive owner may.
   */
  readonly holders?: readonly Holder[];
};

export type Outcome = {
  readonly response: LockResponse;
  /** The record after the operation: the same object when nothing changed. */
  readonly record: LockRecord | undefined;
  /** For a grant or an Extend that changed the record: the lease it made. */
  readonly lease?: { readonly leaseEndMs: number; readonly fencingToken: number };
};

export function isHeld(record: LockRecord | undefined, nowMs: number): boolean {
  if (record === undefined) return false;
  if (record.holders !== undefined) return record.holders.some((h) => nowMs < h.leaseEndMs);
  return record.owner !== "" && nowMs < record.leaseEndMs;
}

/** True when the record is shared and one of its holders' leases runs. */
export function isHeldShared(record: LockRecord | undefined, nowMs: number): boolean {
  return record?.holders !== undefined && isHeld(record, nowMs);
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
 * least the leader's first reserved token for an ephemeral one). `limit` set asks for a shared
 * grant that admits at most that many holders at once; undefined, an exclusive one.
 */
export function tryLock(
  record: LockRecord | undefined,
  owner: string,
  expiresMs: number,
  nowMs: number,
  firstToken: number,
  value?: string,
  limit?: number,
): Outcome {
  assert(expiresMs > 0, "tryLock: expiresMs must be positive");
  assert(limit === undefined || (Number.isSafeInteger(limit) && limit >= 1), "tryLock: limit");
  if (record?.holders !== undefined) {
    return tryShared(record, record.holders, owner, expiresMs, nowMs, value, limit);
  }
  if (isHeld(record, nowMs)) {
    assert(record !== undefined, "held implies a record");
    // The same owner retrying (its answer may have been lost) gets the same grant back; in the
    // other mode it is Busy: one owner does not hold a lock two ways.
    if (record.owner === owner && limit === undefined) {
      return { response: locked(record.fencingToken), record };
    }
    return { response: busy, record };
  }
  const fencingToken = nextToken(record, firstToken);
  const leaseEndMs = nowMs + expiresMs;
  const next: LockRecord = limit !== undefined
    ? {
      owner: "",
      fencingToken,
      leaseEndMs,
      holders: [holder(owner, fencingToken, leaseEndMs, limit, value)],
    }
    : value === undefined
    ? { owner, fencingToken, leaseEndMs }
    : { owner, fencingToken, leaseEndMs, value };
  assert(isHeld(next, nowMs), "a fresh grant is held");
  return { response: locked(fencingToken), record: next, lease: { leaseEndMs, fencingToken } };
}

/** TryLock on a shared record: its live holders decide; an exclusive ask needs none live. */
function tryShared(
  record: LockRecord,
  holders: readonly Holder[],
  owner: string,
  expiresMs: number,
  nowMs: number,
  value: string | undefined,
  limit: number | undefined,
): Outcome {
  const live = holders.filter((h) => nowMs < h.leaseEndMs);
  const mine = live.find((h) => h.owner === owner);
  if (mine !== undefined) {
    return limit === undefined
      ? { response: busy, record }
      : { response: locked(mine.fencingToken), record };
  }
  if (live.length > 0) {
    if (limit === undefined) return { response: busy, record };
    const room = Math.min(limit, ...live.map((h) => h.limit));
    if (live.length >= room) return { response: busy, record };
  }
  const fencingToken = nextToken(record, 0);
  const leaseEndMs = nowMs + expiresMs;
  const lease = { leaseEndMs, fencingToken };
  if (limit === undefined) {
    const next: LockRecord = value === undefined
      ? { owner, fencingToken, leaseEndMs }
      : { owner, fencingToken, leaseEndMs, value };
    return { response: locked(fencingToken), record: next, lease };
  }
  const next = sharedRecord(fencingToken, [
    ...live,
    holder(owner, fencingToken, leaseEndMs, limit, value),
  ]);
  return { response: locked(fencingToken), record: next, lease };
}

/**
 * Extend. With `value`, the holder publishes a new value (an elected leader proclaiming); a
 * different one counts as a change (`valueSeq`), the same one does not. Without, it stays.
 * On a shared lock it extends the owner's own lease.
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
  const leaseEndMs = nowMs + expiresMs;
  if (record.holders !== undefined) {
    const at = record.holders.findIndex((h) => h.owner === owner && nowMs < h.leaseEndMs);
    if (at < 0) return { response: invalidOwner, record };
    const before = record.holders[at]!;
    const extended = { ...withValue(before, value), leaseEndMs };
    const holders = record.holders.map((h, i) => i === at ? extended : h);
    const next = sharedRecord(record.fencingToken, holders);
    return {
      response: { type: ResponseType.Extended, fencingToken: before.fencingToken },
      record: next,
      lease: { leaseEndMs, fencingToken: before.fencingToken },
    };
  }
  if (record.owner !== owner) return { response: invalidOwner, record };
  const next: LockRecord = { ...withValue(record, value), leaseEndMs };
  return {
    response: { type: ResponseType.Extended, fencingToken: next.fencingToken },
    record: next,
    lease: { leaseEndMs, fencingToken: next.fencingToken },
  };
}

/**
 * Unlock works for the owner even after the lease expired, as long as nobody re-took the lock
 * (and no sweep removed its record). An expired lock of another owner answers InvalidOwner:
 * the record still names that owner. The record is free from `nowMs` on. On a shared lock it
 * releases the owner's own grant (and prunes holders whose leases ended); the lock is free
 * once no holder is left.
 */
export function unlock(record: LockRecord | undefined, owner: string, nowMs: number): Outcome {
  if (record?.holders !== undefined) {
    const mine = record.holders.find((h) => h.owner === owner);
    if (mine === undefined) return { response: invalidOwner, record };
    const kept = record.holders.filter((h) => h.owner !== owner && nowMs < h.leaseEndMs);
    const next: LockRecord = kept.length === 0
      ? { owner: "", fencingToken: record.fencingToken, leaseEndMs: nowMs }
      : sharedRecord(record.fencingToken, kept);
    return {
      response: { type: ResponseType.Unlocked, fencingToken: mine.fencingToken },
      record: next,
    };
  }
  if (record === undefined || record.owner === "") return { response: doesNotExist, record };
  if (record.owner !== owner) return { response: invalidOwner, record };
  const next: LockRecord = { owner: "", fencingToken: record.fencingToken, leaseEndMs: nowMs };
  return {
    response: { type: ResponseType.Unlocked, fencingToken: next.fencingToken },
    record: next,
  };
}

/**
 * Get. A shared lock answers with every live holder (`holders`, in grant order), the smallest
 * limit among them, and at the top level the newest holder.
 */
export function get(record: LockRecord | undefined, nowMs: number): LockResponse {
  if (!isHeld(record, nowMs)) return doesNotExist;
  assert(record !== undefined, "held implies a record");
  if (record.holders !== undefined) {
    const live = record.holders.filter((h) => nowMs < h.leaseEndMs);
    const holders: LockHolder[] = live.map((h) => ({
      owner: h.owner,
      fencingToken: h.fencingToken,
      expiresMs: h.leaseEndMs - nowMs,
      ...(h.value === undefined ? {} : { value: h.value }),
    }));
    const newest = holders[holders.length - 1]!;
    return {
      type: ResponseType.Got,
      ...newest,
      holders,
      limit: Math.min(...live.map((h) => h.limit)),
    };
  }
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

/** A shared record of these holders (at least one), the latest grant's token `fencingToken`. */
export function sharedRecord(fencingToken: number, holders: readonly Holder[]): LockRecord {
  assert(holders.length > 0, "a shared record has a holder");
  let leaseEndMs = holders[0]!.leaseEndMs;
  for (const h of holders) leaseEndMs = Math.max(leaseEndMs, h.leaseEndMs);
  return { owner: "", fencingToken, leaseEndMs, holders };
}

function nextToken(record: LockRecord | undefined, firstToken: number): number {
  const fencingToken = record === undefined ? firstToken : record.fencingToken + 1;
  assert(Number.isSafeInteger(fencingToken), "tryLock: fencing token left the safe integers");
  return fencingToken;
}

function holder(
  owner: string,
  fencingToken: number,
  leaseEndMs: number,
  limit: number,
  value: string | undefined,
): Holder {
  return value === undefined
    ? { owner, fencingToken, leaseEndMs, limit }
    : { owner, fencingToken, leaseEndMs, limit, value };
}

/** A grant's value fields after an Extend that publishes `value` (undefined: kept). */
function withValue<T extends { value?: string; valueSeq?: number }>(grant: T, value?: string): T {
  const changed = value !== undefined && value !== grant.value;
  if (!changed) return grant;
  return { ...grant, value, valueSeq: (grant.valueSeq ?? 0) + 1 };
}

function locked(fencingToken: number): LockResponse {
  return { type: ResponseType.Locked, fencingToken };
}

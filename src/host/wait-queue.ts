/**
 * Fair waiting (docs/spec.md §2.5): the leader's first-in-first-out lines of TryLocks that
 * wait for a held lock, one line per lock (resource and durability). Leader memory only: a
 * new leader starts with empty lines and its predecessor's waiters are told to retry.
 *
 * This module keeps the lines; GroupHost decides when a line's first waiter is tried (after a
 * release it applied, and once a tick while the lock is free), and every grant is still an
 * ordinary TryLock judged by the lock rules, so waiting adds no way to grant a lock twice.
 *
 * Invariants:
 * - A line holds each owner at most once (a retry of the same owner takes over its place),
 *   at most waitersPerResourceMax waiters, and all lines of a node together at most the
 *   budget's `max`; a line with no waiter and no grant in flight is removed.
 * - At most one grant per line is in flight (`granting`), and it is the line's oldest waiter.
 * - A waiter is answered exactly once, or never when cancelled (its caller answers it).
 * - `sawHeld` is set only by an answer of the lock rules to this waiter's own TryLock (Busy,
 *   committed for a persistent lock): only then may its timeout answer Busy.
 */
import { assert } from "../assert.ts";
import { waitersPerResourceMax } from "../constants.ts";
import type { LockRequest } from "../locks/types.ts";
import type { Reply } from "./replies.ts";

export type TryLockRequest = Extract<LockRequest, { op: "tryLock" }>;

export type Waiter = {
  /** The TryLock to grant, without its waitMs. */
  readonly request: TryLockRequest;
  reply: Reply;
  deadlineMs: number;
  sawHeld: boolean;
  cancelled: boolean;
};

type Line = { readonly waiters: Waiter[]; granting: Waiter | undefined };

/** Shared by every group of a node: how many waiters its lines hold together. */
export type WaitBudget = { used: number; readonly max: number };

export type Enqueued = "queued" | "replaced" | "full";

/**
 * What a line does, for a checker that judges the order (the simulator's): a waiter joins the
 * back, leaves (its time ran out, its client went away), or is granted the lock from the line.
 * `term` is the leader's term: lines live for one leadership. Not for production use.
 */
export type LineEvent = {
  readonly kind: "queued" | "left" | "granted";
  readonly group: number;
  readonly term: number;
  readonly key: string;
  readonly owner: string;
};
export type LineTrace = (event: LineEvent) => void;

export function lineKey(request: Pick<LockRequest, "resource" | "durability">): string {
  return `${request.durability}:${request.resource}`;
}

export class WaitQueue {
  readonly #lines = new Map<string, Line>();
  readonly #budget: WaitBudget;

  constructor(budget: WaitBudget) {
    this.#budget = budget;
  }

  /** True when the lock has waiters or a grant to a waiter in flight. */
  has(key: string): boolean {
    return this.#lines.has(key);
  }

  isEmpty(): boolean {
    return this.#lines.size === 0;
  }

  keys(): IterableIterator<string> {
    return this.#lines.keys();
  }

  size(): number {
    let count = 0;
    for (const line of this.#lines.values()) {
      count += line.waiters.length + (line.granting === undefined ? 0 : 1);
    }
    return count;
  }

  /**
   * The waiter of `owner` in this lock's line (waiting or being granted), if any: a retry of
   * the same owner answers through it instead of queueing twice.
   */
  find(key: string, owner: string): Waiter | undefined {
    const line = this.#lines.get(key);
    if (line === undefined) return undefined;
    if (line.granting?.request.owner === owner) return line.granting;
    return line.waiters.find((waiter) => waiter.request.owner === owner);
  }

  /** Puts a waiter at the back of its line, unless the line or the node is full. */
  enqueue(key: string, waiter: Waiter): Exclude<Enqueued, "replaced"> {
    let line = this.#lines.get(key);
    const waiting = line === undefined ? 0 : line.waiters.length;
    if (waiting >= waitersPerResourceMax || this.#budget.used >= this.#budget.max) return "full";
    assert(this.find(key, waiter.request.owner) === undefined, "an owner waits once per line");
    if (line === undefined) {
      line = { waiters: [], granting: undefined };
      this.#lines.set(key, line);
    }
    line.waiters.push(waiter);
    this.#budget.used += 1;
    return "queued";
  }

  /** The oldest waiter, if it may be tried now (no grant of this line in flight). */
  head(key: string): Waiter | undefined {
    const line = this.#lines.get(key);
    if (line === undefined || line.granting !== undefined) return undefined;
    return line.waiters[0];
  }

  /** Takes the oldest waiter out of the line to try a grant for it. */
  startGrant(key: string): Waiter {
    const line = this.#lines.get(key);
    assert(line !== undefined && line.granting === undefined, "one grant per line at a time");
    const waiter = line.waiters.shift();
    assert(waiter !== undefined, "a grant starts with a waiter");
    line.granting = waiter;
    return waiter;
  }

  /**
   * The grant tried for `waiter` has its answer. `again` puts it back at the head of the line
   * (the lock was taken by someone else first); otherwise it leaves.
   */
  endGrant(key: string, waiter: Waiter, again: boolean): void {
    const line = this.#lines.get(key);
    if (line === undefined || line.granting !== waiter) return;
    line.granting = undefined;
    if (again && !waiter.cancelled) {
      line.waiters.unshift(waiter);
      return;
    }
    this.#budget.used -= 1;
    this.#dropIfEmpty(key, line);
  }

  /** Removes and returns the waiters whose deadline has come (none that is being granted). */
  takeExpired(nowMs: number): { key: string; waiter: Waiter }[] {
    const expired: { key: string; waiter: Waiter }[] = [];
    for (const [key, line] of this.#lines) {
      if (!line.waiters.some((waiter) => waiter.deadlineMs <= nowMs)) continue;
      const kept = line.waiters.filter((waiter) => {
        if (waiter.deadlineMs > nowMs) return true;
        expired.push({ key, waiter });
        return false;
      });
      line.waiters.splice(0, line.waiters.length, ...kept);
      this.#dropIfEmpty(key, line);
    }
    this.#budget.used -= expired.length;
    return expired;
  }

  /**
   * Takes `waiter` out (its client went away); it will not be answered. True when it stood in
   * the line (waiting, or being granted: that grant may still happen, unanswered).
   */
  cancel(key: string, waiter: Waiter): boolean {
    waiter.cancelled = true;
    const line = this.#lines.get(key);
    if (line === undefined) return false;
    if (line.granting === waiter) return true;
    const at = line.waiters.indexOf(waiter);
    if (at < 0) return false;
    line.waiters.splice(at, 1);
    this.#budget.used -= 1;
    this.#dropIfEmpty(key, line);
    return true;
  }

  /**
   * Empties every line (the leader stepped down) and returns the waiters not being granted:
   * the caller tells them to retry. Grants in flight are answered by their own request.
   */
  clear(): Waiter[] {
    const waiting: Waiter[] = [];
    for (const line of this.#lines.values()) {
      waiting.push(...line.waiters);
      this.#budget.used -= line.waiters.length + (line.granting === undefined ? 0 : 1);
    }
    this.#lines.clear();
    return waiting;
  }

  #dropIfEmpty(key: string, line: Line): void {
    if (line.waiters.length === 0 && line.granting === undefined) this.#lines.delete(key);
  }
}

/**
 * Watches (docs/spec.md §2.6): the leader's record of how its watched locks change, and the
 * watch requests waiting for the next change. Leader memory only, like the lines of waiters: a
 * new leader starts with none, and a watcher that comes back to it learns whether it missed
 * anything (its cursor is then older than what the new leader recorded).
 *
 * A watch is a long poll: each request carries the cursor of the last event its watcher saw
 * and is answered with every change after it, at once when there are some, else when the next
 * one happens or its `waitMs` is up. Between two requests of a watcher the lock keeps its
 * history here (for `watchIdleMs`), so no change falls between them.
 *
 * Invariants:
 * - A watched lock's history holds, oldest first, every change after `since` up to `last`, at
 *   most watchHistoryMax of them; positions only grow along it (watch-cursor.ts).
 * - A request is answered with changes only if its cursor is at or after `since`; an older
 *   cursor (or one this leader cannot place) is answered with the lock's state, `missed`.
 * - A request is answered exactly once, or never when cancelled (its caller answers it).
 * - The node's watched locks and waiting requests stay within the budget (more: MustRetry).
 *
 * Synchronous and deterministic: GroupHost calls it with its clock readings.
 */
import { assert } from "../assert.ts";
import {
  watchedLocksPerNodeMax,
  watchHistoryMax,
  watchIdleMs,
  watchPollsPerNodeMax,
  watchPollsPerResourceMax,
} from "../constants.ts";
import type { LockRecord } from "../locks/lock-rules.ts";
import { type LockResponse, ResponseType, type WatchEvent } from "../locks/types.ts";
import {
  comparePositions,
  formatCursor,
  parseCursor,
  Phase,
  type Position,
} from "../locks/watch-cursor.ts";
import { mustRetry, type Reply } from "./replies.ts";

/** Shared by every group of a node: watched locks and waiting watch requests. */
export type WatchBudget = { locks: number; polls: number };

export function newWatchBudget(): WatchBudget {
  return { locks: 0, polls: 0 };
}

export type Recorded = { readonly position: Position; readonly event: WatchEvent };

/**
 * One applied op that changed a lock's holder or value, as it came: the records before and after
 * it (immutable, so kept by reference) and its clock reading. Its watch events are derived only
 * when a cursor asks for them, so applying an op on every replica costs one small object.
 */
type RecentChange = {
  readonly key: string;
  readonly before: LockRecord | undefined;
  readonly after: LockRecord | undefined;
  readonly nowMs: number;
};

/**
 * A record as watches see it: they follow exclusive holders (docs/spec.md §2.6), so a shared
 * record (§2.8) is a free one at its latest token; its holders are not reported.
 */
export function exclusiveView(record: LockRecord | undefined): LockRecord | undefined {
  if (record?.holders === undefined) return record;
  return { owner: "", fencingToken: record.fencingToken, leaseEndMs: record.leaseEndMs };
}

/** Whether an op's records differ in what a watch reports: holder, token, end or value. */
export function changesHolder(
  sharedBefore: LockRecord | undefined,
  sharedAfter: LockRecord | undefined,
) {
  const before = exclusiveView(sharedBefore);
  const after = exclusiveView(sharedAfter);
  if (after === undefined) return before !== undefined && before.owner !== ""; // swept unreleased
  if (before === undefined) return true;
  return after.fencingToken !== before.fencingToken ||
    (before.owner !== "" && after.owner === "") ||
    (after.valueSeq ?? 0) !== (before.valueSeq ?? 0);
}

/** Where a lock stood before an op: its grant still running, ended, or none at its token yet. */
function priorPosition(
  sharedBefore: LockRecord | undefined,
  sharedAfter: LockRecord | undefined,
): Position {
  const before = exclusiveView(sharedBefore);
  const after = exclusiveView(sharedAfter);
  if (before === undefined) return { token: after?.fencingToken ?? 0, phase: Phase.Before };
  if (before.owner === "") return { token: before.fencingToken, phase: Phase.Ended };
  return { token: before.fencingToken, phase: Phase.Acquired, seq: before.valueSeq ?? 0 };
}

/**
 * The last persistent changes of one partition, of every lock, as this replica applied them
 * (the same on every replica). A leader answers from it a cursor older than what its watch of
 * the lock recorded: after a leader change, or after it forgot an idle watch.
 */
export class RecentChanges {
  readonly #ring: (RecentChange | undefined)[];
  #next = 0;

  constructor(size: number) {
    this.#ring = new Array<RecentChange | undefined>(size).fill(undefined);
  }

  /** An applied op whose records `changesHolder` says differ. */
  add(key: string, before: LockRecord | undefined, after: LockRecord | undefined, nowMs: number) {
    this.#ring[this.#next] = { key, before, after, nowMs };
    this.#next = (this.#next + 1) % this.#ring.length;
  }

  /** Forgets everything (a snapshot replaced the state: what came before it is unknown). */
  clear(): void {
    this.#ring.fill(undefined);
  }

  /**
   * The lock's changes after `after`, oldest first, if this ring holds all of them: the first
   * one's prior position is at or before `after`. [] when it holds none; undefined when the
   * first it holds came after others it no longer has.
   */
  after(key: string, after: Position): Recorded[] | undefined {
    const found: Recorded[] = [];
    let firstPrior: Position | undefined;
    for (let i = 0; i < this.#ring.length; i++) {
      const op = this.#ring[(this.#next + i) % this.#ring.length];
      if (op === undefined || op.key !== key) continue;
      let prior = priorPosition(op.before, op.after);
      for (const recorded of changesBetween(op.before, op.after, op.nowMs)) {
        if (comparePositions(recorded.position, after) > 0) {
          firstPrior ??= prior;
          found.push(recorded);
        }
        prior = recorded.position;
      }
    }
    if (firstPrior !== undefined && comparePositions(firstPrior, after) > 0) return undefined;
    return found;
  }
}

type Poll = {
  readonly after: Position;
  readonly reply: Reply;
  readonly deadlineMs: number;
};

type Watched = {
  since: Position;
  last: Position;
  /** The partition's recent persistent changes, for cursors older than `since`. */
  readonly recent: RecentChanges | undefined;
  /** The holder when `last` is an acquisition: who an expiry is about. */
  holder: string;
  /** Its published value then, if any. */
  holderValue: string | undefined;
  readonly history: Recorded[];
  readonly polls: Poll[];
  /**
   * When a request last came or was answered; with none waiting, the lock is forgotten
   * `watchIdleMs` after.
   */
  idleSinceMs: number;
  /**
   * The last log index of a proposal that may change a persistent lock: its expiry is not
   * declared until it is applied (an Extend judged before the lease ended may still commit).
   */
  proposedThrough: number;
};

/** What the lock is now, as the host sees it on this leader. */
export type LockNow = {
  /** The lock's key (durability and resource). */
  readonly key: string;
  readonly record: LockRecord | undefined;
  /** The partition's applied index (persistent locks; 0 for ephemeral). */
  readonly appliedIndex: number;
  /** The token the lock's next grant gets when it has no record. */
  readonly floor: number;
  readonly held: boolean;
  /**
   * Not held on this leader's clock, but not over for a next leader either: the log's clock has
   * not passed the lease's end (persistent locks). A watch takes it as still running.
   */
  readonly unsettled: boolean;
  /** The lease left, when held. */
  readonly leftMs: number;
};

/** The position of a lock's state: its last grant, acquired or ended; or before any grant. */
export function positionOf(now: LockNow): Position {
  const record = now.record;
  if (record === undefined) return { token: now.floor, phase: Phase.Before };
  if (!now.held) return { token: record.fencingToken, phase: Phase.Ended };
  return { token: record.fencingToken, phase: Phase.Acquired, seq: record.valueSeq ?? 0 };
}

/**
 * The changes of holder between two records of one lock: a grant with a new token (after the
 * expiry of the last one, when it was never released), or a release. An Extend is none. A
 * record a sweep removed (`after` undefined) ended with its lease, if it was not released.
 */
export function changesBetween(
  sharedBefore: LockRecord | undefined,
  sharedAfter: LockRecord | undefined,
  nowMs: number,
): Recorded[] {
  const before = exclusiveView(sharedBefore);
  const after = exclusiveView(sharedAfter);
  if (after === undefined) {
    return before === undefined || before.owner === ""
      ? []
      : [change("expired", before.fencingToken, Phase.Ended, before.owner)];
  }
  if (after === before) return [];
  if (before === undefined || after.fencingToken > before.fencingToken) {
    const changes: Recorded[] = [];
    if (before !== undefined && before.owner !== "") {
      changes.push(change("expired", before.fencingToken, Phase.Ended, before.owner));
    }
    if (after.owner === "") return changes; // a shared grant: not a holder watches report
    changes.push(
      change("acquired", after.fencingToken, Phase.Acquired, after.owner, {
        expiresMs: after.leaseEndMs - nowMs,
        value: after.value,
        seq: after.valueSeq,
      }),
    );
    return changes;
  }
  if (before.owner !== "" && after.owner === "") {
    return [change("released", before.fencingToken, Phase.Ended, before.owner)];
  }
  const seq = after.valueSeq ?? 0;
  if (after.owner !== "" && seq > (before.valueSeq ?? 0)) {
    return [
      change("proclaimed", after.fencingToken, Phase.Acquired, after.owner, {
        value: after.value,
        seq,
      }),
    ];
  }
  return [];
}

function change(
  kind: WatchEvent["kind"],
  token: number,
  phase: Phase,
  owner: string,
  extra: { expiresMs?: number; value?: string | undefined; seq?: number | undefined } = {},
): Recorded {
  const seq = extra.seq ?? 0;
  const position = seq === 0 ? { token, phase } : { token, phase, seq };
  const event: WatchEvent = {
    kind,
    cursor: formatCursor(position),
    owner,
    fencingToken: token,
    ...(extra.expiresMs === undefined ? {} : { expiresMs: extra.expiresMs }),
    ...(extra.value === undefined ? {} : { value: extra.value }),
  };
  return { position, event };
}

export class WatchTable {
  readonly #locks = new Map<string, Watched>();
  readonly #budget: WatchBudget;
  /** Locks that changed since the last `answerChanged`. */
  #changed = new Set<string>();

  constructor(budget: WatchBudget) {
    this.#budget = budget;
  }

  isEmpty(): boolean {
    return this.#locks.size === 0;
  }

  has(key: string): boolean {
    return this.#locks.has(key);
  }

  keys(): IterableIterator<string> {
    return this.#locks.keys();
  }

  /** Watch requests waiting on this group. */
  pollCount(): number {
    let count = 0;
    for (const watched of this.#locks.values()) count += watched.polls.length;
    return count;
  }

  /**
   * One watch request. Answered at once when there is something to say (or when it has no
   * deadline), else it waits until a change or `deadlineMs` and the returned `cancel` takes it
   * out. A full budget answers MustRetry.
   */
  watch(
    key: string,
    afterText: string | undefined,
    now: LockNow,
    nowMs: number,
    deadlineMs: number | undefined,
    reply: Reply,
    proposedThrough: number,
    recent?: RecentChanges,
  ): { cancel: () => void } | undefined {
    let watched = this.#locks.get(key);
    if (watched === undefined) {
      if (this.#budget.locks >= watchedLocksPerNodeMax) {
        reply(mustRetry(
          `this node watches too many locks (at most ${watchedLocksPerNodeMax}); retry later`,
        ));
        return undefined;
      }
      // A lease over on this clock may yet run for a next leader (the log's clock is short of
      // its end) or be extended (proposals in flight): it is held until its expiry is declared.
      const unsettled = now.unsettled ||
        (!now.held && now.record !== undefined && now.record.owner !== "" &&
          proposedThrough > now.appliedIndex);
      const position = unsettled
        ? { token: now.record!.fencingToken, phase: Phase.Acquired, seq: now.record!.valueSeq ?? 0 }
        : positionOf(now);
      watched = {
        since: position,
        last: position,
        holder: now.held || unsettled ? now.record?.owner ?? "" : "",
        holderValue: now.held || unsettled ? now.record?.value : undefined,
        recent,
        history: [],
        polls: [],
        idleSinceMs: nowMs,
        proposedThrough,
      };
      this.#locks.set(key, watched);
      this.#budget.locks += 1;
    }
    watched.idleSinceMs = nowMs;
    const after = afterText === undefined ? undefined : parseCursor(afterText);
    assert(afterText === undefined || after !== undefined, "the boundary checked the cursor");
    const answer = this.#answerFor(watched, after, now);
    if (answer !== undefined || deadlineMs === undefined) {
      reply(answer ?? watchedAnswer(afterText ?? formatCursor(watched.last), false, []));
      return undefined;
    }
    assert(after !== undefined, "a watch without a cursor is answered at once");
    if (
      watched.polls.length >= watchPollsPerResourceMax ||
      this.#budget.polls >= watchPollsPerNodeMax
    ) {
      reply(mustRetry(
        `too many watch requests wait (at most ${watchPollsPerResourceMax} for one lock, ` +
          `${watchPollsPerNodeMax} for the node); retry later`,
      ));
      return undefined;
    }
    const poll: Poll = { after, reply, deadlineMs };
    watched.polls.push(poll);
    this.#budget.polls += 1;
    const polls = watched.polls;
    return {
      cancel: () => {
        const at = polls.indexOf(poll);
        if (at < 0) return;
        polls.splice(at, 1);
        this.#budget.polls -= 1;
      },
    };
  }

  /** The changes after `after`, the state when they are unknown, or undefined: nothing yet. */
  #answerFor(
    watched: Watched,
    after: Position | undefined,
    now: LockNow,
  ): LockResponse | undefined {
    if (after === undefined) return stateAnswer(watched, now, false);
    if (comparePositions(after, watched.since) < 0) return this.#fromRecent(watched, after, now);
    const events = watched.history
      .filter((recorded) => comparePositions(recorded.position, after) > 0)
      .map((recorded) => recorded.event);
    const lastEvent = events.at(-1);
    if (lastEvent !== undefined) return watchedAnswer(lastEvent.cursor, false, events);
    // A cursor past what this leader recorded: only the end of the grant it knows is
    // possible (an earlier leader saw the lease run out first); anything else it cannot place.
    if (comparePositions(after, watched.last) > 0 && after.token !== watched.last.token) {
      return stateAnswer(watched, now, true);
    }
    return undefined;
  }

  /**
   * A cursor older than what this watch recorded: the partition's recent changes may still hold
   * every change after it (then they are the answer, with this watch's own after them); else
   * the answer is the state, missed.
   */
  #fromRecent(watched: Watched, after: Position, now: LockNow): LockResponse {
    const recent = watched.recent?.after(now.key, after);
    if (recent === undefined) return stateAnswer(watched, now, true);
    const known = [...recent];
    const lastKnown = known.at(-1)?.position ?? after;
    // The grant the cursor names may have run out on this leader's clock since: declared here.
    for (const recorded of watched.history) {
      if (comparePositions(recorded.position, lastKnown) > 0) known.push(recorded);
    }
    const reached = known.at(-1)?.position ?? after;
    const record = now.record;
    if (
      reached.phase === Phase.Acquired && comparePositions(watched.since, reached) > 0 &&
      watched.since.token === reached.token && record?.fencingToken === reached.token &&
      record.owner !== ""
    ) {
      // The lease ran out before this watch began; its release would be among the changes.
      known.push(change("expired", reached.token, Phase.Ended, record.owner));
    }
    const through = known.at(-1)?.position ?? after;
    // What is known must reach what this watch started from, or something is missing.
    if (comparePositions(through, watched.since) < 0) return stateAnswer(watched, now, true);
    // At most a history's worth per answer: the next request, from the last one, gets the rest.
    const events = known.slice(0, watchHistoryMax).map((recorded) => recorded.event);
    const lastEvent = events.at(-1);
    return lastEvent === undefined
      ? stateAnswer(watched, now, true)
      : watchedAnswer(lastEvent.cursor, false, events);
  }

  /** Records changes of a watched lock (none when it is not watched). */
  record(key: string, changes: readonly Recorded[]): void {
    const watched = this.#locks.get(key);
    if (watched === undefined) return;
    for (const recorded of changes) {
      if (comparePositions(recorded.position, watched.last) <= 0) continue;
      watched.history.push(recorded);
      watched.last = recorded.position;
      const acquired = recorded.position.phase === Phase.Acquired;
      watched.holder = acquired ? recorded.event.owner : "";
      watched.holderValue = acquired ? recorded.event.value : undefined;
      this.#changed.add(key);
    }
    while (watched.history.length > watchHistoryMax) {
      const dropped = watched.history.shift();
      assert(dropped !== undefined, "a history over its bound is not empty");
      watched.since = dropped.position;
    }
  }

  /** A persistent proposal that may change the lock is in the log at `index`. */
  proposed(key: string, index: number): void {
    const watched = this.#locks.get(key);
    if (watched !== undefined) watched.proposedThrough = Math.max(watched.proposedThrough, index);
  }

  /**
   * Watched locks whose holder's lease may have run out: held as last recorded, with every
   * proposal that could change them applied (`appliedIndex`, or Infinity for ephemeral).
   */
  *mayHaveExpired(appliedIndex: number): Generator<{ key: string; token: number; owner: string }> {
    for (const [key, watched] of this.#locks) {
      if (watched.last.phase !== Phase.Acquired || watched.proposedThrough > appliedIndex) continue;
      yield { key, token: watched.last.token, owner: watched.holder };
    }
  }

  /** Answers the requests waiting on locks that changed. */
  answerChanged(nowMs: number, nowOf: (key: string) => LockNow): void {
    if (this.#changed.size === 0) return;
    const changed = this.#changed;
    this.#changed = new Set();
    for (const key of changed) {
      const watched = this.#locks.get(key);
      if (watched === undefined || watched.polls.length === 0) continue;
      const now = nowOf(key);
      const waiting = watched.polls.splice(0);
      for (const poll of waiting) {
        const answer = this.#answerFor(watched, poll.after, now);
        if (answer === undefined) {
          watched.polls.push(poll);
          continue;
        }
        this.#budget.polls -= 1;
        watched.idleSinceMs = nowMs;
        poll.reply(answer);
      }
    }
  }

  /**
   * Once a tick: requests whose time is up are answered with no event; locks no request waited
   * on for `watchIdleMs` are forgotten.
   */
  expire(nowMs: number): void {
    for (const [key, watched] of this.#locks) {
      const kept = watched.polls.filter((poll) => {
        if (poll.deadlineMs > nowMs) return true;
        this.#budget.polls -= 1;
        poll.reply(watchedAnswer(formatCursor(poll.after), false, []));
        return false;
      });
      if (kept.length !== watched.polls.length) {
        watched.polls.splice(0, watched.polls.length, ...kept);
        watched.idleSinceMs = nowMs;
      }
      if (watched.polls.length === 0 && nowMs - watched.idleSinceMs >= watchIdleMs) {
        this.#locks.delete(key);
        this.#budget.locks -= 1;
      }
    }
  }

  /** The leader stepped down: every waiting request is told to retry, and all is forgotten. */
  clear(why: string): void {
    for (const watched of this.#locks.values()) {
      const polls = watched.polls.splice(0);
      this.#budget.polls -= polls.length;
      for (const poll of polls) poll.reply(mustRetry(why));
    }
    this.#budget.locks -= this.#locks.size;
    this.#locks.clear();
    this.#changed.clear();
  }
}

function watchedAnswer(
  cursor: string,
  missed: boolean,
  events: readonly WatchEvent[],
): LockResponse {
  return { type: ResponseType.Watched, fencingToken: 0, watch: { cursor, missed, events } };
}

/** The lock's state as one event, at the last position this leader recorded. */
function stateAnswer(watched: Watched, now: LockNow, missed: boolean): LockResponse {
  const position = watched.last;
  const cursor = formatCursor(position);
  const held = position.phase === Phase.Acquired;
  const event: WatchEvent = {
    kind: "state",
    cursor,
    owner: held ? watched.holder : "",
    fencingToken: position.phase === Phase.Before ? 0 : position.token,
    ...(held ? { expiresMs: Math.max(0, now.leftMs) } : {}),
    ...(held && watched.holderValue !== undefined ? { value: watched.holderValue } : {}),
  };
  return watchedAnswer(cursor, missed, [event]);
}

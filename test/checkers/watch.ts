/**
 * The watch checker (docs/spec.md §2.6): what watchers saw of a lock, judged against the
 * clients' history of it.
 *
 * - Order: the changes a watcher sees go forward (by cursor), and they alternate: a grant's
 *   acquisition, then its end (released or expired) with the same token, then a later grant.
 *   A state event (the first, or one standing in for missed changes) starts over.
 * - Truth: an acquired names an owner that asked for the lock, with a token one of its TryLocks
 *   was granted (or that one of unknown outcome may have been);
 *   a released names an owner that asked to unlock.
 * - No lease kept after its end: a watcher is told a grant expired no earlier than the lease of
 *   any Extend of it answered Extended could end.
 * - Nothing lost: between two state events, every grant a client was answered Locked for whose
 *   position lies in what the watcher covered was seen as acquired.
 */
import { clockDriftPpmMax } from "../../src/constants.ts";
import type { Durability, WatchEvent } from "../../src/locks/types.ts";
import { describe, keyOf, type OpRecord, type Violation } from "./history.ts";

export type SeenChange = {
  readonly event: WatchEvent;
  readonly missed: boolean;
  /** When the watcher had it, on the history's clock. */
  readonly atMs: number;
};

export type WatchLog = {
  readonly watcher: string;
  readonly resource: string;
  readonly durability: Durability;
  readonly seen: SeenChange[];
};

type Position = { token: number; phase: number; seq: number };

function positionOf(cursor: string): Position {
  const [token, phase, seq] = cursor.split(".").map(Number) as [number, number, number?];
  return { token, phase, seq: seq ?? 0 };
}

function compare(a: Position, b: Position): number {
  if (a.token !== b.token) return a.token - b.token;
  return a.phase !== b.phase ? a.phase - b.phase : a.seq - b.seq;
}

export function checkWatches(logs: readonly WatchLog[], history: readonly OpRecord[]): Violation[] {
  const violations: Violation[] = [];
  for (const log of logs) {
    const key = keyOf(log);
    const ops = history.filter((op) => keyOf(op) === key);
    const fail = (message: string, atMs: number, involved: readonly OpRecord[] = []) => {
      if (violations.length >= 20) return;
      violations.push({
        checker: "watch",
        key,
        message: `${log.watcher}: ${message}`,
        atMs,
        ops: involved.map(describe),
      });
    };
    checkOrder(log, fail);
    checkTruth(log, ops, fail);
    checkNothingLost(log, ops, fail);
  }
  return violations;
}

type Fail = (message: string, atMs: number, involved?: readonly OpRecord[]) => void;

function describeEvent(e: WatchEvent): string {
  return `${e.kind}(${e.owner.slice(0, 8)} f${e.fencingToken} @${e.cursor})`;
}

function checkOrder(log: WatchLog, fail: Fail): void {
  let last: Position | undefined;
  /** The token of the grant running as last seen, or undefined when the lock was free. */
  let running: number | undefined;
  for (const { event, atMs } of log.seen) {
    const position = positionOf(event.cursor);
    if (event.kind === "state") {
      last = position;
      running = event.owner === "" ? undefined : event.fencingToken;
      continue;
    }
    if (last !== undefined && compare(position, last) <= 0) {
      fail(`${describeEvent(event)} does not come after cursor ${last.token}.${last.phase}`, atMs);
    }
    if (event.kind === "acquired" && running !== undefined) {
      fail(`${describeEvent(event)} while grant f${running} had not ended`, atMs);
    }
    if (event.kind !== "acquired" && running !== event.fencingToken) {
      fail(`${describeEvent(event)} is about a grant that was not running`, atMs);
    }
    running = event.kind === "acquired" || event.kind === "proclaimed"
      ? event.fencingToken
      : undefined;
    last = position;
  }
}

function checkTruth(log: WatchLog, ops: readonly OpRecord[], fail: Fail): void {
  for (const { event, atMs } of log.seen) {
    if (event.kind === "acquired") {
      const asked = ops.filter((op) =>
        op.op === "tryLock" && op.owner === event.owner && op.outcome !== "failed"
      );
      if (asked.length === 0) fail(`${describeEvent(event)}: that owner never asked`, atMs);
      // An owner may ask again after its grant ended (a repeated request): any of its
      // TryLocks may be this grant, if it was answered with this token or its outcome is unknown.
      const could = asked.some((op) =>
        op.outcome === "unknown" || (op.type === 0 && op.fencingToken === event.fencingToken)
      );
      if (asked.length > 0 && !could) {
        fail(
          `${describeEvent(event)}: no TryLock of that owner was granted that token`,
          atMs,
          asked,
        );
      }
    }
    if (event.kind === "proclaimed") {
      const asked = ops.some((op) =>
        op.op === "extend" && op.owner === event.owner && op.outcome !== "failed"
      );
      if (!asked) fail(`${describeEvent(event)}: that owner never extended`, atMs);
    }
    if (event.kind === "released") {
      const asked = ops.some((op) =>
        op.op === "unlock" && op.owner === event.owner && op.outcome !== "failed"
      );
      if (!asked) fail(`${describeEvent(event)}: that owner never asked to unlock`, atMs);
    }
    if (event.kind === "expired") {
      // An Extend answered Extended was judged before the grant ended, no earlier than it was
      // sent, and its lease runs at least expiresMs on a clock within the drift bound: the end
      // cannot have been seen before that, unless another Extend may have come after it (an
      // Extend sets the lease from its own judgement, shorter too).
      const extends_ = ops.filter((op) =>
        op.op === "extend" && op.owner === event.owner && op.outcome !== "failed"
      );
      const kept = extends_.filter((op) =>
        op.outcome === "ok" && op.type === 2 && op.fencingToken === event.fencingToken &&
        op.sendMs + op.expiresMs * (1 - clockDriftPpmMax / 1e6) > atMs &&
        !extends_.some((other) => other !== op && other.ackMs > op.sendMs)
      );
      if (kept.length > 0) {
        fail(`${describeEvent(event)}, and then the lease was extended`, atMs, kept);
      }
    }
  }
}

function checkNothingLost(log: WatchLog, ops: readonly OpRecord[], fail: Fail): void {
  const grants = ops.filter((op) => op.op === "tryLock" && op.outcome === "ok" && op.type === 0);
  // Segments: from a state event's position to the last position seen before the next state.
  let from: Position | undefined;
  let through: Position | undefined;
  let acquired = new Set<number>();
  const close = () => {
    if (from === undefined || through === undefined) return;
    const start = from;
    const end = through;
    for (const grant of grants) {
      const at = { token: grant.fencingToken, phase: 1, seq: 0 };
      if (compare(at, start) <= 0 || compare(at, end) > 0) continue;
      if (!acquired.has(grant.fencingToken)) {
        fail(
          `grant f${grant.fencingToken} is within cursors ${start.token}.${start.phase}..` +
            `${end.token}.${end.phase} but was never seen`,
          grant.ackMs,
          [grant],
        );
      }
    }
  };
  for (const { event } of log.seen) {
    const position = positionOf(event.cursor);
    if (event.kind === "state") {
      close();
      from = position;
      through = position;
      acquired = new Set();
      continue;
    }
    if (event.kind === "acquired") acquired.add(event.fencingToken);
    through = position;
  }
  close();
}

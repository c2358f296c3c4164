/**
 * Checkers over a client history of a real cluster (DESIGN.md §8, issue 5). Each returns the
 * violations it found; an empty list means the history passed that check. They judge only
 * what clients saw, on the harness's one clock, and every rule leans towards the system
 * (see history.ts on how times are taken), so a violation is a real one.
 *
 * - mutual exclusion: a grant to B is a violation if it was acknowledged before A's lease
 *   could have ended (A's reliance end: send × expiresMs × 0.99, pushed on by A's extends)
 *   and A had not (even possibly) released it first;
 * - tokens: no token given to two owners; a grant acknowledged before another was sent has
 *   the smaller token; no extend or persistent read answers for a token older than a grant
 *   acknowledged before it was sent;
 * - fenced store: no write refused while its writer could still rely on its lease;
 * - durable locks: after the final full restart every acknowledged persistent lock is still
 *   held by its owner with its token, and every acknowledged unlock stayed unlocked;
 * - linearizability of each lock's history against lock-model.ts.
 */
import { Durability, ResponseType } from "../../src/locks/types.ts";
import {
  describe,
  type FencedWrite,
  keyOf,
  type OpRecord,
  relianceEndMs,
  type Violation,
} from "./history.ts";
import { checkLinearizable, type LinearizabilityResult } from "./linearizability.ts";
import { initialLockState, type LockState, stateKey, stepLock } from "./lock-model.ts";

/** One grant: an owner's lease on a key with one token, however many attempts it took. */
export type Grant = {
  readonly key: string;
  readonly owner: string;
  readonly token: number;
  readonly expiresMs: number;
  /** The first send of this owner's tryLock: the lease counts from no earlier. */
  readonly leaseFromMs: number;
  /** The first acknowledgment of this grant. */
  readonly ackMs: number;
  readonly sendMs: number;
  readonly op: OpRecord;
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

const isOk = (op: OpRecord, type: ResponseType) => op.outcome === "ok" && op.type === type;

export function grantsOf(ops: readonly OpRecord[]): Grant[] {
  const grants = new Map<string, Grant>();
  for (const op of ops) {
    if (op.op !== "tryLock" || !isOk(op, ResponseType.Locked)) continue;
    const id = `${op.owner}#${op.fencingToken}`;
    const seen = grants.get(id);
    if (seen === undefined || op.ackMs < seen.ackMs) {
      grants.set(id, {
        key: keyOf(op),
        owner: op.owner,
        token: op.fencingToken,
        expiresMs: op.expiresMs,
        leaseFromMs: Math.min(op.leaseFromMs, seen?.leaseFromMs ?? Infinity),
        ackMs: op.ackMs,
        sendMs: Math.min(op.sendMs, seen?.sendMs ?? Infinity),
        op,
      });
    }
  }
  return [...grants.values()].sort((a, b) => a.token - b.token || a.ackMs - b.ackMs);
}

/** Each owner's operations on one key (owners are per lock session, so these lists are short). */
function byOwner(ops: readonly OpRecord[]): Map<string, OpRecord[]> {
  const owners = new Map<string, OpRecord[]>();
  for (const op of ops) {
    let list = owners.get(op.owner);
    if (list === undefined) owners.set(op.owner, list = []);
    list.push(op);
  }
  return owners;
}

/** Until when A's holder could rely on its lease, as far as B's grant (acked at ackMs) can tell. */
function reliedUntil(a: Grant, ops: readonly OpRecord[], beforeMs: number): number {
  let until = relianceEndMs(a.leaseFromMs, a.expiresMs);
  for (const op of ops) {
    if (op.op !== "extend" || op.owner !== a.owner || op.sendMs >= beforeMs) continue;
    if (!isOk(op, ResponseType.Extended) || op.fencingToken !== a.token) continue;
    until = Math.max(until, relianceEndMs(op.sendMs, op.expiresMs));
  }
  return until;
}

function mayHaveReleased(a: Grant, ops: readonly OpRecord[], beforeMs: number): boolean {
  return ops.some((op) =>
    op.op === "unlock" && op.owner === a.owner && op.outcome !== "failed" && op.sendMs < beforeMs &&
    op.sendMs >= a.sendMs
  );
}

export function checkMutualExclusion(history: readonly OpRecord[]): Violation[] {
  const violations: Violation[] = [];
  for (const [key, ops] of byKey(history)) {
    const grants = grantsOf(ops);
    const owners = byOwner(ops);
    for (let j = 0; j < grants.length; j++) {
      const b = grants[j]!;
      for (let i = j - 1; i >= 0 && i >= j - 256; i--) {
        const a = grants[i]!;
        if (a.owner === b.owner) continue;
        const mine = owners.get(a.owner) ?? [];
        const until = reliedUntil(a, mine, b.ackMs);
        if (b.ackMs >= until || mayHaveReleased(a, mine, b.ackMs)) continue;
        violations.push({
          checker: "mutual exclusion",
          key,
          message:
            `granted to ${b.owner.slice(0, 8)} (f${b.token}) at ${b.ackMs.toFixed(0)} ms while ` +
            `${a.owner.slice(0, 8)} (f${a.token}) could rely on its lease until ${
              until.toFixed(0)
            } ms ` +
            `(${(until - b.ackMs).toFixed(0)} ms early) and had not released it`,
          ops: [describe(a.op), describe(b.op)],
        });
      }
    }
  }
  return violations;
}

/**
 * How close the cluster came to a double grant: for every grant that followed another
 * owner's lease that was never released (it expired, or its holder went away), the time from
 * that lease's reliance end to the new grant's acknowledgment. The smallest per durability,
 * and how many such handovers there were. Negative would be a violation.
 */
export function expiryHandovers(
  history: readonly OpRecord[],
): Record<string, { count: number; minMarginMs: number }> {
  const result: Record<string, { count: number; minMarginMs: number }> = {};
  for (const [key, ops] of byKey(history)) {
    const grants = grantsOf(ops);
    const owners = byOwner(ops);
    const name = key.startsWith("0:") ? "ephemeral" : "persistent";
    for (let j = 1; j < grants.length; j++) {
      const a = grants[j - 1]!;
      const b = grants[j]!;
      const mine = owners.get(a.owner) ?? [];
      if (a.owner === b.owner || mayHaveReleased(a, mine, b.ackMs)) continue;
      const margin = b.ackMs - reliedUntil(a, mine, b.ackMs);
      const entry = result[name] ?? (result[name] = { count: 0, minMarginMs: Infinity });
      entry.count += 1;
      entry.minMarginMs = Math.min(entry.minMarginMs, Math.round(margin));
    }
  }
  return result;
}

export function checkTokens(history: readonly OpRecord[]): Violation[] {
  const violations: Violation[] = [];
  for (const [key, ops] of byKey(history)) {
    const grants = grantsOf(ops);
    const ownerOfToken = new Map<number, Grant>();
    for (const g of grants) {
      const other = ownerOfToken.get(g.token);
      if (other !== undefined && other.owner !== g.owner) {
        violations.push({
          checker: "tokens",
          key,
          message: `token f${g.token} granted to two owners, ${other.owner.slice(0, 8)} and ${
            g.owner.slice(0, 8)
          }`,
          ops: [describe(other.op), describe(g.op)],
        });
      }
      ownerOfToken.set(g.token, g);
    }
    // A grant acknowledged before another was sent must carry the smaller token.
    const byAck = [...grants].sort((a, b) => a.ackMs - b.ackMs);
    const bySend = [...grants].sort((a, b) => a.sendMs - b.sendMs);
    let k = 0;
    let highest: Grant | undefined;
    for (const b of bySend) {
      while (k < byAck.length && byAck[k]!.ackMs < b.sendMs) {
        const a = byAck[k]!;
        if (highest === undefined || a.token > highest.token) highest = a;
        k++;
      }
      if (highest !== undefined && highest.token >= b.token && highest !== b) {
        violations.push({
          checker: "tokens",
          key,
          message: `token went back: f${b.token} granted after f${highest.token} was acknowledged`,
          ops: [describe(highest.op), describe(b.op)],
        });
      }
    }
    violations.push(...staleAnswers(key, ops, byAck));
  }
  return violations;
}

/** Extends (and persistent reads) answering for a token older than an acknowledged grant. */
function staleAnswers(
  key: string,
  ops: readonly OpRecord[],
  grantsByAck: readonly Grant[],
): Violation[] {
  // newest[i]: the grant with the largest token among the first i + 1 acknowledged.
  const newest: Grant[] = [];
  for (const g of grantsByAck) {
    const best = newest.at(-1);
    newest.push(best === undefined || g.token > best.token ? g : best);
  }
  const violations: Violation[] = [];
  for (const op of ops) {
    const staleExtend = op.op === "extend" && isOk(op, ResponseType.Extended);
    const staleRead = op.op === "get" && isOk(op, ResponseType.Got) &&
      op.durability === Durability.Persistent;
    if (!staleExtend && !staleRead) continue;
    // The last grant acknowledged before this op was sent (binary search on ackMs).
    let lo = 0;
    let hi = grantsByAck.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (grantsByAck[mid]!.ackMs < op.sendMs) lo = mid + 1;
      else hi = mid;
    }
    const newer = lo === 0 ? undefined : newest[lo - 1];
    if (newer === undefined || newer.token <= op.fencingToken) continue;
    violations.push({
      checker: "tokens",
      key,
      message: staleExtend
        ? `extend by ${op.owner.slice(0, 8)} answered Extended for f${op.fencingToken} ` +
          `after f${newer.token} was granted`
        : `stale read: get answered f${op.fencingToken} after f${newer.token} was granted`,
      ops: [describe(newer.op), describe(op)],
    });
  }
  return violations;
}

export function checkFencedWrites(writes: readonly FencedWrite[]): Violation[] {
  return writes.filter((w) => !w.accepted && w.atMs < w.reliedUntilMs).map((w) => ({
    checker: "fenced store",
    key: w.key,
    message:
      `write with f${w.fencingToken} by ${
        w.owner.slice(0, 8)
      } refused (store had f${w.storedToken}) ` +
      `${(w.reliedUntilMs - w.atMs).toFixed(0)} ms before its lease could have ended`,
    ops: [],
  }));
}

/**
 * Acknowledged persistent locks must survive: for every key read by `finalClient` after the
 * final restart, the read must show the last acknowledged grant (if its owner never tried to
 * unlock) or no holder (if an unlock was acknowledged and nothing was tried after it).
 */
export function checkDurableLocks(history: readonly OpRecord[], finalClient: string): Violation[] {
  const violations: Violation[] = [];
  for (const [key, ops] of byKey(history)) {
    const finals = ops.filter((op) =>
      op.client === finalClient && op.op === "get" && op.outcome === "ok"
    );
    if (finals.length === 0) continue;
    const before = ops.filter((op) => op.client !== finalClient && op.outcome !== "failed");
    const lastGrant = grantsOf(before).at(-1);
    for (const final of finals) {
      if (lastGrant !== undefined) {
        const later = before.filter((op) => op.sendMs >= lastGrant.sendMs && op.op !== "get");
        const touched = later.some((op) => op.op === "unlock" || op.owner !== lastGrant.owner);
        // Only a lease its holder could still rely on when the read was sent must show.
        const mine = before.filter((op) => op.owner === lastGrant.owner);
        const running = final.sendMs < reliedUntil(lastGrant, mine, final.sendMs);
        if (
          !touched && running &&
          (final.type !== ResponseType.Got || final.gotOwner !== lastGrant.owner ||
            final.fencingToken !== lastGrant.token)
        ) {
          violations.push({
            checker: "durable locks",
            key,
            message:
              `acknowledged lock (${
                lastGrant.owner.slice(0, 8)
              }, f${lastGrant.token}) lost after ` +
              "the final restart",
            ops: [describe(lastGrant.op), describe(final)],
          });
        }
      }
      const lastUnlock = before.filter((op) => isOk(op, ResponseType.Unlocked)).at(-1);
      if (lastUnlock !== undefined && final.type === ResponseType.Got) {
        const retried = before.some((op) => op.op === "tryLock" && op.sendMs > lastUnlock.sendMs);
        if (!retried) {
          violations.push({
            checker: "durable locks",
            key,
            message: "an acknowledged unlock was undone after the final restart",
            ops: [describe(lastUnlock), describe(final)],
          });
        }
      }
    }
  }
  return violations;
}

export type LinearizabilityReport = {
  readonly violations: Violation[];
  readonly keysChecked: number;
  readonly inconclusiveKeys: string[];
  readonly steps: number;
};

const lockModel = {
  init: initialLockState,
  step: (state: LockState, op: OpRecord) => stepLock(state, op),
  key: stateKey,
};

export function checkLinearizability(
  history: readonly OpRecord[],
  stepsMax = 2_000_000,
): LinearizabilityReport {
  const violations: Violation[] = [];
  const inconclusiveKeys: string[] = [];
  let steps = 0;
  let keysChecked = 0;
  for (const [key, all] of byKey(history)) {
    const ops = all.filter((op) => op.outcome !== "failed").sort((a, b) => a.sendMs - b.sendMs);
    const timed = ops.map((op) => ({
      op,
      callMs: op.sendMs,
      returnMs: op.outcome === "unknown" ? Infinity : op.ackMs,
    }));
    const result: LinearizabilityResult = checkLinearizable(lockModel, timed, stepsMax);
    steps += result.steps;
    keysChecked += 1;
    if (result.kind === "inconclusive") inconclusiveKeys.push(key);
    if (result.kind !== "violation") continue;
    const stuck = ops[result.stuckAt]!;
    const prefix = result.longestPrefix.slice(-6).map((i) => describe(ops[i]!));
    violations.push({
      checker: "linearizability",
      key,
      message: `no linearization explains ${
        describe(stuck)
      } (after ${result.longestPrefix.length} ops linearized)`,
      ops: [...prefix, `stuck: ${describe(stuck)}`],
    });
  }
  return { violations, keysChecked, inconclusiveKeys, steps };
}

/** A window during which a fault was in force. */
export type FaultWindow = {
  readonly kind: string;
  readonly startMs: number;
  readonly endMs: number;
};

export type Availability = {
  readonly duringFaults: { readonly attempts: number; readonly ok: number; readonly share: number };
  readonly outsideFaults: {
    readonly attempts: number;
    readonly ok: number;
    readonly share: number;
  };
};

export function availability(
  history: readonly OpRecord[],
  windows: readonly FaultWindow[],
): Availability {
  const during = { attempts: 0, ok: 0 };
  const outside = { attempts: 0, ok: 0 };
  for (const op of history) {
    const inFault = windows.some((w) => op.sendMs >= w.startMs && op.sendMs < w.endMs);
    const bucket = inFault ? during : outside;
    bucket.attempts += 1;
    if (op.outcome === "ok") bucket.ok += 1;
  }
  const share = (b: { attempts: number; ok: number }) => ({
    ...b,
    share: b.attempts === 0 ? 1 : b.ok / b.attempts,
  });
  return { duringFaults: share(during), outsideFaults: share(outside) };
}

/**
 * Lock safety and fencing tokens, per lock, for both durabilities (docs/spec.md §2.1-2.3):
 * - lock safety: what two different grants' holders rely on (grants.ts) never overlaps; and a
 *   grant acknowledged before an earlier-token grant's reliance ended is a double grant unless
 *   that holder may have released it (the earlier grant was made first, whatever its answer's
 *   time, and its lease lasted at least that long). Shared grants (§2.8) may overlap one
 *   another, never an exclusive one, and no more of them at once than the smallest limit;
 * - fencing tokens: no token given to two owners; a grant acknowledged before another grant's
 *   Locked attempt was sent has the smaller token; no Extended answer (nor persistent Got)
 *   for a token older than a grant acknowledged before it was sent.
 */
import { Durability, ResponseType } from "../../src/locks/types.ts";
import { type Grant, type Interval, isOk, reliedUntilMs } from "./grants.ts";
import { describe, type OpRecord, type Violation } from "./history.ts";

const violationsMax = 5;
/** How many earlier tokens a grant is compared with (leases are short against the run). */
const earlierGrantsMax = 256;

export function checkLockSafety(key: string, grants: readonly Grant[]): Violation[] {
  const violations = overlaps(key, grants);
  const reported = new Set(violations.map((v) => v.ops.join("|")));
  for (let j = 0; j < grants.length && violations.length < violationsMax; j++) {
    const b = grants[j]!;
    const sharers: Grant[] = [];
    for (let i = j - 1; i >= 0 && i >= j - earlierGrantsMax; i--) {
      const a = grants[i]!;
      if (a.owner === b.owner || a.token === b.token) continue;
      const until = reliedUntilMs(a);
      if (b.ackMs >= until) continue;
      if (a.limit !== undefined && b.limit !== undefined) {
        sharers.push(a);
        continue;
      }
      const ops = [describe(a.op), describe(b.op)];
      if (reported.has(ops.join("|")) || reported.has([ops[1], ops[0]].join("|"))) continue;
      violations.push({
        checker: "lock safety",
        key,
        message: `granted to ${b.owner.slice(0, 8)} (f${b.token}) at ${b.ackMs.toFixed(0)} ms ` +
          `while ${a.owner.slice(0, 8)} (f${a.token}) could rely on its lease until ` +
          `${until.toFixed(0)} ms (${(until - b.ackMs).toFixed(0)} ms early) and had not ` +
          "released it",
        atMs: b.ackMs,
        ops,
      });
      if (violations.length >= violationsMax) break;
    }
    const limit = Math.min(b.limit ?? 1, ...sharers.map((a) => a.limit ?? 1));
    if (sharers.length + 1 > limit && violations.length < violationsMax) {
      violations.push({
        checker: "lock safety",
        key,
        message: `shared grant to ${b.owner.slice(0, 8)} (f${b.token}) at ` +
          `${b.ackMs.toFixed(0)} ms while ${sharers.length} other shared holders could still ` +
          `rely on theirs: more than the limit ${limit}`,
        atMs: b.ackMs,
        ops: [...sharers.slice(0, 3).map((a) => describe(a.op)), describe(b.op)],
      });
    }
  }
  return violations;
}

/**
 * Whether `grant` may hold beside `others` (every other grant relied on at that moment): an
 * exclusive grant beside none, a shared one beside shared ones only, no more than the
 * smallest limit among them all.
 */
function admits(grant: Grant, others: readonly Grant[]): boolean {
  if (others.length === 0) return true;
  if (grant.limit === undefined || others.some((g) => g.limit === undefined)) return false;
  return others.length + 1 <= Math.min(grant.limit, ...others.map((g) => g.limit ?? 1));
}

/** Two different grants' holders relying on the lock at once (beyond what sharing allows). */
function overlaps(key: string, grants: readonly Grant[]): Violation[] {
  type Held = Interval & { readonly grant: Grant };
  const intervals: Held[] = grants.flatMap((g) =>
    g.intervals.filter((i) => i.from < i.to).map((i) => ({ from: i.from, to: i.to, grant: g }))
  );
  intervals.sort((a, b) => a.from - b.from);
  const violations: Violation[] = [];
  const active: Held[] = [];
  for (const interval of intervals) {
    for (let i = active.length - 1; i >= 0; i--) {
      if (active[i]!.to <= interval.from) active.splice(i, 1);
    }
    const others = [...new Set(active.map((a) => a.grant))].filter((g) => g !== interval.grant);
    if (admits(interval.grant, others)) {
      active.push(interval);
      continue;
    }
    for (const other of active) {
      if (other.grant === interval.grant) continue;
      const { grant } = interval;
      violations.push({
        checker: "lock safety",
        key,
        message: `owner ${grant.owner.slice(0, 8)} (f${grant.token}) was told it holds the ` +
          `lock from ${interval.from.toFixed(0)} ms while owner ${other.grant.owner.slice(0, 8)} ` +
          `(f${other.grant.token}) could rely on its lease until ${other.to.toFixed(0)} ms`,
        atMs: interval.from,
        ops: [describe(other.grant.op), describe(grant.op)],
      });
      if (violations.length >= violationsMax) return violations;
    }
    active.push(interval);
  }
  return violations;
}

export function checkTokens(
  key: string,
  ops: readonly OpRecord[],
  grants: readonly Grant[],
): Violation[] {
  const violations: Violation[] = [];
  const ownerOfToken = new Map<number, Grant>();
  for (const g of grants) {
    const other = ownerOfToken.get(g.token);
    if (other !== undefined && other.owner !== g.owner) {
      violations.push({
        checker: "fencing tokens",
        key,
        message: `token f${g.token} granted to two owners, ${other.owner.slice(0, 8)} and ` +
          g.owner.slice(0, 8),
        atMs: g.ackMs,
        ops: [describe(other.op), describe(g.op)],
      });
    }
    ownerOfToken.set(g.token, g);
  }
  // A grant acknowledged before another's Locked attempt was sent must carry the smaller token.
  // A shared holder's retry is answered with its grant's token while newer shared grants hold
  // beside it: a shared grant is judged from the first attempt that may have made it.
  const byAck = [...grants].sort((a, b) => a.ackMs - b.ackMs);
  const madeFrom = (g: Grant) => g.limit === undefined ? g.sendMs : g.firstSendMs;
  const bySend = [...grants].sort((a, b) => madeFrom(a) - madeFrom(b));
  let k = 0;
  let highest: Grant | undefined;
  for (const b of bySend) {
    while (k < byAck.length && byAck[k]!.ackMs < madeFrom(b)) {
      const a = byAck[k++]!;
      if (highest === undefined || a.token > highest.token) highest = a;
    }
    if (highest !== undefined && highest.token >= b.token && highest !== b) {
      violations.push({
        checker: "fencing tokens",
        key,
        message: `token went back: f${b.token} granted after f${highest.token} was acknowledged`,
        atMs: b.ackMs,
        ops: [describe(highest.op), describe(b.op)],
      });
      if (violations.length >= violationsMax) return violations;
    }
  }
  return [...violations, ...staleAnswers(key, ops, byAck)];
}

/** Extends (and persistent reads) answering for a token older than an acknowledged grant. */
function staleAnswers(
  key: string,
  ops: readonly OpRecord[],
  grantsByAck: readonly Grant[],
): Violation[] {
  // newest[i]: the grant with the largest token among the first i + 1 acknowledged.
  const newest: Grant[] = [];
  // newestExclusive[i]: the same among exclusive grants only (undefined while there is none).
  const newestExclusive: (Grant | undefined)[] = [];
  for (const g of grantsByAck) {
    const best = newest.at(-1);
    newest.push(best === undefined || g.token > best.token ? g : best);
    const bestExclusive = newestExclusive.at(-1);
    const exclusiveBetter = g.limit === undefined &&
      (bestExclusive === undefined || g.token > bestExclusive.token);
    newestExclusive.push(exclusiveBetter ? g : bestExclusive);
  }
  const sharedOwners = new Set(
    grantsByAck.filter((g) => g.limit !== undefined).map((g) => g.owner),
  );
  const violations: Violation[] = [];
  for (const op of ops) {
    const staleExtend = op.op === "extend" && isOk(op, ResponseType.Extended);
    const staleRead = op.op === "get" && isOk(op, ResponseType.Got) &&
      op.durability === Durability.Persistent;
    if (!staleExtend && !staleRead) continue;
    // The grant the answer is about is shared: newer shared grants may hold beside it.
    const answeredShared = staleRead ? op.gotHolders !== undefined : sharedOwners.has(op.owner);
    // The last grant acknowledged before this op was sent (binary search on ackMs).
    let lo = 0;
    let hi = grantsByAck.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (grantsByAck[mid]!.ackMs < op.sendMs) lo = mid + 1;
      else hi = mid;
    }
    const newer = lo === 0 ? undefined : (answeredShared ? newestExclusive : newest)[lo - 1];
    if (newer === undefined || newer.token <= op.fencingToken) continue;
    violations.push({
      checker: "fencing tokens",
      key,
      message: staleExtend
        ? `extend by ${op.owner.slice(0, 8)} answered Extended for f${op.fencingToken} ` +
          `after f${newer.token} was granted`
        : `stale read: get answered f${op.fencingToken} after f${newer.token} was granted`,
      atMs: op.ackMs,
      ops: [describe(newer.op), describe(op)],
    });
    if (violations.length >= violationsMax) break;
  }
  return violations;
}

/**
 * How close a lock came to a double grant: for every grant that followed another owner's
 * lease that was never released (it expired, or its holder went away), the time from that
 * lease's reliance end to the new grant's acknowledgment. Negative would be a violation.
 */
export function handoverMargins(grants: readonly Grant[]): number[] {
  const margins: number[] = [];
  for (let j = 1; j < grants.length; j++) {
    const a = grants[j - 1]!;
    const b = grants[j]!;
    if (a.owner === b.owner) continue;
    if (a.limit !== undefined && b.limit !== undefined) continue; // shared: may hold together
    if (a.releasedMs < b.ackMs) continue; // released, not handed over at its end
    margins.push(b.ackMs - reliedUntilMs(a));
  }
  return margins;
}

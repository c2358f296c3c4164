/**
 * Checkers over the client history, judged on TRUE time (SPEC.md §2.1-2.3):
 * - lock safety: what a client may rely on (from its grant's answer until the grant's first
 *   send plus expiresMs less the drift bound; an Extend sent at s caps that at s + expiresMs
 *   less the bound, and its Extended answer relies on exactly that; an Unlock's send ends it)
 *   never overlaps another grant's reliance on the same lock;
 * - fencing tokens: distinct grants never share a token, and a grant answered before another
 *   grant's first send has the smaller token;
 * - no phantom holders: a Get that answers Got names an owner and token some TryLock of that
 *   owner may have been granted (answered Locked with that token, or unknown), and not an
 *   owner whose Unlock was answered Unlocked before the Get was sent (unless a TryLock of it
 *   with an unknown outcome could still take effect);
 * - no Errored answers (they mean a bug);
 * - persistent locks acknowledged to the probes after healing are read back by a Get;
 * - linearizability of every persistent lock's history (linearizable.ts).
 * Ephemeral histories get safety and tokens only: SPEC.md §2.4 promises linearizability for
 * them only while the leader is stable, and their state is meant to vanish on failover.
 */
import { Durability, ResponseType } from "../../../src/locks/types.ts";
import { describe, keyOf, type OpRecord, type Violation } from "../history.ts";
import type { FinalCheck } from "../prober.ts";
import { checkLinearizable } from "./linearizable.ts";

export type HistoryReport = {
  readonly violations: Violation[];
  readonly grants: number;
  readonly keys: number;
  readonly linearizableKeys: number;
  readonly uncheckedKeys: number;
  /** Operations whose outcome depended on an expiry the search could not place in time. */
  readonly ambiguousSteps: number;
};

export type HistoryOptions = {
  readonly driftBoundPpm: number;
  /** How far below true time a node's clock rate may be (default: the drift bound). */
  readonly slowestRatePpm?: number;
  /** True times at which a resource's group got a new leader (default: none known, so
   * no upper bound on any lease is used). */
  readonly leaderChangesMs?: (resource: string) => readonly number[];
  readonly probes: readonly FinalCheck[];
  /** Skip the linearizability search (the safety checks are cheap, the search is not). */
  readonly skipLinearizability?: boolean;
};

type Grant = {
  readonly owner: string;
  readonly token: number;
  readonly firstAckMs: number;
  /** The earliest a client of this grant could have sent the request that made it. */
  readonly firstSendMs: number;
  readonly intervals: { from: number; to: number }[];
};

export function checkHistory(ops: readonly OpRecord[], options: HistoryOptions): HistoryReport {
  const violations: Violation[] = [];
  const byKey = new Map<string, OpRecord[]>();
  for (const op of ops) {
    const list = byKey.get(keyOf(op));
    if (list === undefined) byKey.set(keyOf(op), [op]);
    else list.push(op);
    if (
      op.outcome === "ok" &&
      (op.type === ResponseType.Errored || op.type === ResponseType.InvalidInput)
    ) {
      violations.push({
        checker: "answers",
        message: `a bug answer: ${describe(op)}`,
        atMs: op.ackMs,
      });
    }
  }
  let grants = 0;
  let linearizableKeys = 0;
  let uncheckedKeys = 0;
  let ambiguousSteps = 0;
  for (const key of [...byKey.keys()].sort()) {
    const keyOps = byKey.get(key)!;
    const keyGrants = grantsOf(keyOps, options.driftBoundPpm);
    grants += keyGrants.length;
    violations.push(
      ...checkSafety(key, keyGrants),
      ...checkTokens(key, keyGrants),
      ...checkGets(key, keyOps),
    );
    if (keyOps[0]!.durability !== Durability.Persistent || options.skipLinearizability) continue;
    const result = checkLinearizable(keyOps, {
      driftBoundPpm: options.driftBoundPpm,
      slowestRatePpm: options.slowestRatePpm ?? options.driftBoundPpm,
      leaderChangesMs: options.leaderChangesMs?.(keyOps[0]!.resource),
    });
    if (result.kind === "violation") {
      violations.push({
        checker: "linearizability",
        message: `${key}: ${result.message}: ${describe(result.op)}`,
        atMs: result.op.ackMs,
      });
    } else if (result.kind === "unchecked") {
      uncheckedKeys += 1;
    } else {
      linearizableKeys += 1;
      ambiguousSteps += result.ambiguous;
    }
  }
  violations.push(...checkProbes(options.probes));
  return { violations, grants, keys: byKey.size, linearizableKeys, uncheckedKeys, ambiguousSteps };
}

/** The grants of one lock and what their clients may rely on, cut at the owner's unlock. */
export function grantsOf(ops: readonly OpRecord[], driftBoundPpm: number): Grant[] {
  const factor = 1 - driftBoundPpm / 1_000_000;
  const grants = new Map<string, Grant>();
  const locked = ops.filter((op) =>
    op.op === "tryLock" && op.outcome === "ok" && op.type === ResponseType.Locked
  )
    .sort((a, b) => a.ackMs - b.ackMs);
  for (const op of locked) {
    const id = `${op.owner}/${op.fencingToken}`;
    if (grants.has(id)) continue;
    // Any attempt of this owner that may have made the grant: answered with it, or unknown.
    const makers = ops.filter((o) =>
      o.op === "tryLock" && o.owner === op.owner && o.sendMs <= op.ackMs &&
      (o.outcome === "unknown" ||
        (o.type === ResponseType.Locked && o.fencingToken === op.fencingToken))
    );
    const endMs = Math.min(...makers.map((o) => o.leaseFromMs + o.expiresMs * factor));
    const firstSendMs = Math.min(...makers.map((o) => o.leaseFromMs));
    grants.set(id, {
      owner: op.owner,
      token: op.fencingToken,
      firstAckMs: op.ackMs,
      firstSendMs,
      intervals: [{ from: op.ackMs, to: endMs }],
    });
  }
  for (const grant of grants.values()) {
    const extends_ = ops.filter((op) =>
      op.op === "extend" && op.owner === grant.owner && op.outcome !== "failed" &&
      op.sendMs >= grant.firstSendMs
    ).sort((a, b) => a.sendMs - b.sendMs);
    for (const op of extends_) {
      // Once sent, an Extend may set the lease to now + expiresMs, shorter than before: the
      // client relies on no more than that from its send on, whatever the answer.
      const endMs = op.sendMs + op.expiresMs * factor;
      for (const interval of grant.intervals) {
        interval.to = Math.min(interval.to, Math.max(endMs, op.sendMs));
      }
      if (
        op.type === ResponseType.Extended && op.fencingToken === grant.token && op.outcome === "ok"
      ) {
        grant.intervals.push({ from: op.ackMs, to: endMs });
      }
    }
    const unlocks = ops.filter((op) =>
      op.op === "unlock" && op.owner === grant.owner && op.sendMs >= grant.firstAckMs
    );
    const cutMs = Math.min(...unlocks.map((op) => op.sendMs));
    for (const interval of grant.intervals) interval.to = Math.min(interval.to, cutMs);
  }
  return [...grants.values()];
}

function checkSafety(key: string, grants: readonly Grant[]): Violation[] {
  const intervals = grants.flatMap((g) =>
    g.intervals.filter((i) => i.from < i.to).map((i) => ({ ...i, grant: g }))
  );
  intervals.sort((a, b) => a.from - b.from);
  const violations: Violation[] = [];
  const active: typeof intervals = [];
  for (const interval of intervals) {
    for (let i = active.length - 1; i >= 0; i--) {
      if (active[i]!.to <= interval.from) active.splice(i, 1);
    }
    for (const other of active) {
      if (other.grant === interval.grant) continue;
      violations.push({
        checker: "lock safety",
        message:
          `${key}: owner ${
            interval.grant.owner.slice(0, 8)
          } (f${interval.grant.token}) was told it ` +
          `holds the lock from ${interval.from} ms while owner ${other.grant.owner.slice(0, 8)} ` +
          `(f${other.grant.token}) could rely on it until ${Math.floor(other.to)} ms`,
        atMs: interval.from,
      });
      if (violations.length >= 5) return violations;
    }
    active.push(interval);
  }
  return violations;
}

function checkTokens(key: string, grants: readonly Grant[]): Violation[] {
  const violations: Violation[] = [];
  const ownerOfToken = new Map<number, string>();
  for (const g of grants) {
    const other = ownerOfToken.get(g.token);
    if (other !== undefined && other !== g.owner) {
      violations.push({
        checker: "fencing tokens",
        message: `${key}: token ${g.token} granted to two owners`,
        atMs: g.firstAckMs,
      });
    }
    ownerOfToken.set(g.token, g.owner);
  }
  // A grant answered before another grant was first asked for must have the smaller token.
  const byAck = [...grants].sort((a, b) => a.firstAckMs - b.firstAckMs);
  const bySend = [...grants].sort((a, b) => a.firstSendMs - b.firstSendMs);
  let i = 0;
  let maxBefore: Grant | undefined;
  for (const g of bySend) {
    while (i < byAck.length && byAck[i]!.firstAckMs < g.firstSendMs) {
      const a = byAck[i++]!;
      if (maxBefore === undefined || a.token > maxBefore.token) maxBefore = a;
    }
    if (maxBefore !== undefined && maxBefore !== g && maxBefore.token >= g.token) {
      violations.push({
        checker: "fencing tokens",
        message:
          `${key}: token ${g.token} (owner ${
            g.owner.slice(0, 8)
          }, first asked at ${g.firstSendMs} ms) ` +
          `is not above token ${maxBefore.token} granted earlier (answered at ${maxBefore.firstAckMs} ms)`,
        atMs: g.firstAckMs,
      });
      if (violations.length >= 5) break;
    }
  }
  return violations;
}

function checkGets(key: string, ops: readonly OpRecord[]): Violation[] {
  const violations: Violation[] = [];
  for (const get of ops) {
    if (get.op !== "get" || get.outcome !== "ok" || get.type !== ResponseType.Got) continue;
    const owner = get.gotOwner;
    const granted = ops.some((op) =>
      op.op === "tryLock" && op.owner === owner && op.sendMs < get.ackMs &&
      (op.outcome === "unknown" ||
        (op.type === ResponseType.Locked && op.fencingToken === get.fencingToken))
    );
    // An unknown TryLock of the owner may take effect late, after its Unlock: then not released.
    const released = ops.some((op) =>
      op.op === "unlock" && op.owner === owner && op.outcome === "ok" &&
      op.type === ResponseType.Unlocked && op.ackMs < get.sendMs
    ) && !ops.some((op) =>
      op.op === "tryLock" && op.owner === owner && op.outcome === "unknown"
    );
    if (granted && !released) continue;
    violations.push({
      checker: "phantom holder",
      message: `${key}: ${describe(get)}, but that owner ${
        granted ? "had unlocked" : "was never granted it"
      }`,
      atMs: get.ackMs,
    });
    if (violations.length >= 5) break;
  }
  return violations;
}

/** A probe's acknowledged persistent lock must be what a later Get reads. */
function checkProbes(probes: readonly FinalCheck[]): Violation[] {
  const violations: Violation[] = [];
  for (const { lock, get } of probes) {
    if (lock.type !== ResponseType.Locked) continue;
    if (
      get.type !== ResponseType.Got || get.gotOwner !== lock.owner ||
      get.fencingToken !== lock.fencingToken
    ) {
      violations.push({
        checker: "durability",
        message: `after healing, ${describe(lock)} but then ${describe(get)}`,
        atMs: get.ackMs,
      });
    }
  }
  return violations;
}

/**
 * The sequential specification of one lock (one resource, one durability) for the
 * linearizability search: docs/spec.md §2.1, with leases judged by a lease model (lease.ts).
 *
 * Leases make the model nondeterministic, so a step returns every state the lock may be in
 * after the operation, and the search tries each:
 * - A held lease may look expired to an operation only if that operation was answered at or
 *   after the lease's lower bound (its request's send + expiresMs less the drift bound). It
 *   must look expired to one sent after the upper bound while the group kept its leader (the
 *   simulated lease model only; the measured one has no upper bound, and lets a lease stay
 *   held for ever). Between the bounds both pass: expiry there is left unchecked.
 * - Expiry is a view, not a step: an operation that sees the lease expired and changes
 *   nothing (a Get, an Extend answered LockDoesNotExist) leaves the lease as it was. A new
 *   leader rebases a persistent lease to the time left at the old leader's last entry, so a
 *   Get on the old leader may see it expired and a later Get on the new leader held (within
 *   SPEC §2.3: a lease lasts up to expiresMs plus the failover).
 * - An ephemeral lock may be lost at any moment (a leader change, SPEC §2.2); after a loss
 *   reads, extends and unlocks see no lock. A grant to another owner still waits for the lost
 *   holder's lower bound: that is the horizon rule.
 * - A deposed ephemeral leader may answer "no lock" from its old table (see
 *   staleEphemeralAnswer).
 * - An expired lock may have been swept, so an unlock of it may answer LockDoesNotExist.
 * - TryLock by the holder is idempotent: Locked with the same token, the lease unchanged.
 * - Persistent tokens are dense (previous + 1, first 0) unless the record may have been
 *   swept: free for the sweep grace (less the drift bound) before the grant was answered,
 *   or, for the first grant of a lock, if any record of its partition may have been (the
 *   floor is partition-wide). Then a grant only has to be above the previous token.
 *   Ephemeral tokens only grow.
 */
import { Durability, ResponseType } from "../../src/locks/types.ts";
import { type OpRecord, relianceEndMs } from "./history.ts";
import { type KeyLease, leaderChanged, leaseEndHiMs } from "./lease.ts";

export type LockState = {
  /** The owner the record names ("" when unlocked, never locked, or an ephemeral loss). */
  readonly owner: string;
  /** True while the lease may not have ended. Implies owner !== "". */
  readonly held: boolean;
  /** Token of the latest grant; -1 before the first. */
  readonly token: number;
  /** False when the latest grant's token is known only as a lower bound (an unknown grant). */
  readonly tokenExact: boolean;
  /** Whose lease is protected, and until when: no grant to anyone else before then. */
  readonly protectOwner: string;
  readonly protectUntilMs: number;
  /** The latest the lease can end while the leader stays (+∞: no bound). */
  readonly endHiMs: number;
  /** The send of the operation that set the lease: a leader change after it voids endHiMs. */
  readonly sinceMs: number;
  /** The earliest true time the record may have been free (for the sweep). */
  readonly freeFromMs: number;
};

export const initialLockState: LockState = {
  owner: "",
  held: false,
  token: -1,
  tokenExact: true,
  protectOwner: "",
  protectUntilMs: 0,
  endHiMs: Number.POSITIVE_INFINITY,
  sinceMs: 0,
  freeFromMs: 0,
};

export function stateKey(s: LockState): string {
  return `${s.owner}|${s.held ? 1 : 0}|${s.token}|${s.tokenExact ? 1 : 0}|${s.protectOwner}|` +
    `${s.protectUntilMs}|${s.endHiMs}|${s.sinceMs}|${s.freeFromMs}`;
}

/** One possible answer to an operation in a state, and the state after it. */
type Possible = {
  readonly type: ResponseType;
  /** The token the answer carries; undefined when any token at or above `tokenAtLeast` fits. */
  readonly token: number | undefined;
  readonly tokenAtLeast: number;
  readonly gotOwner: string | undefined;
  readonly next: (observedToken: number | undefined) => LockState;
};

/** A view of the lock for one operation, and the state an answer that changes nothing keeps. */
type View = { readonly seen: LockState; readonly keep: LockState };

const answeredAt = (op: OpRecord) => op.outcome === "ok" ? op.ackMs : Number.POSITIVE_INFINITY;

/** How the lock may look to `op` (lease ends and losses). */
function views(state: LockState, op: OpRecord, lease: KeyLease): View[] {
  const result: View[] = [];
  const expired = { ...state, held: false };
  if (!state.held) result.push({ seen: state, keep: state });
  else if (op.sendMs > state.endHiMs && !leaderChanged(lease, state.sinceMs, answeredAt(op))) {
    result.push({ seen: expired, keep: state }); // a new leader may still rebase it
  } else {
    result.push({ seen: state, keep: state });
    if (answeredAt(op) >= state.protectUntilMs) result.push({ seen: expired, keep: state });
  }
  if (op.durability === Durability.Ephemeral && state.owner !== "") {
    const lost = { ...state, owner: "", held: false };
    result.push({ seen: lost, keep: lost });
  }
  return result;
}

function possibleAnswers(view: View, op: OpRecord, lease: KeyLease): Possible[] {
  const s = view.seen;
  const fixed = (type: ResponseType, token = 0): Possible => ({
    type,
    token,
    tokenAtLeast: token,
    gotOwner: undefined,
    next: () => view.keep,
  });
  const learn = (t: number | undefined) =>
    t === undefined || view.keep.tokenExact
      ? view.keep
      : { ...view.keep, token: t, tokenExact: true };
  const endHiMs = leaseEndHiMs(lease, answeredAt(op), op.expiresMs);
  switch (op.op) {
    case "tryLock": {
      if (s.held) {
        if (s.owner !== op.owner) return [fixed(ResponseType.Busy)];
        return [{
          type: ResponseType.Locked,
          token: s.tokenExact ? s.token : undefined,
          tokenAtLeast: s.token,
          gotOwner: undefined,
          next: learn,
        }];
      }
      if (op.owner !== s.protectOwner && answeredAt(op) < s.protectUntilMs) return [];
      const exact = op.durability === Durability.Persistent && s.tokenExact &&
        !maybeSwept(s, op, lease);
      const protectUntilMs = relianceEndMs(op.sendMs, op.expiresMs, lease.driftBoundPpm);
      return [{
        type: ResponseType.Locked,
        token: exact ? s.token + 1 : undefined,
        tokenAtLeast: s.token + 1,
        gotOwner: undefined,
        next: (t) => ({
          owner: op.owner,
          held: true,
          token: t ?? s.token + 1,
          tokenExact: exact || t !== undefined,
          protectOwner: op.owner,
          protectUntilMs,
          endHiMs,
          sinceMs: op.sendMs,
          freeFromMs: protectUntilMs,
        }),
      }];
    }
    case "extend": {
      if (!s.held) return [fixed(ResponseType.LockDoesNotExist)];
      if (s.owner !== op.owner) return [fixed(ResponseType.InvalidOwner)];
      return [{
        type: ResponseType.Extended,
        token: s.tokenExact ? s.token : undefined,
        tokenAtLeast: s.token,
        gotOwner: undefined,
        next: (t) => {
          const protectUntilMs = relianceEndMs(op.sendMs, op.expiresMs, lease.driftBoundPpm);
          return {
            ...s,
            token: t ?? s.token,
            tokenExact: s.tokenExact || t !== undefined,
            protectUntilMs,
            endHiMs,
            sinceMs: op.sendMs,
            freeFromMs: protectUntilMs,
          };
        },
      }];
    }
    case "unlock": {
      if (s.owner === "") return [fixed(ResponseType.LockDoesNotExist)];
      if (s.owner !== op.owner) {
        return s.held
          ? [fixed(ResponseType.InvalidOwner)]
          : [fixed(ResponseType.InvalidOwner), fixed(ResponseType.LockDoesNotExist)];
      }
      const released: Possible = {
        type: ResponseType.Unlocked,
        token: s.tokenExact ? s.token : undefined,
        tokenAtLeast: s.token,
        gotOwner: undefined,
        next: (t) => ({
          ...s,
          owner: "",
          held: false,
          token: t ?? s.token,
          tokenExact: s.tokenExact || t !== undefined,
          protectOwner: "",
          protectUntilMs: 0,
          endHiMs: Number.POSITIVE_INFINITY,
          sinceMs: op.sendMs,
          freeFromMs: op.sendMs,
        }),
      };
      return s.held ? [released] : [released, fixed(ResponseType.LockDoesNotExist)];
    }
    case "get": {
      if (!s.held) return [fixed(ResponseType.LockDoesNotExist)];
      return [{
        type: ResponseType.Got,
        token: s.tokenExact ? s.token : undefined,
        tokenAtLeast: s.token,
        gotOwner: s.owner,
        next: learn,
      }];
    }
  }
}

/**
 * Whether the lock's record may have been swept before `op` was answered, so a grant may
 * carry any token above the previous one. A lock never granted starts at its partition's
 * floor, which a sweep of any record in the partition raises: once the run is older than
 * the grace (records are free at the earliest from its start, time 0), its first token is
 * known only to be at least 0.
 */
function maybeSwept(s: LockState, op: OpRecord, lease: KeyLease): boolean {
  if (lease.sweepGraceMs === Number.POSITIVE_INFINITY) return false;
  const graceLowMs = lease.sweepGraceMs * (1 - lease.driftBoundPpm / 1_000_000);
  const freeFromMs = s.token === -1 ? 0 : s.freeFromMs;
  // An attempt of unknown outcome may take effect until its window closes.
  const latestMs = op.outcome === "ok" ? op.ackMs : op.sendMs + lease.unknownWindowMs;
  return latestMs >= freeFromMs + graceLowMs;
}

/**
 * An ephemeral answer a deposed leader may give from its old table before it learns it was
 * deposed (seen after SIGCONT: a paused leader answers the requests queued while it was
 * stopped first). Its leases have all ended by then (its own clock ran on while it was
 * stopped, and it cannot grant past the horizon it published), so such answers say "no
 * lock" and change nothing: SPEC §2.4 promises ephemeral linearizability only while the
 * leader is stable.
 */
function staleEphemeralAnswer(op: OpRecord): boolean {
  if (op.durability !== Durability.Ephemeral || op.outcome !== "ok") return false;
  switch (op.op) {
    case "get":
    case "extend":
      return op.type === ResponseType.LockDoesNotExist;
    case "unlock":
      return op.type === ResponseType.LockDoesNotExist || op.type === ResponseType.Unlocked ||
        op.type === ResponseType.InvalidOwner;
    case "tryLock":
      return false;
  }
}

/**
 * Every state the lock may be in after `op`, given its answer (any answer when the outcome
 * is unknown). Empty when the answer is impossible from `state`.
 */
export function stepLock(state: LockState, op: OpRecord, lease: KeyLease): LockState[] {
  const results: LockState[] = [];
  const seen = new Set<string>();
  const add = (next: LockState) => {
    const key = stateKey(next);
    if (!seen.has(key)) {
      seen.add(key);
      results.push(next);
    }
  };
  // An unknown outcome may mean the operation never ran: try that first, so the search
  // gives an unknown operation an effect only when a later answer needs one.
  if (op.outcome === "unknown" || staleEphemeralAnswer(op)) add(state);
  for (const view of views(state, op, lease)) {
    for (const possible of possibleAnswers(view, op, lease)) {
      if (op.outcome === "unknown") {
        add(possible.next(undefined));
        continue;
      }
      if (op.type !== possible.type) continue;
      if (possible.gotOwner !== undefined && op.gotOwner !== possible.gotOwner) continue;
      if (possible.token !== undefined && op.fencingToken !== possible.token) continue;
      if (possible.token === undefined && op.fencingToken < possible.tokenAtLeast) continue;
      add(possible.next(possible.token === undefined ? op.fencingToken : undefined));
    }
  }
  return results;
}

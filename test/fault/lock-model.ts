/**
 * The sequential specification of one lock (one resource, one durability) for the
 * linearizability checker: SPEC.md §2.1 with leases read on the harness's single clock.
 *
 * Leases make the model nondeterministic, so a step returns every state the system may be in
 * after the operation, and the search tries each:
 * - A held lease may have expired before an operation only if that operation was answered at
 *   or after the holder's reliance end (its send + expiresMs × 0.99). When a lease really ends
 *   later than that (a failover adds time, SPEC §2.3) the model lets it stay held for ever:
 *   "still held" is always allowed. So a lock seen FREE too early is checked; a lock seen HELD
 *   too late is not (lease expiry near and after the boundary is left unchecked, by design).
 * - An ephemeral lock may be lost at any moment (its leader stopped or stepped down,
 *   SPEC §2.2); after a loss reads, extends and unlocks see no lock. A grant to another owner
 *   still has to wait for the lost holder's reliance end: that is the horizon rule.
 * - An expired lock may have been garbage-collected (DESIGN.md §6), so an unlock of it may
 *   answer LockDoesNotExist as well as Unlocked/InvalidOwner.
 * - Persistent tokens are dense (previous + 1, first 0); ephemeral tokens only grow.
 */
import { Durability, ResponseType } from "../../src/locks/types.ts";
import { type OpRecord, relianceEndMs } from "./history.ts";

export type LockState = {
  /** The owner the record names ("" when unlocked, never locked, or an ephemeral loss). */
  readonly owner: string;
  /** True while the lease has not ended. Implies owner !== "". */
  readonly held: boolean;
  /** Token of the latest grant; -1 before the first. */
  readonly token: number;
  /** False when the latest grant's token is known only as a lower bound (an unknown grant). */
  readonly tokenExact: boolean;
  /** Whose reliance is protected, and until when: no grant to anyone else before then. */
  readonly protectOwner: string;
  readonly protectUntilMs: number;
};

export const initialLockState: LockState = {
  owner: "",
  held: false,
  token: -1,
  tokenExact: true,
  protectOwner: "",
  protectUntilMs: 0,
};

export function stateKey(s: LockState): string {
  return `${s.owner}|${s.held ? 1 : 0}|${s.token}|${
    s.tokenExact ? 1 : 0
  }|${s.protectOwner}|${s.protectUntilMs}`;
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

/** The states the lock may be in just before `op` takes effect (lease ends and losses). */
function before(state: LockState, op: OpRecord): LockState[] {
  const states = [state];
  const answeredMs = op.outcome === "unknown" ? Infinity : op.ackMs;
  if (state.held && answeredMs >= state.protectUntilMs) {
    states.push({ ...state, held: false });
  }
  if (op.durability === Durability.Ephemeral && state.owner !== "") {
    states.push({ ...state, owner: "", held: false });
  }
  return states;
}

function possibleAnswers(s: LockState, op: OpRecord): Possible[] {
  const same = (next: LockState) => () => next;
  const fixed = (type: ResponseType, token = 0): Possible => ({
    type,
    token,
    tokenAtLeast: token,
    gotOwner: undefined,
    next: same(s),
  });
  switch (op.op) {
    case "tryLock": {
      if (s.held) {
        if (s.owner === op.owner) {
          return [{
            type: ResponseType.Locked,
            token: s.tokenExact ? s.token : undefined,
            tokenAtLeast: s.token,
            gotOwner: undefined,
            next: (
              t,
            ) => (t === undefined || s.tokenExact ? s : { ...s, token: t, tokenExact: true }),
          }];
        }
        return [fixed(ResponseType.Busy)];
      }
      const answeredMs = op.outcome === "unknown" ? Infinity : op.ackMs;
      if (op.owner !== s.protectOwner && answeredMs < s.protectUntilMs) return [];
      const dense = op.durability === Durability.Persistent;
      const exact = dense && s.tokenExact;
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
          protectUntilMs: relianceEndMs(op.leaseFromMs, op.expiresMs),
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
        next: (t) => ({
          ...s,
          token: t ?? s.token,
          tokenExact: s.tokenExact || t !== undefined,
          protectUntilMs: relianceEndMs(op.sendMs, op.expiresMs),
        }),
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
        next: (t) => (t === undefined || s.tokenExact ? s : { ...s, token: t, tokenExact: true }),
      }];
    }
  }
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
export function stepLock(state: LockState, op: OpRecord): LockState[] {
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
  for (const s of before(state, op)) {
    for (const possible of possibleAnswers(s, op)) {
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

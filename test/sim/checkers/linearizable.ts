/**
 * Linearizability of one persistent lock's history (SPEC.md §2.4), by a just-in-time search
 * in the manner of Porcupine and Knossos: events in true-time order; at each answer, every
 * configuration (model state + operations already linearized but not yet answered) tries
 * every order of pending operations that puts the answered one in. No configuration left
 * means no linearization exists.
 *
 * Leases make the model time-dependent, and nodes' clocks are not true time. The model keeps
 * bounds on when the lease ends in true time: `endLoMs`, the grant's send plus expiresMs less
 * the drift bound, and `endHiMs`, the grant's answer plus expiresMs at the slowest clock rate
 * the run allows. An operation answered before `endLoMs` certainly saw the lock held. One sent
 * after `endHiMs` certainly saw it expired, but only if the group's leader did not change
 * since the grant: a new leader rebases the lease and may lengthen it by the failover
 * (SPEC.md §2.3), so after a leader change there is no upper bound. Between the bounds the
 * search allows both "held" and "expired": outcomes that depend on expiry there are not
 * checked. Unknown outcomes
 * (Indeterminate, timeouts) may take effect at any time after their send, or never; after
 * `unknownWindowMs` they are assumed never to happen (that can only add violations, never
 * hide one, and a false one would show up as a report to read).
 *
 * The search remembers which unknown operations it has linearized, which costs 2^k
 * configurations for k of them pending, and a client retrying through a follower that cannot
 * reach the leader collects many Indeterminate answers for one request. So the k unknown
 * attempts of one request (one client, one first send: same op, owner and lease) count as one
 * operation that may take effect up to k times, each as if sent at the first attempt (the
 * earliest send is the weakest lease bound): k + 1 configurations instead of 2^k. A first,
 * quicker search allows at most 2 of them; only a violation it finds is searched again with
 * all k (seed 2565 ran one TryLock three times, the lease running out in between). A search that
 * grows past `configurationsMax` leaves the key unchecked, and says so.
 */
import { ResponseType } from "../../../src/locks/types.ts";
import type { OpRecord } from "../history.ts";

export const unknownWindowMs = 5_000;
export const configurationsMax = 10_000;
/**
 * The first search lets the unknown attempts of one request take effect at most this many
 * times; only if it finds a violation is the search run again without that limit.
 */
export const unknownRepeatsFirst = 2;

type State = {
  readonly owner: string;
  readonly token: number;
  readonly endLoMs: number;
  readonly endHiMs: number;
  /** The send of the operation that set the bounds: a leader change after it voids endHiMs. */
  readonly sinceMs: number;
};

export type LeaseBounds = {
  /** The drift bound clients subtract (SPEC.md §2.3). */
  readonly driftBoundPpm: number;
  /** How far below true time any node's clock rate may be in this run. */
  readonly slowestRatePpm: number;
  /** True times at which the lock's group got a new leader, ascending; undefined: unknown. */
  readonly leaderChangesMs: readonly number[] | undefined;
};
type Config = { readonly state: State; readonly lin: readonly number[] };
type Step = {
  readonly state: State;
  readonly type: number;
  readonly token: number;
  readonly owner?: string;
};

export type LinearizabilityResult =
  | { readonly kind: "ok"; readonly ops: number; readonly ambiguous: number }
  | { readonly kind: "violation"; readonly op: OpRecord; readonly message: string }
  | { readonly kind: "unchecked"; readonly reason: string };

const initial: State = { owner: "", token: -1, endLoMs: 0, endHiMs: 0, sinceMs: 0 };

/** Whether the group got a new leader in (fromMs, toMs] (when unknown, it may have). */
function leaderChanged(
  changes: readonly number[] | undefined,
  fromMs: number,
  toMs: number,
): boolean {
  if (changes === undefined) return true;
  let lo = 0;
  let hi = changes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (changes[mid]! <= fromMs) lo = mid + 1;
    else hi = mid;
  }
  return lo < changes.length && changes[lo]! <= toMs;
}

function heldOptions(state: State, op: OpRecord, bounds: LeaseBounds): boolean[] {
  if (state.owner === "") return [false];
  const answeredMs = op.outcome === "ok" ? op.ackMs : Number.POSITIVE_INFINITY;
  if (answeredMs < state.endLoMs) return [true];
  if (
    op.sendMs > state.endHiMs && !leaderChanged(bounds.leaderChangesMs, state.sinceMs, answeredMs)
  ) {
    return [false];
  }
  return [true, false];
}

/** All outcomes the model allows for `op` in `state` (the second flag: expiry was ambiguous). */
export function modelSteps(state: State, op: OpRecord, bounds: LeaseBounds): [Step[], boolean] {
  const factor = 1 - bounds.driftBoundPpm / 1_000_000;
  const answeredMs = op.outcome === "ok" ? op.ackMs : Number.POSITIVE_INFINITY;
  // A lease of expiresMs on the slowest clock lasts at most this long in true time (+1 ms for
  // the clock's whole-ms readings).
  const endHiMs = answeredMs + op.expiresMs / (1 - bounds.slowestRatePpm / 1_000_000) + 1;
  const owned = state.owner !== "";
  const held = heldOptions(state, op, bounds);
  const steps: Step[] = [];
  for (const isHeld of held) {
    switch (op.op) {
      case "tryLock":
        if (isHeld && state.owner === op.owner) {
          steps.push({ state, type: ResponseType.Locked, token: state.token });
        } else if (isHeld) steps.push({ state, type: ResponseType.Busy, token: 0 });
        else {
          const token = state.token + 1;
          const endLoMs = op.sendMs + op.expiresMs * factor;
          const next = { owner: op.owner, token, endLoMs, endHiMs, sinceMs: op.sendMs };
          steps.push({ state: next, type: ResponseType.Locked, token });
        }
        break;
      case "extend":
        if (isHeld && state.owner === op.owner) {
          const endLoMs = op.sendMs + op.expiresMs * factor;
          const next = { ...state, endLoMs, endHiMs, sinceMs: op.sendMs };
          steps.push({ state: next, type: ResponseType.Extended, token: state.token });
        } else if (isHeld) steps.push({ state, type: ResponseType.InvalidOwner, token: 0 });
        else steps.push({ state, type: ResponseType.LockDoesNotExist, token: 0 });
        break;
      case "unlock":
        if (!owned) steps.push({ state, type: ResponseType.LockDoesNotExist, token: 0 });
        else if (state.owner !== op.owner) {
          steps.push({ state, type: ResponseType.InvalidOwner, token: 0 });
        } else {
          const next = {
            owner: "",
            token: state.token,
            endLoMs: 0,
            endHiMs: 0,
            sinceMs: op.sendMs,
          };
          steps.push({ state: next, type: ResponseType.Unlocked, token: state.token });
        }
        break;
      case "get":
        if (isHeld) {
          steps.push({ state, type: ResponseType.Got, token: state.token, owner: state.owner });
        } else steps.push({ state, type: ResponseType.LockDoesNotExist, token: 0 });
        break;
    }
    if (op.op === "unlock") break; // unlock does not depend on expiry
  }
  return [steps, held.length > 1];
}

function matches(step: Step, op: OpRecord): boolean {
  if (op.outcome !== "ok") return true;
  if (step.type !== op.type) return false;
  switch (step.type) {
    case ResponseType.Locked:
    case ResponseType.Extended:
    case ResponseType.Unlocked:
      return step.token === op.fencingToken;
    case ResponseType.Got:
      return step.token === op.fencingToken && step.owner === op.gotOwner;
    default:
      return true;
  }
}

function stateKey(s: State): string {
  return `${s.owner}/${s.token}/${s.endLoMs}/${s.endHiMs}/${s.sinceMs}`;
}

function configKey(c: Config): string {
  return `${stateKey(c.state)}|${c.lin.join(",")}`;
}

/** Checks one key's operations (ok and unknown ones; failed ones never ran). */
export function checkLinearizable(
  ops: readonly OpRecord[],
  bounds: LeaseBounds,
): LinearizabilityResult {
  const quick = searchHistory(ops, bounds, unknownRepeatsFirst);
  return quick.kind === "violation" ? searchHistory(ops, bounds, Number.POSITIVE_INFINITY) : quick;
}

function searchHistory(
  ops: readonly OpRecord[],
  bounds: LeaseBounds,
  repeatsMax: number,
): LinearizabilityResult {
  type Event = { at: number; call: boolean; op: OpRecord };
  const events: Event[] = [];
  const unknownRequests = new Map<string, OpRecord>();
  const repeats = new Map<number, { times: number; lastSendMs: number }>();
  for (const op of ops) {
    if (op.outcome === "failed") continue;
    if (op.outcome === "unknown") {
      const request = `${op.client}/${op.leaseFromMs}/${op.op}/${op.owner}/${op.expiresMs}`;
      const first = unknownRequests.get(request);
      if (first !== undefined) {
        const r = repeats.get(first.id)!;
        r.times = Math.min(r.times + 1, repeatsMax);
        r.lastSendMs = op.sendMs;
        continue;
      }
      unknownRequests.set(request, op);
      repeats.set(op.id, { times: 1, lastSendMs: op.sendMs });
    }
    events.push({ at: op.sendMs, call: true, op });
    if (op.outcome === "ok") events.push({ at: op.ackMs, call: false, op });
  }
  events.sort((a, b) => a.at - b.at || (a.call === b.call ? a.op.id - b.op.id : a.call ? -1 : 1));
  let configs = new Map<string, Config>([["", { state: initial, lin: [] }]]);
  const pending = new Map<number, OpRecord>();
  const search: Search = { pending, repeats, bounds, ambiguous: 0 };
  for (const event of events) {
    if (event.call) {
      pending.set(event.op.id, event.op);
      continue;
    }
    const expired = expiredUnknown(pending, repeats, event.at);
    if (expired.length > 0) {
      // They may have taken effect before the window closed: keep every such configuration.
      const reached = explore(configs, search, undefined);
      if (reached === undefined) return unchecked;
      configs = forget(reached, expired);
      for (const id of expired) pending.delete(id);
    }
    const target = event.op;
    const next = explore(configs, search, target);
    if (next === undefined) return unchecked;
    pending.delete(target.id);
    if (next.size === 0) {
      return { kind: "violation", op: target, message: explain(target, configs) };
    }
    configs = next;
  }
  return { kind: "ok", ops: events.length, ambiguous: search.ambiguous };
}

type Search = {
  readonly pending: Map<number, OpRecord>;
  readonly repeats: ReadonlyMap<number, { times: number; lastSendMs: number }>;
  readonly bounds: LeaseBounds;
  ambiguous: number;
};

const unchecked: LinearizabilityResult = {
  kind: "unchecked",
  reason: `search passed ${configurationsMax} configurations`,
};

/**
 * Every configuration reachable from `configs` by linearizing pending operations. With a
 * target: those where the target is linearized, with it taken out (it has answered). Without:
 * all of them. Undefined when the search grows past configurationsMax.
 */
function explore(
  configs: ReadonlyMap<string, Config>,
  search: Search,
  target: OpRecord | undefined,
): Map<string, Config> | undefined {
  const next = new Map<string, Config>();
  const visited = new Set<string>(target === undefined ? configs.keys() : []);
  const stack = [...configs.values()];
  while (stack.length > 0) {
    const config = stack.pop()!;
    if (target === undefined) next.set(configKey(config), config);
    else if (config.lin.includes(target.id)) {
      const done = { state: config.state, lin: config.lin.filter((id) => id !== target.id) };
      next.set(configKey(done), done);
      continue;
    }
    for (const op of search.pending.values()) {
      const times = search.repeats.get(op.id)?.times ?? 1;
      if (times === 1 ? config.lin.includes(op.id) : count(config.lin, op.id) >= times) continue;
      const [steps, wasAmbiguous] = modelSteps(config.state, op, search.bounds);
      if (wasAmbiguous) search.ambiguous += 1;
      for (const step of steps) {
        if (!matches(step, op)) continue;
        const child = { state: step.state, lin: [...config.lin, op.id].sort((a, b) => a - b) };
        const key = configKey(child);
        if (visited.has(key)) continue;
        visited.add(key);
        stack.push(child);
      }
    }
    if (visited.size > configurationsMax) return undefined;
  }
  return next;
}

/** Unknown operations whose window has closed: from now on they are assumed not to happen. */
function expiredUnknown(
  pending: ReadonlyMap<number, OpRecord>,
  repeats: ReadonlyMap<number, { lastSendMs: number }>,
  nowMs: number,
): number[] {
  const expired: number[] = [];
  for (const op of pending.values()) {
    const lastSendMs = repeats.get(op.id)?.lastSendMs ?? op.sendMs;
    if (op.outcome === "unknown" && lastSendMs + unknownWindowMs < nowMs) expired.push(op.id);
  }
  return expired;
}

/** The configurations with `ids` dropped from their linearized sets (merging equal ones). */
function forget(configs: ReadonlyMap<string, Config>, ids: readonly number[]): Map<string, Config> {
  const merged = new Map<string, Config>();
  for (const config of configs.values()) {
    const c = { state: config.state, lin: config.lin.filter((id) => !ids.includes(id)) };
    merged.set(configKey(c), c);
  }
  return merged;
}

function count(ids: readonly number[], id: number): number {
  let n = 0;
  for (const x of ids) if (x === id) n += 1;
  return n;
}

function explain(op: OpRecord, configs: Map<string, Config>): string {
  const states = [...new Set([...configs.values()].map((c) => stateKey(c.state)))].slice(0, 4);
  return `no linearization explains op #${op.id}; the lock could have been (owner/token/endLo/endHi/since): ` +
    states.join("; ");
}

/**
 * A linearizability checker in the style of Porcupine / Knossos: the Wing–Gong–Lowe search
 * (Lowe, "Testing for linearizability", 2017) with memoised configurations, for a
 * nondeterministic model whose step returns every possible next state.
 *
 * Operations with an unknown outcome (504, timeout) get a return time of +infinity: the
 * search may linearise them anywhere after their call, or effectively never (at the very
 * end, where nothing observes them). Operations that certainly did not run are left out by
 * the caller.
 *
 * The search is bounded (`stepsMax`); a history it cannot decide within the bound is reported
 * as "inconclusive", never as linearizable.
 */

export type Model<S, O> = {
  readonly init: S;
  step(state: S, op: O): readonly S[];
  key(state: S): string;
};

export type TimedOp<O> = {
  readonly op: O;
  readonly callMs: number;
  /** Infinity when the outcome is unknown. */
  readonly returnMs: number;
};

export type LinearizabilityResult =
  | { readonly kind: "linearizable"; readonly steps: number }
  | {
    readonly kind: "inconclusive";
    readonly steps: number;
    /** How far the search got, and the operation it was stuck on when it gave up. */
    readonly longestPrefix: readonly number[];
    readonly stuckAt: number;
  }
  | {
    readonly kind: "violation";
    readonly steps: number;
    /** Index (in the input) of the operation no linearization could get past. */
    readonly stuckAt: number;
    /** The longest prefix of operations (indices, in order) the search managed to linearize. */
    readonly longestPrefix: readonly number[];
  };

type Event = {
  readonly op: number;
  readonly isCall: boolean;
  prev: number;
  next: number;
  match: number;
};

/** Events sorted by time: calls before returns at equal times, so touching ops overlap. */
function buildEvents<O>(ops: readonly TimedOp<O>[]): Event[] {
  const raw: { op: number; isCall: boolean; t: number }[] = [];
  ops.forEach((o, i) => {
    raw.push({ op: i, isCall: true, t: o.callMs });
    raw.push({ op: i, isCall: false, t: o.returnMs });
  });
  raw.sort((a, b) => a.t - b.t || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1));
  // Index 0 is the head sentinel.
  const events: Event[] = [{ op: -1, isCall: false, prev: -1, next: 1, match: -1 }];
  const callAt = new Map<number, number>();
  raw.forEach((r, i) => {
    const index = i + 1;
    events.push({
      op: r.op,
      isCall: r.isCall,
      prev: index - 1,
      next: index + 1 < raw.length + 1 ? index + 1 : -1,
      match: -1,
    });
    if (r.isCall) callAt.set(r.op, index);
    else {
      const call = callAt.get(r.op)!;
      events[call]!.match = index;
      events[index]!.match = call;
    }
  });
  if (raw.length === 0) events[0]!.next = -1;
  return events;
}

/** A small deterministic PRNG (xorshift32) for the configuration hashes. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

export function checkLinearizable<S, O>(
  model: Model<S, O>,
  ops: readonly TimedOp<O>[],
  stepsMax = 2_000_000,
): LinearizabilityResult {
  const events = buildEvents(ops);
  const random = xorshift(0x9e3779b9);
  const h1s = ops.map(() => random());
  const h2s = ops.map(() => random());
  const cache = new Set<string>();
  type Frame = { event: number; state: S; candidates: readonly S[]; tried: number };
  const stack: Frame[] = [];
  let state = model.init;
  let h1 = 0;
  let h2 = 0;
  let steps = 0;
  let longest: number[] = [];
  let stuckAt = -1;
  let stuckDepth = 0;

  const lift = (call: number) => {
    const c = events[call]!;
    const r = events[c.match]!;
    events[c.prev]!.next = c.next;
    if (c.next !== -1) events[c.next]!.prev = c.prev;
    events[r.prev]!.next = r.next;
    if (r.next !== -1) events[r.next]!.prev = r.prev;
  };
  const unlift = (call: number) => {
    const c = events[call]!;
    const ret = c.match;
    const r = events[ret]!;
    events[r.prev]!.next = ret;
    if (r.next !== -1) events[r.next]!.prev = ret;
    events[c.prev]!.next = call;
    if (c.next !== -1) events[c.next]!.prev = call;
  };
  /** Linearises the op of `call` with one of its candidate states from `from`; true if one was new. */
  const attempt = (call: number, candidates: readonly S[], from: number): boolean => {
    const op = events[call]!.op;
    for (let i = from; i < candidates.length; i++) {
      const next = candidates[i]!;
      const n1 = (h1 ^ h1s[op]!) >>> 0;
      const n2 = (h2 ^ h2s[op]!) >>> 0;
      const key = `${n1}:${n2}|${model.key(next)}`;
      if (cache.has(key)) continue;
      cache.add(key);
      stack.push({ event: call, state, candidates, tried: i });
      state = next;
      h1 = n1;
      h2 = n2;
      lift(call);
      return true;
    }
    return false;
  };

  let cursor = events[0]!.next;
  while (events[0]!.next !== -1) {
    steps += 1;
    if (steps > stepsMax) return { kind: "inconclusive", steps, longestPrefix: longest, stuckAt };
    const event = events[cursor]!;
    if (event.isCall) {
      const candidates = model.step(state, ops[event.op]!.op);
      if (attempt(cursor, candidates, 0)) {
        if (stack.length > longest.length) longest = stack.map((f) => events[f.event]!.op);
        cursor = events[0]!.next;
      } else {
        cursor = event.next;
      }
      continue;
    }
    // A return whose op is not linearised yet: undo the latest choice.
    if (stack.length === 0) {
      return {
        kind: "violation",
        steps,
        stuckAt: stuckAt === -1 ? event.op : stuckAt,
        longestPrefix: longest,
      };
    }
    if (stack.length >= stuckDepth) {
      stuckDepth = stack.length;
      stuckAt = event.op;
    }
    const top = stack.pop()!;
    unlift(top.event);
    state = top.state;
    const op = events[top.event]!.op;
    h1 = (h1 ^ h1s[op]!) >>> 0;
    h2 = (h2 ^ h2s[op]!) >>> 0;
    if (attempt(top.event, top.candidates, top.tried + 1)) {
      cursor = events[0]!.next;
    } else {
      cursor = events[top.event]!.next;
    }
  }
  return { kind: "linearizable", steps };
}

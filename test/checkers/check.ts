/**
 * The lock checkers over one client history, for the simulator and the fault suite alike;
 * only the lease model (lease.ts) differs between them. Per lock (resource, durability):
 * lock safety and fencing tokens (safety.ts), phantom holders (reads.ts), linearizability
 * (lock-model.ts, searched by linearizability.ts); over the whole history: bug answers,
 * read-backs and durable locks (durability.ts).
 */
import { byKey, grantsOf } from "./grants.ts";
import { describe, type OpRecord, type Violation } from "./history.ts";
import type { KeyLease, LeaseModel } from "./lease.ts";
import { initialLockState, type LockState, stateKey, stepLock } from "./lock-model.ts";
import { checkLinearizable } from "./linearizability.ts";
import { checkAnswers, checkPhantomHolders } from "./reads.ts";
import { checkDurableLocks, checkReadBacks, type ReadBack } from "./durability.ts";
import { checkLockSafety, checkTokens, handoverMargins } from "./safety.ts";

export type CheckOptions = {
  readonly lease: LeaseModel;
  /** A prober's locks and the Gets after them (the simulator's, after healing). */
  readonly readBacks?: readonly ReadBack[];
  /** The client that read every lock back after a final full restart (the fault suite's). */
  readonly finalClient?: string;
  /** The linearizability search's bound per lock; a lock past it is inconclusive. */
  readonly stepsMax?: number;
  readonly skipLinearizability?: boolean;
};

export type CheckReport = {
  readonly violations: Violation[];
  readonly keys: number;
  readonly grants: number;
  readonly linearizableKeys: number;
  /** Locks the search could not decide within its bound: neither a pass nor a violation. */
  readonly inconclusiveKeys: string[];
  readonly steps: number;
  /** Per durability: grants after another owner's unreleased lease, and the closest. */
  readonly handovers: Record<string, { count: number; minMarginMs: number }>;
};

export const defaultStepsMax = 2_000_000;

export function checkHistory(history: readonly OpRecord[], options: CheckOptions): CheckReport {
  const violations: Violation[] = [...checkAnswers(history)];
  const inconclusiveKeys: string[] = [];
  const handovers: Record<string, { count: number; minMarginMs: number }> = {};
  let grants = 0;
  let linearizableKeys = 0;
  let steps = 0;
  const keys = byKey(history);
  for (const key of [...keys.keys()].sort()) {
    const ops = keys.get(key)!;
    const lease = options.lease.forKey(ops[0]!.resource);
    const keyGrants = grantsOf(ops, lease.driftBoundPpm);
    grants += keyGrants.length;
    violations.push(
      ...checkLockSafety(key, keyGrants),
      ...checkTokens(key, ops, keyGrants),
      ...checkPhantomHolders(key, ops),
    );
    const name = key.startsWith("0:") ? "ephemeral" : "persistent";
    for (const margin of handoverMargins(keyGrants)) {
      const entry = handovers[name] ?? (handovers[name] = { count: 0, minMarginMs: Infinity });
      entry.count += 1;
      entry.minMarginMs = Math.min(entry.minMarginMs, Math.round(margin));
    }
    // The lock model is one holder at a time: shared locks (docs/spec.md §2.8) are judged by
    // the safety and token checkers above.
    if (options.skipLinearizability || ops.some((op) => op.limit !== undefined)) continue;
    const result = checkLockLinearizable(key, ops, lease, options.stepsMax ?? defaultStepsMax);
    steps += result.steps;
    if (result.violation !== undefined) violations.push(result.violation);
    else if (result.inconclusive) inconclusiveKeys.push(key);
    else linearizableKeys += 1;
  }
  violations.push(...checkReadBacks(options.readBacks ?? []));
  if (options.finalClient !== undefined) {
    violations.push(...checkDurableLocks(history, options.finalClient));
  }
  return {
    violations,
    keys: keys.size,
    grants,
    linearizableKeys,
    inconclusiveKeys,
    steps,
    handovers,
  };
}

/**
 * One lock's history against the lock model. Attempts that certainly did not run are left
 * out; an unknown one may take effect any time after its send within the model's window.
 */
export function checkLockLinearizable(
  key: string,
  all: readonly OpRecord[],
  lease: KeyLease,
  stepsMax = defaultStepsMax,
): { steps: number; inconclusive: boolean; violation: Violation | undefined } {
  const ops = all.filter((op) => op.outcome !== "failed").sort((a, b) => a.sendMs - b.sendMs);
  const timed = ops.map((op) => ({
    op,
    callMs: op.sendMs,
    returnMs: op.outcome === "unknown" ? op.sendMs + lease.unknownWindowMs : op.ackMs,
  }));
  const model = {
    init: initialLockState,
    step: (state: LockState, op: OpRecord) => stepLock(state, op, lease),
    key: stateKey,
  };
  const result = checkLinearizable(model, timed, stepsMax);
  if (result.kind !== "violation") {
    return {
      steps: result.steps,
      inconclusive: result.kind === "inconclusive",
      violation: undefined,
    };
  }
  const stuck = ops[result.stuckAt]!;
  const prefix = result.longestPrefix.slice(-6).map((i) => describe(ops[i]!));
  return {
    steps: result.steps,
    inconclusive: false,
    violation: {
      checker: "linearizability",
      key,
      message: `no linearization explains ${describe(stuck)} (after ` +
        `${result.longestPrefix.length} ops linearized)`,
      atMs: stuck.ackMs,
      ops: [...prefix, `stuck: ${describe(stuck)}`],
    },
  };
}

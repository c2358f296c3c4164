/**
 * The replicated state of one group's persistent locks (DESIGN.md §6, SPEC.md §2.1, §2.3):
 * a pure function of the committed entries. Every replica that applies the same entries
 * reaches the same state, the same answers and the same snapshot bytes.
 *
 * Time: each command carries the proposing leader's monotonic clock reading `nowMs`. Lease
 * ends are kept on the clock of one leader, the *base* (`baseTerm`), together with the latest
 * reading seen from it (`lastNowMs`). When an entry of another term arrives, the machine first
 * rebases: every lease keeps the remaining time it had at `lastNowMs`, plus the clock-drift
 * margin, now counted from the new leader's reading. Elapsed time that cannot be proven is
 * never subtracted, and two machines' clocks are never compared.
 *
 * Invariants: appliedIndex only grows; fencing tokens per resource only grow; the ephemeral
 * epoch only grows and stays below ephemeralEpochMax; the horizon never shrinks within a base.
 */
import { assert, unreachable } from "../assert.ts";
import { decodeCommand, type LockCommand } from "../codec/lock-command.ts";
import { clockDriftPpmMax, ephemeralEpochMax } from "../constants.ts";
import * as rules from "./lock-rules.ts";
import { decodeSnapshot, encodeSnapshot, type MachineState } from "./lock-snapshot.ts";
import { type LockResponse, ResponseType } from "./types.ts";

/** Persistent locks start their tokens at 0 (SPEC.md §2.1). */
const firstToken = 0;

export class LockMachine {
  #state: MachineState;

  constructor() {
    this.#state = {
      appliedIndex: 0,
      baseTerm: 0,
      lastNowMs: 0,
      ephemeralEpoch: -1,
      horizonMs: 0,
      records: new Map(),
    };
  }

  /** Number of leaderStart entries applied minus 1 (the first leader's epoch is 0). */
  get ephemeralEpoch(): number {
    return this.#state.ephemeralEpoch;
  }

  /** The committed ephemeral horizon, on the clock of `baseTerm`'s leader. */
  get horizonMs(): number {
    return this.#state.horizonMs;
  }

  get baseTerm(): number {
    return this.#state.baseTerm;
  }

  get appliedIndex(): number {
    return this.#state.appliedIndex;
  }

  /**
   * Applies one committed entry. Empty data (the Raft no-op) changes no lock. Returns the
   * answer for a persistent op, undefined for other commands. An entry that does not decode
   * answers Errored and changes nothing: every replica reads it the same way, and crashing on
   * it would stop every replica at the same index for good.
   */
  apply(entry: { term: number; index: number; data: Uint8Array }): LockResponse | undefined {
    const state = this.#state;
    assert(
      Number.isSafeInteger(entry.index) && entry.index > state.appliedIndex,
      `apply: index ${entry.index} is not after the applied index ${state.appliedIndex}`,
    );
    state.appliedIndex = entry.index;
    if (entry.data.length === 0) return undefined;
    const command = decodeCommand(entry.data);
    if ("error" in command) {
      return {
        type: ResponseType.Errored,
        fencingToken: 0,
        error: `entry ${entry.index}: ${command.error}`,
      };
    }
    // Raft logs never go back in term, so neither does the base.
    assert(entry.term >= state.baseTerm, "apply: entry term is below the clock base's term");
    this.#advanceClock(entry.term, command.nowMs);
    return this.#execute(command);
  }

  /**
   * Persistent Get at the leader's clock reading `nowMs`. Valid only on the leader after its
   * leaderStart applied (then the base is its own clock) and after a ReadIndex round.
   */
  get(resource: string, nowMs: number): LockResponse {
    assert(Number.isFinite(nowMs), "get: nowMs must be finite");
    return rules.get(this.#state.records.get(resource), nowMs);
  }

  /** Whole state, deterministic bytes (resources in sorted order). */
  snapshot(): Uint8Array {
    return encodeSnapshot(this.#state);
  }

  static restore(data: Uint8Array): LockMachine | { error: string } {
    const state = decodeSnapshot(data);
    if ("error" in state) return state;
    const machine = new LockMachine();
    machine.#state = state;
    return machine;
  }

  /** Number of resources known, including unlocked and expired ones (they keep their token). */
  size(): number {
    return this.#state.records.size;
  }

  #execute(command: LockCommand): LockResponse | undefined {
    const state = this.#state;
    switch (command.kind) {
      case "tryLock":
      case "extend":
      case "unlock":
        return this.#executeLockOp(command);
      case "leaderStart":
        assert(state.ephemeralEpoch + 1 < ephemeralEpochMax, "ephemeral epochs exhausted");
        state.ephemeralEpoch += 1;
        return undefined;
      case "horizon":
        state.horizonMs = Math.max(state.horizonMs, command.horizonMs);
        return undefined;
      default:
        return unreachable(command);
    }
  }

  #executeLockOp(command: LockCommand & { kind: "tryLock" | "extend" | "unlock" }): LockResponse {
    const { resource, owner, expiresMs, nowMs } = command;
    const records = this.#state.records;
    const before = records.get(resource);
    const outcome = command.kind === "tryLock"
      ? rules.tryLock(before, owner, expiresMs, nowMs, firstToken)
      : command.kind === "extend"
      ? rules.extend(before, owner, expiresMs, nowMs)
      : rules.unlock(before, owner);
    if (outcome.record !== before) {
      assert(outcome.record !== undefined, "the rules never remove a record");
      assert(
        before === undefined || outcome.record.fencingToken >= before.fencingToken,
        "fencing tokens never go back",
      );
      records.set(resource, outcome.record);
    }
    return outcome.response;
  }

  /** SPEC.md §2.3: a new term means a new leader's clock; rebase onto it first. */
  #advanceClock(term: number, nowMs: number): void {
    const state = this.#state;
    if (term === state.baseTerm) {
      state.lastNowMs = Math.max(state.lastNowMs, nowMs);
      return;
    }
    for (const [resource, record] of state.records) {
      if (record.owner === "") continue;
      const leaseEndMs = rebaseEnd(record.leaseEndMs, state.lastNowMs, nowMs);
      state.records.set(resource, { ...record, leaseEndMs });
    }
    state.horizonMs = rebaseEnd(state.horizonMs, state.lastNowMs, nowMs);
    state.baseTerm = term;
    state.lastNowMs = nowMs;
  }
}

/**
 * An end time on the old base, moved to the new one: the remaining time at the old base's
 * last reading, counted from the new reading, lengthened by the drift margin when positive.
 * The margin is `ceil(remaining * ppm / 1e6)` on its own rather than `ceil(remaining * 1.01)`,
 * because 1.01 has no exact binary form and the product would round up a whole extra ms.
 * An end already past stays past by the same amount: it grants no time.
 */
export function rebaseEnd(endMs: number, lastNowMs: number, nowMs: number): number {
  const remainingMs = endMs - lastNowMs;
  const marginMs = remainingMs > 0 ? Math.ceil((remainingMs * clockDriftPpmMax) / 1_000_000) : 0;
  const rebasedMs = nowMs + remainingMs + marginMs;
  assert(marginMs >= 0, "rebase never shortens a lease");
  assert(Math.abs(rebasedMs) <= Number.MAX_SAFE_INTEGER, "rebased time left the safe integers");
  return rebasedMs;
}

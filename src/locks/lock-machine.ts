/**
 * The replicated state of one group's persistent locks (docs/spec.md §2.1, §2.3): a pure
 * function of the committed entries. Every replica that applies the same entries reaches the
 * same state, the same answers and the same snapshot bytes.
 *
 * Time: each command carries the proposing leader's monotonic clock reading `nowMs`. Lease
 * ends are kept on the clock of one leader, the *base* (`baseTerm`), together with the latest
 * reading seen from it (`lastNowMs`). When an entry of another term arrives, the machine first
 * rebases: every lease keeps the remaining time it had at `lastNowMs`, now counted from the
 * new leader's reading. Elapsed time that cannot be proven is never subtracted, and two
 * machines' clocks are never compared. No drift margin is added to a lease: each leader's
 * share of it is measured on a clock within the drift bound of the holder's, which the
 * holder's own 1% discount already covers (docs/architecture.md, "Leases across leaders").
 * The ephemeral horizon does get the margin, once per clock base: it bounds what a deposed
 * leader may still believe on its own clock, not what a holder relies on.
 *
 * Fencing tokens: a resource with no record starts at `tokenFloor`, which a sweep raises above
 * every token it removes; ephemeral tokens come from ranges reserved here. A leaderStart
 * reserves a block starting above every token reserved before (`ephemeralFrom`); a horizon
 * entry may reserve more (`ephemeralThrough`). A leader grants an ephemeral token only once
 * its reservation is applied, so a later leader's range starts above any token it granted.
 *
 * Invariants: appliedIndex only grows; fencing tokens per resource only grow, and tokenFloor
 * exceeds every removed record's token; ephemeralThrough only grows; the horizon never
 * shrinks within a base. Nothing in apply throws for any decodable entry: every limit is
 * a capped value, not an assertion a replica could hit on a committed entry.
 */
import { assert, unreachable } from "../assert.ts";
import { decodeCommand, type LockCommand } from "../codec/lock-command.ts";
import { clockDriftPpmMax, ephemeralTokenBlock } from "../constants.ts";
import * as rules from "./lock-rules.ts";
import { decodeSnapshot, encodeSnapshot, type MachineState } from "./lock-snapshot.ts";
import { type LockResponse, ResponseType } from "./types.ts";

const tokenMax = Number.MAX_SAFE_INTEGER;

/**
 * Told of every change a lock op or a sweep makes to a record, as it applies (watches use it);
 * `after` is undefined for a record a sweep removed; `nowMs` is the command's clock reading.
 * Not replicated state.
 */
export type RecordObserver = (
  resource: string,
  before: rules.LockRecord | undefined,
  after: rules.LockRecord | undefined,
  nowMs: number,
) => void;

export class LockMachine {
  #state: MachineState;
  observer: RecordObserver | undefined;
  /** Where the leader's incremental sweep scan is; not replicated state. */
  readonly #sweepScan = new rules.SweepScan();

  constructor() {
    this.#state = {
      appliedIndex: 0,
      baseTerm: 0,
      lastNowMs: 0,
      horizonMs: 0,
      ephemeralFrom: 0,
      ephemeralThrough: -1,
      tokenFloor: 0,
      records: new Map(),
    };
  }

  /** The first ephemeral token of the latest leaderStart's range. */
  get ephemeralFrom(): number {
    return this.#state.ephemeralFrom;
  }

  /** The highest ephemeral token reserved so far (-1 before the first leaderStart). */
  get ephemeralThrough(): number {
    return this.#state.ephemeralThrough;
  }

  /** The token a persistent resource without a record gets on its next grant. */
  get tokenFloor(): number {
    return this.#state.tokenFloor;
  }

  /** The committed ephemeral horizon, on the clock of `baseTerm`'s leader. */
  get horizonMs(): number {
    return this.#state.horizonMs;
  }

  get baseTerm(): number {
    return this.#state.baseTerm;
  }

  /** The latest clock reading of the base's leader that the log carries. */
  get lastNowMs(): number {
    return this.#state.lastNowMs;
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

  /** The record of a resource, if it has one. */
  record(resource: string): rules.LockRecord | undefined {
    return this.#state.records.get(resource);
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

  /** Number of records kept: held locks, and released or expired ones not yet swept. */
  size(): number {
    return this.#state.records.size;
  }

  /** Number of locks held at `nowMs` (the leader's reading, on the current base). */
  heldCount(nowMs: number): number {
    let held = 0;
    for (const record of this.#state.records.values()) if (rules.isHeld(record, nowMs)) held++;
    return held;
  }

  /**
   * The leader's sweep scan: looks at up to `scanMax` records after where the last call
   * stopped and returns the names that are sweepable at `nowMs`, at most `bytesMax` of them
   * in UTF-8 (plus a few bytes each). A call that reaches the end starts over on the next.
   * What it returns is only a proposal: the sweep entry re-checks each name as it applies.
   */
  sweepCandidates(nowMs: number, graceMs: number, scanMax: number, bytesMax: number): string[] {
    const names: string[] = [];
    let bytes = 0;
    this.#sweepScan.next(this.#state.records, nowMs, graceMs, scanMax, (name) => {
      const nameBytes = 3 * name.length + 5; // UTF-16 units to UTF-8: at most 3 bytes each
      if (bytes + nameBytes > bytesMax) return false;
      bytes += nameBytes;
      names.push(name);
      return true;
    });
    return names;
  }

  #execute(command: LockCommand): LockResponse | undefined {
    const state = this.#state;
    switch (command.kind) {
      case "tryLock":
      case "extend":
      case "unlock":
        return this.#executeLockOp(command);
      case "leaderStart":
        // A new range above every token reserved before; capped, never thrown on.
        state.ephemeralFrom = Math.min(state.ephemeralThrough + 1, tokenMax);
        state.ephemeralThrough = Math.min(state.ephemeralFrom + ephemeralTokenBlock - 1, tokenMax);
        return undefined;
      case "horizon":
        state.horizonMs = Math.max(state.horizonMs, command.horizonMs);
        state.ephemeralThrough = Math.max(state.ephemeralThrough, command.tokensThrough);
        return undefined;
      case "sweep":
        this.#sweep(command.resources, command.nowMs, command.graceMs);
        return undefined;
      default:
        return unreachable(command);
    }
  }

  #sweep(resources: readonly string[], nowMs: number, graceMs: number): void {
    const state = this.#state;
    for (const resource of resources) {
      const record = state.records.get(resource);
      if (record === undefined || !rules.isSweepable(record, nowMs, graceMs)) continue;
      state.records.delete(resource);
      state.tokenFloor = Math.max(state.tokenFloor, Math.min(record.fencingToken + 1, tokenMax));
      this.observer?.(resource, record, undefined, nowMs);
    }
  }

  #executeLockOp(command: LockCommand & { kind: "tryLock" | "extend" | "unlock" }): LockResponse {
    const { resource, owner, expiresMs, nowMs, value, limit } = command;
    const records = this.#state.records;
    const before = records.get(resource);
    const outcome = command.kind === "tryLock"
      ? rules.tryLock(before, owner, expiresMs, nowMs, this.#state.tokenFloor, value, limit)
      : command.kind === "extend"
      ? rules.extend(before, owner, expiresMs, nowMs, value)
      : rules.unlock(before, owner, nowMs);
    if (outcome.record !== before) {
      assert(outcome.record !== undefined, "the rules never remove a record");
      assert(
        before === undefined || outcome.record.fencingToken >= before.fencingToken,
        "fencing tokens never go back",
      );
      records.set(resource, outcome.record);
      this.observer?.(resource, before, outcome.record, nowMs);
    }
    return outcome.response;
  }

  /** docs/spec.md §2.3: a new term means a new leader's clock; rebase onto it first. */
  #advanceClock(term: number, nowMs: number): void {
    const state = this.#state;
    if (term === state.baseTerm) {
      state.lastNowMs = Math.max(state.lastNowMs, nowMs);
      return;
    }
    // Lease ends and the times records became free alike: no margin (see the header).
    const rebase = (endMs: number) => rebaseEnd(endMs, state.lastNowMs, nowMs, 0);
    for (const [resource, record] of state.records) {
      const leaseEndMs = rebase(record.leaseEndMs);
      const holders = record.holders?.map((h) => ({ ...h, leaseEndMs: rebase(h.leaseEndMs) }));
      state.records.set(
        resource,
        holders === undefined ? { ...record, leaseEndMs } : { ...record, leaseEndMs, holders },
      );
    }
    state.horizonMs = rebaseEnd(state.horizonMs, state.lastNowMs, nowMs, clockDriftPpmMax);
    state.baseTerm = term;
    state.lastNowMs = nowMs;
  }
}

/**
 * A time on the old base, moved to the new one: the remaining time at the old base's last
 * reading, counted from the new reading, lengthened by `marginPpm` of it when positive. The
 * margin is `ceil(remaining * ppm / 1e6)` on its own rather than `ceil(remaining * 1.01)`,
 * because 1.01 has no exact binary form and the product would round up a whole extra ms.
 * A time already past stays past by the same amount: it grants no time.
 */
export function rebaseEnd(
  endMs: number,
  lastNowMs: number,
  nowMs: number,
  marginPpm: number,
): number {
  const remainingMs = endMs - lastNowMs;
  const marginMs = remainingMs > 0 ? Math.ceil((remainingMs * marginPpm) / 1_000_000) : 0;
  const rebasedMs = nowMs + remainingMs + marginMs;
  assert(marginMs >= 0, "rebase never shortens a lease");
  assert(Math.abs(rebasedMs) <= Number.MAX_SAFE_INTEGER, "rebased time left the safe integers");
  return rebasedMs;
}

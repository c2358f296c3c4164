/**
 * The leader's in-memory table of ephemeral locks (SPEC.md §2.2, DESIGN.md §6). It lives only
 * as long as one leadership of one group: no Raft, no disk. Times are this leader's own
 * monotonic clock, so no rebasing is ever needed here.
 *
 * Fencing tokens are `epoch * 2^32 + count`, where `epoch` is the group's ephemeral epoch
 * committed by this leader's leaderStart and `count` starts at 0 per resource. A later leader
 * has a larger epoch, so its first token is above any token of this one: tokens keep rising
 * across failovers without this table ever being replicated.
 *
 * What this table does not do: keep two leaders' leases apart. The host must not grant a
 * lease ending after the committed horizon (`leaseEndFor`), and a new leader must wait out the
 * old leader's horizon before its first grant.
 */
import { assert, unreachable } from "../assert.ts";
import { ephemeralCountMax, ephemeralEpochMax } from "../constants.ts";
import * as rules from "./lock-rules.ts";
import type { LockRecord, Outcome } from "./lock-rules.ts";
import { Durability, type LockRequest, type LockResponse } from "./types.ts";

export class EphemeralLocks {
  readonly #epoch: number;
  readonly #firstToken: number;
  readonly #records = new Map<string, LockRecord>();

  constructor(epoch: number) {
    assert(
      Number.isInteger(epoch) && epoch >= 0 && epoch < ephemeralEpochMax,
      `ephemeral epoch must be an integer from 0 to ${ephemeralEpochMax - 1}, got ${epoch}`,
    );
    this.#epoch = epoch;
    this.#firstToken = epoch * ephemeralCountMax;
  }

  get epoch(): number {
    return this.#epoch;
  }

  /** Runs one ephemeral request at this leader's clock reading `nowMs`. */
  execute(request: LockRequest, nowMs: number): LockResponse {
    if (request.op === "get") {
      checkRequest(request, nowMs);
      return rules.get(this.#records.get(request.resource), nowMs);
    }
    const outcome = this.#decide(request, nowMs);
    const before = this.#records.get(request.resource);
    if (outcome.record !== before) {
      assert(outcome.record !== undefined, "the rules never remove a record");
      this.#checkCount(outcome.record);
      this.#records.set(request.resource, outcome.record);
    }
    return outcome.response;
  }

  /**
   * The lease end (nowMs + expiresMs) that executing `request` now would create, which the
   * committed horizon must cover before the host executes it; 0 when it would create none
   * (busy, not the owner, an idempotent retry that keeps its lease, unlock, get). The answer
   * holds only until the table changes: call it again right before executing.
   */
  leaseEndFor(request: LockRequest, nowMs: number): number {
    if (request.op !== "tryLock" && request.op !== "extend") return 0;
    const before = this.#records.get(request.resource);
    const outcome = this.#decide(request, nowMs);
    if (outcome.record === before || outcome.record === undefined) return 0;
    assert(
      outcome.record.leaseEndMs === nowMs + request.expiresMs,
      "a grant ends at now + expiresMs",
    );
    return outcome.record.leaseEndMs;
  }

  /** Number of resources known, including unlocked and expired ones (they keep their count). */
  size(): number {
    return this.#records.size;
  }

  #decide(request: LockRequest, nowMs: number): Outcome {
    checkRequest(request, nowMs);
    const record = this.#records.get(request.resource);
    switch (request.op) {
      case "tryLock":
        return rules.tryLock(record, request.owner, request.expiresMs, nowMs, this.#firstToken);
      case "extend":
        return rules.extend(record, request.owner, request.expiresMs, nowMs);
      case "unlock":
        return rules.unlock(record, request.owner);
      case "get":
        return { response: rules.get(record, nowMs), record };
      default:
        return unreachable(request);
    }
  }

  #checkCount(record: LockRecord): void {
    const count = record.fencingToken - this.#firstToken;
    assert(count >= 0, "ephemeral tokens never go below the epoch's first token");
    assert(count < ephemeralCountMax, "ephemeral count overflowed into the next epoch");
  }
}

/** The host validated the request at the boundary; these catch a host bug, not user input. */
function checkRequest(request: LockRequest, nowMs: number): void {
  assert(request.durability === Durability.Ephemeral, "EphemeralLocks got a persistent request");
  assert(Number.isFinite(nowMs) && nowMs >= 0, "nowMs must be a finite, non-negative reading");
}

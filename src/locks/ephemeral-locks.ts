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
 * lease ending after the committed horizon (`executeWithin` refuses to), and a new leader must
 * wait out the old leader's horizon before its first grant.
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
    const result = this.executeWithin(request, nowMs, Number.POSITIVE_INFINITY);
    assert("type" in result, "no lease ends past an infinite horizon");
    return result;
  }

  /**
   * Runs one ephemeral request, unless it would create a lease (a grant or an extension:
   * nowMs + expiresMs) ending after `horizonMs`, the committed horizon. Then nothing changes
   * and the answer is that lease end, which the host must get the horizon to cover first.
   * Busy, not-the-owner, an idempotent retry that keeps its lease, unlock and get never wait.
   */
  executeWithin(
    request: LockRequest,
    nowMs: number,
    horizonMs: number,
  ): LockResponse | { readonly leaseEndMs: number } {
    if (request.op === "get") {
      checkRequest(request, nowMs);
      return rules.get(this.#records.get(request.resource), nowMs);
    }
    const before = this.#records.get(request.resource);
    const outcome = this.#decide(request, nowMs);
    if (outcome.record === before) return outcome.response;
    assert(outcome.record !== undefined, "the rules never remove a record");
    if (request.op !== "unlock") {
      const leaseEndMs = outcome.record.leaseEndMs;
      assert(leaseEndMs === nowMs + request.expiresMs, "a grant ends at now + expiresMs");
      if (leaseEndMs > horizonMs) return { leaseEndMs };
    }
    this.#checkCount(outcome.record);
    this.#records.set(request.resource, outcome.record);
    return outcome.response;
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

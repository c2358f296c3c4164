/**
 * The leader's in-memory table of ephemeral locks (docs/spec.md §2.2). It lives only as long
 * as one leadership of one group: no Raft, no disk. Times are this leader's own monotonic
 * clock, so no rebasing is ever needed here.
 *
 * Fencing tokens: a resource with no record starts at `floor`, which begins at `fromToken`,
 * the first token of the range this leader's leaderStart reserved (above every token an
 * earlier leader could grant), and rises above every token a sweep removes; a resource with a
 * record continues from its token + 1. So tokens keep rising across failovers and sweeps
 * without this table ever being replicated.
 *
 * What this table does not do: keep two leaders' leases apart, or reserve tokens. The host
 * must not grant a lease ending after the committed horizon nor a token above the committed
 * reservation (`executeWithin` refuses both), and a new leader must wait out the old leader's
 * horizon before its first grant.
 */
import { assert, unreachable } from "../assert.ts";
import * as rules from "./lock-rules.ts";
import type { LockRecord, Outcome } from "./lock-rules.ts";
import { Durability, type LockOpRequest, type LockResponse } from "./types.ts";

/** What a grant needs committed first: a horizon covering its lease and its token reserved. */
export type Needs = { readonly leaseEndMs: number; readonly fencingToken: number };

export class EphemeralLocks {
  readonly #fromToken: number;
  #floor: number;
  readonly #records = new Map<string, LockRecord>();
  readonly #sweepScan = new rules.SweepScan();

  constructor(fromToken: number) {
    assert(
      Number.isSafeInteger(fromToken) && fromToken >= 0,
      `ephemeral tokens start at a non-negative safe integer, got ${fromToken}`,
    );
    this.#fromToken = fromToken;
    this.#floor = fromToken;
  }

  /** The first token of this leader's range. */
  get fromToken(): number {
    return this.#fromToken;
  }

  /** The token a resource without a record gets on its next grant. */
  get floor(): number {
    return this.#floor;
  }

  /** The record of a resource, if it has one. */
  record(resource: string): LockRecord | undefined {
    return this.#records.get(resource);
  }

  /** Runs one ephemeral request at this leader's clock reading `nowMs`, with no limits. */
  execute(request: LockOpRequest, nowMs: number): LockResponse {
    const result = this.executeWithin(
      request,
      nowMs,
      Number.POSITIVE_INFINITY,
      Number.MAX_SAFE_INTEGER,
    );
    assert("type" in result, "nothing exceeds unbounded limits");
    return result;
  }

  /**
   * Runs one ephemeral request, unless it would grant or extend a lease ending after
   * `horizonMs` (the committed horizon) or grant a token above `tokensThrough` (the committed
   * reservation). Then nothing changes and the answer is what the grant needs, which the host
   * must get committed first. Busy, not-the-owner, an idempotent retry that keeps its lease,
   * unlock and get never wait.
   */
  executeWithin(
    request: LockOpRequest,
    nowMs: number,
    horizonMs: number,
    tokensThrough: number,
  ): LockResponse | Needs {
    if (request.op === "get") {
      checkRequest(request, nowMs);
      return rules.get(this.#records.get(request.resource), nowMs);
    }
    const before = this.#records.get(request.resource);
    const outcome = this.#decide(request, nowMs);
    if (outcome.record === before) return outcome.response;
    assert(outcome.record !== undefined, "the rules never remove a record");
    if (outcome.lease !== undefined) {
      assert(request.op !== "unlock", "an unlock makes no lease");
      const { leaseEndMs, fencingToken } = outcome.lease;
      assert(leaseEndMs === nowMs + request.expiresMs, "a grant ends at now + expiresMs");
      if (leaseEndMs > horizonMs || fencingToken > tokensThrough) {
        return { leaseEndMs, fencingToken };
      }
    }
    assert(outcome.record.fencingToken >= this.#fromToken, "tokens stay in this leader's range");
    this.#records.set(request.resource, outcome.record);
    return outcome.response;
  }

  /** Number of records kept: held locks, and released or expired ones not yet swept. */
  size(): number {
    return this.#records.size;
  }

  heldCount(nowMs: number): number {
    let held = 0;
    for (const record of this.#records.values()) if (rules.isHeld(record, nowMs)) held++;
    return held;
  }

  /**
   * Removes the sweepable records among the next `scanMax` (starting over after the end),
   * raising the floor above their tokens. Returns how many it removed.
   */
  sweep(
    nowMs: number,
    graceMs: number,
    scanMax: number,
    onRemove?: (name: string, record: LockRecord) => void,
  ): number {
    let removed = 0;
    this.#sweepScan.next(this.#records, nowMs, graceMs, scanMax, (name, record) => {
      this.#records.delete(name);
      onRemove?.(name, record);
      this.#floor = Math.max(this.#floor, record.fencingToken + 1);
      removed++;
      return true;
    });
    return removed;
  }

  #decide(request: LockOpRequest, nowMs: number): Outcome {
    checkRequest(request, nowMs);
    const record = this.#records.get(request.resource);
    switch (request.op) {
      case "tryLock":
        return rules.tryLock(
          record,
          request.owner,
          request.expiresMs,
          nowMs,
          this.#floor,
          request.value,
          request.limit,
        );
      case "extend":
        return rules.extend(record, request.owner, request.expiresMs, nowMs, request.value);
      case "unlock":
        return rules.unlock(record, request.owner, nowMs);
      case "get":
        return { response: rules.get(record, nowMs), record };
      default:
        return unreachable(request);
    }
  }
}

/** The host validated the request at the boundary; these catch a host bug, not user input. */
function checkRequest(request: LockOpRequest, nowMs: number): void {
  assert(request.durability === Durability.Ephemeral, "EphemeralLocks got a persistent request");
  assert(Number.isFinite(nowMs) && nowMs >= 0, "nowMs must be a finite, non-negative reading");
}

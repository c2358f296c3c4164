/**
 * The lease model: the one thing the simulator and the fault suite tell the checkers
 * differently. Both judge leases on one clock, with the drift bound taken off what a holder
 * relies on (docs/spec.md §2.3), so the lower bound on when a lease ends is the same: its request's
 * send plus expiresMs less the bound. They differ in what they know about the upper bound.
 *
 * - Simulated (`simulatedLease`): the clock is true time, every node's clock rate is known to
 *   stay within the run's band, and the simulator sees every leader change. While a group
 *   keeps its leader, a lease of expiresMs granted by the time of its answer has ended by the
 *   answer plus expiresMs on the slowest clock; after a change it may last expiresMs plus the
 *   failover, so no upper bound holds. An unknown outcome that has not taken effect 5 s after
 *   its send is assumed never to: that can only add violations, never hide one, and a false one
 *   would show up as a report to read.
 * - Measured (`measuredLease`): real processes, times read by the client's own clock, rates
 *   and leader changes unknown: no upper bound, and an unknown outcome may take effect at any
 *   time after its send.
 */
import { clockDriftPpmMax, sweepGraceMsDefault } from "../../src/constants.ts";

/** What the checkers know of one lock's leases. */
export type KeyLease = {
  /** The drift bound a holder subtracts from its lease (docs/spec.md §2.3). */
  readonly driftBoundPpm: number;
  /** How far below true time any clock may run; undefined: unknown, no upper bound. */
  readonly slowestRatePpm: number | undefined;
  /** When the lock's group got a new leader, ascending; undefined: unknown (any time). */
  readonly leaderChangesMs: readonly number[] | undefined;
  /** How long after its send an unknown attempt may still take effect. */
  readonly unknownWindowMs: number;
  /**
   * The servers' sweep grace: a lock record free this long (on a leader's clock) may be
   * removed, and a later grant then continues above a partition-wide floor, not at +1.
   */
  readonly sweepGraceMs: number;
};

/** The lease model of a whole run: the same for every lock but for its leader changes. */
export type LeaseModel = {
  readonly name: "simulated" | "measured";
  forKey(resource: string): KeyLease;
};

/** Unknown attempts in the simulator: assumed never to take effect after this. */
export const simulatedUnknownWindowMs = 5_000;

export function simulatedLease(options: {
  readonly driftBoundPpm: number;
  readonly slowestRatePpm: number;
  readonly sweepGraceMs: number;
  readonly leaderChangesMs: (resource: string) => readonly number[];
}): LeaseModel {
  return {
    name: "simulated",
    forKey: (resource) => ({
      driftBoundPpm: options.driftBoundPpm,
      slowestRatePpm: options.slowestRatePpm,
      leaderChangesMs: options.leaderChangesMs(resource),
      unknownWindowMs: simulatedUnknownWindowMs,
      sweepGraceMs: options.sweepGraceMs,
    }),
  };
}

export const measuredLease: LeaseModel = {
  name: "measured",
  forKey: () => ({
    driftBoundPpm: clockDriftPpmMax,
    slowestRatePpm: undefined,
    leaderChangesMs: undefined,
    unknownWindowMs: Number.POSITIVE_INFINITY,
    sweepGraceMs: sweepGraceMsDefault,
  }),
};

/** Whether the group got a new leader in (fromMs, toMs] (when unknown, it may have). */
export function leaderChanged(lease: KeyLease, fromMs: number, toMs: number): boolean {
  const changes = lease.leaderChangesMs;
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

/**
 * The latest a lease set by an operation answered at `answeredMs` can end in true time, or +∞
 * when the model has no upper bound (+1 ms for the clocks' whole-ms readings).
 */
export function leaseEndHiMs(lease: KeyLease, answeredMs: number, expiresMs: number): number {
  if (lease.slowestRatePpm === undefined) return Number.POSITIVE_INFINITY;
  return answeredMs + expiresMs / (1 - lease.slowestRatePpm / 1_000_000) + 1;
}

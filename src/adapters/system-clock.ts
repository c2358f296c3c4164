/**
 * The real clock and randomness, for Bun and Deno alike. `nowMs` is monotonic
 * (performance.now); it restarts from 0 in every process, which the lease rules allow for:
 * a restarted node is a new leader whose clock base is rebased (docs/spec.md §2.3).
 */
import type { Clock } from "../ports/clock.ts";
import type { Random } from "../ports/random.ts";

export const systemClock: Clock = {
  // Whole milliseconds: rounding down only ever makes a lease look longer, never shorter.
  nowMs: () => Math.floor(performance.now()),
  wallMs: () => Date.now(),
};

export const systemRandom: Random = {
  int: (maxExclusive) => Math.floor(Math.random() * maxExclusive),
};

/**
 * A clock whose rate is off by `rate` (1.005 runs 0.5% fast). Test-only: the fault-injection
 * suite skews nodes' clocks within the drift bound through KAHUNA_TEST_CLOCK_RATE.
 */
export function skewedClock(rate: number): Clock {
  const origin = performance.now();
  return {
    nowMs: () => Math.floor(origin + (performance.now() - origin) * rate),
    wallMs: () => Date.now(),
  };
}

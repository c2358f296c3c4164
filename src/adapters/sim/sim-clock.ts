/**
 * One node's monotonic clock in the simulator. True (simulated) time is owned by the
 * simulator; this clock turns it into the node's own reading: a random origin (monotonic
 * clocks of different machines share none) plus elapsed true time scaled by a rate that the
 * simulator may change as the run goes (drift). docs/spec.md §2.3 promises safety while rates agree
 * within clockDriftPpmMax; the simulator keeps every rate within half of that around 1, so any
 * two nodes (and the clients, which read true time) agree within the bound.
 *
 * Invariants: readings never go back; the rate is positive.
 */
import { assert } from "../../assert.ts";
import type { Clock } from "../../ports/clock.ts";

export class SimClock implements Clock {
  private trueMs: number;
  private localMs: number;
  private ratePpm: number;

  /** `originMs` is this node's reading at true time `trueMs`; `ratePpm` is its drift from 1. */
  constructor(trueMs: number, originMs: number, ratePpm: number) {
    assert(originMs >= 0, "a monotonic reading is non-negative");
    this.trueMs = trueMs;
    this.localMs = originMs;
    this.ratePpm = 0;
    this.setRatePpm(ratePpm);
  }

  /** Moves this clock to true time `trueMs` at the current rate. */
  advanceTo(trueMs: number): void {
    assert(trueMs >= this.trueMs, "true time never goes back");
    this.localMs += (trueMs - this.trueMs) * (1 + this.ratePpm / 1_000_000);
    this.trueMs = trueMs;
  }

  setRatePpm(ratePpm: number): void {
    assert(ratePpm > -1_000_000, "a clock rate stays positive");
    this.ratePpm = ratePpm;
  }

  get drift(): number {
    return this.ratePpm;
  }

  /** The exact (fractional) reading, for the simulator's own scheduling. */
  readingMs(): number {
    return this.localMs;
  }

  /** True-time ms until this clock reads `localMs` at the current rate (0 if already past). */
  trueMsUntil(localMs: number): number {
    if (localMs <= this.localMs) return 0;
    return (localMs - this.localMs) / (1 + this.ratePpm / 1_000_000);
  }

  nowMs(): number {
    return Math.floor(this.localMs);
  }

  wallMs(): number {
    return 1_700_000_000_000 + Math.floor(this.localMs);
  }
}

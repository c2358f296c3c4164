/**
 * Things due at a true time, run in the order they were scheduled: client requests and
 * answers in transit, restarts, fault ends. A bucket per millisecond keeps the order
 * deterministic without a heap.
 */
import { assert } from "../../src/assert.ts";

export class Agenda {
  private readonly buckets = new Map<number, (() => void)[]>();
  private size = 0;

  at(ms: number, action: () => void): void {
    assert(Number.isInteger(ms), `agenda times are whole ms, got ${ms}`);
    const bucket = this.buckets.get(ms);
    if (bucket === undefined) this.buckets.set(ms, [action]);
    else bucket.push(action);
    this.size += 1;
  }

  /** Runs everything due at `ms`, including what those actions schedule for `ms` itself. */
  run(ms: number): void {
    for (let round = 0; round < 1_000; round++) {
      const bucket = this.buckets.get(ms);
      if (bucket === undefined) return;
      this.buckets.delete(ms);
      this.size -= bucket.length;
      for (const action of bucket) action();
    }
    assert(false, `agenda: actions at ${ms} ms keep scheduling more at the same time`);
  }

  pending(): number {
    return this.size;
  }
}

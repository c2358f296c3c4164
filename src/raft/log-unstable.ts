/**
 * The part of the log not yet on stable storage (etcd's unstable): entries the host has
 * not persisted yet, and possibly an incoming snapshot. `entries[i]` has index `offset + i`.
 * When a snapshot is set, `offset` is its index + 1.
 */
import { assert } from "../assert.ts";
import type { Entry, Snapshot } from "./types.ts";

export class Unstable {
  snapshot: Snapshot | undefined = undefined;
  entries: Entry[] = [];

  constructor(public offset: number) {
    assert(offset >= 1, "the unstable log starts after index 0");
  }

  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index;
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      const meta = this.snapshot?.metadata;
      return meta !== undefined && meta.index === index ? meta.term : undefined;
    }
    return this.entries[index - this.offset]?.term;
  }

  /** The host persisted entries through `index` (with `term`): drop them from here. */
  stableTo(index: number, term: number): void {
    if (index < this.offset || this.maybeTerm(index) !== term) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  stableSnapTo(index: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === index) {
      this.snapshot = undefined;
    }
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  /** Appends, replacing any unstable suffix from the first new index on (Raft §5.3). */
  truncateAndAppend(entries: readonly Entry[]): void {
    const after = entries[0]!.index;
    if (after === this.offset + this.entries.length) {
      this.entries = [...this.entries, ...entries];
    } else if (after <= this.offset) {
      // The new entries replace everything unstable, and the stored suffix from `after` on:
      // the host truncates it when it persists them.
      this.offset = after;
      this.entries = [...entries];
    } else {
      this.entries = [...this.entries.slice(0, after - this.offset), ...entries];
    }
    assert(this.offset >= 1, "the unstable log starts after index 0");
  }

  slice(lo: number, hi: number): Entry[] {
    assert(this.offset <= lo && lo <= hi, () => `unstable slice [${lo}, ${hi}) out of order`);
    assert(hi <= this.offset + this.entries.length, () => `unstable slice [${lo}, ${hi}) too long`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

/**
 * The Raft log as the core sees it (etcd's raftLog): stable storage, then the unstable tail.
 *
 * Invariants: applied <= committed <= lastIndex(); committed never goes back (a committed
 * entry is never lost, Raft §5.4); the log is contiguous from firstIndex() - 1, whose term is
 * the snapshot's.
 */
import { assert } from "../assert.ts";
import { limitBytes } from "./memory-storage.ts";
import { Unstable } from "./log-unstable.ts";
import type { Entry, RaftStorage, Snapshot } from "./types.ts";

export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applied: number;

  constructor(readonly storage: RaftStorage, committed: number, applied: number) {
    const first = storage.firstIndex();
    this.unstable = new Unstable(storage.lastIndex() + 1);
    // A snapshot is committed even if the hard state saved with it lags behind.
    this.committed = Math.max(committed, first - 1);
    assert(
      this.committed <= storage.lastIndex(),
      () => `commit ${committed} is past the last index`,
    );
    assert(applied <= this.committed, () => `applied ${applied} is past commit ${this.committed}`);
    this.applied = Math.max(applied, first - 1);
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /**
   * The last index of this log that is on stable storage: everything before the first
   * unstable entry (which may replace a stored suffix), else the stored log.
   */
  persistedLastIndex(): number {
    if (this.unstable.entries.length > 0 || this.unstable.snapshot !== undefined) {
      return Math.min(this.unstable.offset - 1, this.storage.lastIndex());
    }
    return this.storage.lastIndex();
  }

  /** The term of the entry at `index`, or undefined if it is compacted or not yet there. */
  term(index: number): number | undefined {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    return this.unstable.maybeTerm(index) ?? this.storage.term(index);
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    assert(term !== undefined, "the last entry's term is always known");
    return term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, term: number): boolean {
    const lastTerm = this.lastTerm();
    return term > lastTerm || (term === lastTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The follower's side of AppendEntries (Raft §5.3): if our entry at `index` has `logTerm`,
   * append what is new, truncating a conflicting suffix, and return the last new index.
   */
  maybeAppend(index: number, logTerm: number, commit: number, entries: readonly Entry[]) {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, () => `conflict at ${conflict} is at or below the commit`);
      this.append(entries.slice(conflict - (index + 1)));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0]!.index - 1;
    assert(after >= this.committed, () => `append after ${after} would rewrite committed entries`);
    assert(after <= this.lastIndex(), () => `append after ${after} leaves a gap`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /** The first entry whose term differs from ours (or that we lack), or 0 if none. */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest index at or below `index` whose term is at most `term`, with that term: where
   * the leader should probe next after a rejection (etcd's findConflictByTerm).
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; i >= 0; i--) {
      const ours = this.term(i);
      if (ours === undefined) return { index: i, term: 0 };
      if (ours <= term) return { index: i, term: ours };
    }
    return { index: 0, term: 0 };
  }

  commitTo(commit: number): void {
    if (commit <= this.committed) return;
    assert(commit <= this.lastIndex(), () => `commit ${commit} is past the last index`);
    this.committed = commit;
  }

  /** Raft §5.4.2: commit `index` only if its entry is from the current `term`. */
  maybeCommit(index: number, term: number): boolean {
    if (index <= this.committed || this.term(index) !== term) return false;
    this.commitTo(index);
    return true;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert(index <= this.committed, () => `applied ${index} is past commit ${this.committed}`);
    assert(index >= this.applied, () => `applied ${index} goes back from ${this.applied}`);
    this.applied = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  /** Adopts a leader's snapshot: the whole log is replaced by it. */
  restore(snapshot: Snapshot): void {
    assert(snapshot.metadata.index > this.committed, "a restored snapshot is ahead of commit");
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  nextCommittedEntries(countMax: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed < lo) return [];
    return this.slice(lo, Math.min(this.committed + 1, lo + countMax), Infinity);
  }

  /** Entries from `lo` on, or undefined if they are compacted (send a snapshot instead). */
  entriesFrom(lo: number, countMax: number, bytesMax: number): Entry[] | undefined {
    if (lo < this.firstIndex()) return undefined;
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, Math.min(this.lastIndex() + 1, lo + countMax), bytesMax);
  }

  /** Entries in [lo, hi), from storage then the unstable tail, within `bytesMax`. */
  slice(lo: number, hi: number, bytesMax: number): Entry[] {
    assert(this.firstIndex() <= lo && lo <= hi, () => `slice [${lo}, ${hi}) is compacted`);
    assert(hi <= this.lastIndex() + 1, () => `slice [${lo}, ${hi}) is past the last index`);
    if (lo === hi) return [];
    const offset = this.unstable.offset;
    let result: Entry[] = [];
    if (lo < offset) {
      const storedHi = Math.min(hi, offset);
      result = this.storage.entries(lo, storedHi, bytesMax);
      if (result.length < storedHi - lo) return result;
    }
    if (hi > offset) {
      result = [...result, ...this.unstable.slice(Math.max(lo, offset), hi)];
    }
    return limitBytes(result, bytesMax);
  }
}

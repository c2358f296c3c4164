/**
 * MemoryStorage: the in-memory RaftStorage (etcd's MemoryStorage). The host keeps one per
 * group as the mirror of what is durable: it appends here only after the write reached disk.
 *
 * Invariants: `ents[0]` is a dummy entry at the snapshot's index and term (index 0, term 0
 * before any snapshot), so `term(firstIndex() - 1)` is always known; `ents` is contiguous.
 */
import { assert } from "../assert.ts";
import type { Entry, HardState, NodeId, RaftStorage, Snapshot } from "./types.ts";

const emptyData = new Uint8Array(0);

export type StorageResult = { kind: "ok" } | { kind: "outOfDate"; snapshotIndex: number };

export class MemoryStorage implements RaftStorage {
  private hardState: HardState = { term: 0, vote: "", commit: 0 };
  private snap: Snapshot;
  private ents: Entry[] = [{ term: 0, index: 0, data: emptyData }];

  constructor(voters: readonly NodeId[]) {
    assert(voters.length > 0, "a Raft group needs at least one voter");
    this.snap = { metadata: { index: 0, term: 0, voters: [...voters] }, data: emptyData };
  }

  initialState(): { hardState: HardState; voters: readonly NodeId[] } {
    return { hardState: this.hardState, voters: this.snap.metadata.voters };
  }

  setHardState(hardState: HardState): void {
    assert(hardState.term >= this.hardState.term, "the persisted term never goes back");
    this.hardState = hardState;
  }

  private offset(): number {
    return this.ents[0]!.index;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  term(index: number): number | undefined {
    const i = index - this.offset();
    if (i < 0 || i >= this.ents.length) return undefined;
    return this.ents[i]!.term;
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    assert(
      lo > this.offset(),
      () => `entries from ${lo} are compacted (first ${this.firstIndex()})`,
    );
    assert(lo <= hi && hi <= this.lastIndex() + 1, () => `entries [${lo}, ${hi}) out of range`);
    return limitBytes(this.ents.slice(lo - this.offset(), hi - this.offset()), bytesMax);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with a snapshot received from the leader (after persisting it). */
  applySnapshot(snapshot: Snapshot): StorageResult {
    const { index, term } = snapshot.metadata;
    if (index <= this.snap.metadata.index) {
      return { kind: "outOfDate", snapshotIndex: this.snap.metadata.index };
    }
    this.snap = snapshot;
    this.ents = [{ term, index, data: emptyData }];
    return { kind: "ok" };
  }

  /** Records a snapshot of the state machine at `index` (applied); the log is kept. */
  createSnapshot(
    index: number,
    voters: readonly NodeId[],
    data: Uint8Array,
  ): { kind: "ok"; snapshot: Snapshot } | { kind: "outOfDate"; snapshotIndex: number } {
    if (index <= this.snap.metadata.index) {
      return { kind: "outOfDate", snapshotIndex: this.snap.metadata.index };
    }
    assert(index <= this.lastIndex(), () => `snapshot ${index} is past the last index`);
    const term = this.term(index);
    assert(term !== undefined, "a snapshot's index is in the log");
    this.snap = { metadata: { index, term, voters: [...voters] }, data };
    return { kind: "ok", snapshot: this.snap };
  }

  /** Drops entries up to and including `index`; they must be covered by a snapshot. */
  compact(index: number): StorageResult {
    if (index <= this.offset()) return { kind: "outOfDate", snapshotIndex: this.offset() };
    assert(index <= this.lastIndex(), () => `compact ${index} is past the last index`);
    assert(index <= this.snap.metadata.index, "compact only entries covered by a snapshot");
    const i = index - this.offset();
    const dummy: Entry = { term: this.ents[i]!.term, index, data: emptyData };
    this.ents = [dummy, ...this.ents.slice(i + 1)];
    return { kind: "ok" };
  }

  /**
   * Appends persisted entries. Entries at or below the last index replace the stored suffix
   * from their first index on (Raft §5.3); entries already compacted are skipped.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return;
    const fresh = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const offset = fresh[0]!.index - this.offset();
    assert(offset <= this.ents.length, () => `missing log entries before ${fresh[0]!.index}`);
    assertContiguous(fresh);
    // In place: appends are frequent and the log long; truncation (Raft §5.3) is rare.
    this.ents.length = offset;
    for (const entry of fresh) this.ents.push(entry);
  }
}

function assertContiguous(entries: readonly Entry[]): void {
  for (let i = 1; i < entries.length; i++) {
    assert(entries[i]!.index === entries[i - 1]!.index + 1, "appended entries are contiguous");
    assert(entries[i]!.term >= entries[i - 1]!.term, "terms in the log never go back");
  }
}

/** The bytes an entry takes in a message: its data plus a fixed allowance for the header. */
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength + 16;
}

/** The longest prefix within `bytesMax`, but always at least one entry if there is any. */
export function limitBytes(entries: Entry[], bytesMax: number): Entry[] {
  if (bytesMax === Infinity) return entries;
  let bytes = 0;
  for (let i = 0; i < entries.length; i++) {
    bytes += entryBytes(entries[i]!);
    if (bytes > bytesMax && i > 0) return entries.slice(0, i);
  }
  return entries;
}

/**
 * kahuna's Raft log engine: the LogStore of every group (partition) of a node, over the file
 * port (src/ports/file-system.ts), as etcd's WAL and TiKV's raft-engine keep theirs.
 *
 * - **Segments.** Records of every group go, in the order they are written, into one
 *   append-only segment file (`00000000000000000001.log`, ...), framed with lengths and CRC-32C
 *   checksums (src/storage/record-frame.ts). A `save` is one append and one sync, however many
 *   groups it carries. Snapshots and compactions, which need not be durable at once (the
 *   LogStore contract), wait in memory and go out with the next write.
 * - **Checkpoints.** Every segment begins with a checkpoint restating everything but entries:
 *   identity, count of starts, node state, and each group's hard state, snapshot and compaction
 *   point. So no segment but the newest is needed for anything but the entries in it, and the
 *   oldest, once its entries are all gone (compacted, truncated, replaced by a snapshot), is
 *   removed whole. The checkpoint also records the size the segment before it was sealed at,
 *   so a segment cut short after its sync is told from one a crash cut.
 *   A new segment is begun at every open and once the current one passes its target size.
 * - **Relocation.** A group that rarely writes would hold its old segment, and every segment
 *   after it, forever. Once the oldest segment is `segmentsRetainedMax` older than the newest,
 *   the live entries of the groups holding it are written again at the end, and it goes.
 * - **Index.** Memory holds, per group, where each run of live entries lies (segment, record
 *   offset), not the entries: the host keeps its own copy of them. Entries are read back only to
 *   load a group at start (from the open's scan) and to relocate.
 * - **Snapshots** are files of their own (src/storage/snapshot-file.ts), written durably before
 *   the record that refers to them; a file no durable record refers to any more is removed.
 *
 * Replay at open applies the records of every segment in order with the same code that keeps
 * the index while writing (`apply`). Then it checks what must hold: each group's entries after
 * its snapshot are contiguous from the snapshot on and reach its commit index. Damage stops the
 * open with `StorageCorruptError` naming the file, offset and partition; only a torn tail (the
 * last append before a crash, in the newest segment) is cut off, because anything before it was
 * synced and may have been acknowledged.
 *
 * Invariants: the newest segment's checkpoint is durable before any older segment is removed;
 * a segment is removed only just after a sync, when every record in memory is durable; a
 * snapshot file is removed only once a durable record refers to a newer one.
 */
import { assert } from "../assert.ts";
import { logSegmentBytesTarget, logSegmentsRetainedMax } from "../constants.ts";
import { type FileHandle, fileNameProblem, type FileSystem } from "../ports/file-system.ts";
import {
  emptyNodeState,
  type GroupState,
  type GroupWrite,
  type LogStore,
  type NodeState,
} from "../ports/log-store.ts";
import type { Entry, HardState, NodeId, Snapshot } from "../raft/types.ts";
import {
  decodeEntries,
  decodeHardState,
  decodeJson,
  decodeNumbers,
  encodeEntries,
  encodeHardState,
  encodeJson,
  encodeNumbers,
  entriesSpan,
  RecordType,
  splitEntries,
} from "./log-records.ts";
import {
  corruptionMessage,
  decodeRecord,
  encodeRecordInto,
  encodeSegmentHeader,
  type LogRecord,
  recordBytes,
  scanRecordsFrom,
  scanSegment,
  type SegmentEnd,
  segmentHeaderBytes,
  soundRecordBytesAt,
} from "./record-frame.ts";
import {
  readSnapshotFile,
  snapshotFileName,
  snapshotFileSuffix,
  temporaryFileSuffix,
  writeSnapshotFile,
} from "./snapshot-file.ts";

/**
 * The group number of the node's own records (identity, count of starts, node state, sealed
 * segment sizes): no partition's, so that repair can drop a partition without them.
 */
export const nodeGroup = 0xffff_ffff;

/** The log cannot be trusted: a person must look (the message says what and where). */
export class StorageCorruptError extends Error {
  override name = "StorageCorruptError";
}

export type LogEngineOptions = {
  /** A new segment is begun once the current one would grow past this. */
  readonly segmentBytesTarget?: number;
  /** A segment this many older than the newest has its live entries relocated. */
  readonly segmentsRetainedMax?: number;
};

type Identity = { nodeId: NodeId; voters: readonly NodeId[]; groups: number };

/** Entries `first .. first + count - 1`, in the record at `offset` of segment `segment`. */
type Run = {
  first: number;
  count: number;
  readonly segment: number;
  readonly offset: number;
  /** The whole record's size in its segment. */
  readonly bytes: number;
  /** The record's entries, kept from the open's scan until the group is loaded. */
  entries: readonly Entry[] | undefined;
};

type GroupLog = {
  hardState: HardState;
  snapshot: { readonly index: number; readonly term: number } | undefined;
  compactedThrough: number;
  /** The last index the log has reached: its last entry's, or the snapshot's. */
  lastIndex: number;
  /** Live entries, contiguous and in index order. */
  runs: Run[];
};

type Segment = { readonly seq: number; readonly name: string; readonly file: FileHandle };

const segmentNamePattern = /^[0-9]{20}\.log$/;

export function segmentFileName(seq: number): string {
  return `${String(seq).padStart(20, "0")}.log`;
}

/** What a damaged record reports: the replay stops the open, repair drops the group. */
type Damage = { file: string; offset: number; group: number | undefined; message: string };

export class LogEngine implements LogStore {
  private readonly groups = new Map<number, GroupLog>();
  private storedIdentity: Identity | undefined;
  private incarnation = 0;
  private storedNodeState: NodeState = emptyNodeState;
  private readonly segments: Segment[] = [];
  /** Records of snapshots and compactions, waiting for the next write. */
  private pending: LogRecord[] = [];
  /** Snapshot files to remove once the records replacing them are durable. */
  private obsoleteFiles: string[] = [];
  private unsynced = false;
  private failed = false;
  private opened = false;
  private readonly segmentBytesTarget: number;
  private readonly segmentsRetainedMax: number;
  /**
   * What the open cut off: the last append before a crash, torn (a whole segment when the crash
   * came as it began). The node logs it; it was never acknowledged, so nothing is lost.
   */
  readonly tornTails: { file: string; offset: number; bytes: number }[] = [];

  private constructor(private readonly fs: FileSystem, options: LogEngineOptions) {
    this.segmentBytesTarget = options.segmentBytesTarget ?? logSegmentBytesTarget;
    this.segmentsRetainedMax = options.segmentsRetainedMax ?? logSegmentsRetainedMax;
    assert(this.segmentBytesTarget >= 4096, "a segment target is at least 4 KiB");
    assert(this.segmentsRetainedMax >= 1, "at least one segment is retained");
  }

  /**
   * Opens the log in `fs` (an empty directory starts a new one): replays it, cuts a torn tail,
   * removes leftovers, and begins a new segment. Throws StorageCorruptError on damage.
   */
  static open(fs: FileSystem, options: LogEngineOptions = {}): LogEngine {
    const engine = new LogEngine(fs, options);
    engine.replay((damage) => {
      throw new StorageCorruptError(damage.message);
    });
    engine.finishOpen();
    return engine;
  }

  /**
   * Opens a damaged log and rewrites it without the groups whose records are damaged, which
   * then start empty and recovering (they neither vote nor campaign until a leader re-seeds
   * them: docs/reliability.md), under `newStoreId` (a random id, as a first start draws).
   * Returns those groups. Damage that hides which groups it touches
   * (a segment header, a record header) cannot be repaired this way and throws.
   */
  static repair(
    fs: FileSystem,
    newStoreId: string,
    options: LogEngineOptions = {},
  ): { dropped: number[] } {
    const dropped = new Set<number>();
    const scout = new LogEngine(fs, options);
    scout.replay((damage) => {
      if (damage.group === undefined) throw new StorageCorruptError(damage.message);
      dropped.add(damage.group);
    }, { cutTornTails: false });
    for (const [group, log] of scout.groups) {
      if (log.snapshot === undefined) continue;
      const name = snapshotFileName(group, log.snapshot.index, log.snapshot.term);
      if ("error" in readSnapshotFile(fs, name, group, log.snapshot)) dropped.add(group);
    }
    scout.closeFiles();
    if (dropped.size === 0) return { dropped: [] };
    if (dropped.has(nodeGroup)) {
      throw new StorageCorruptError(
        "the damage is in the node's own records (its identity, store id and count of starts), " +
          "which no peer can send back: move the data directory aside and start the node " +
          "empty, as a node that lost its storage (docs/reliability.md)",
      );
    }
    const engine = new LogEngine(fs, options);
    engine.replay((damage) => {
      if (damage.group === undefined || !dropped.has(damage.group)) {
        throw new StorageCorruptError(damage.message);
      }
    }, { skipGroups: dropped });
    for (const group of dropped) engine.groups.delete(group);
    const recovering = [...new Set([...engine.storedNodeState.recovering, ...dropped])]
      .sort((a, b) => a - b);
    // A new store id: peers that accept it forget what they knew of this node's logs in every
    // partition, so the leaders probe it afresh and re-seed the dropped ones. Under the old id a
    // leader would keep the progress it had, and take the empty log's rejections for stale.
    engine.storedNodeState = { ...engine.storedNodeState, storeId: newStoreId, recovering };
    engine.finishOpen();
    engine.relocateAll();
    engine.close();
    return { dropped: [...dropped].sort((a, b) => a - b) };
  }

  /**
   * Writes a whole node's storage, read from another store (a data directory of an older
   * format), into the empty directory `fs`, durably. `incarnation` is the count of starts so
   * far, so that the next start counts on from it.
   */
  static importState(
    fs: FileSystem,
    image: {
      readonly identity: Identity | undefined;
      readonly nodeState: NodeState;
      readonly incarnation: number;
      readonly groups: ReadonlyMap<number, GroupState>;
    },
    options: LogEngineOptions = {},
  ): void {
    assert(fs.list().length === 0, "a log is imported into an empty directory");
    const engine = LogEngine.open(fs, options);
    engine.guard(() => {
      const records: LogRecord[] = [];
      if (image.identity !== undefined) records.push(identityRecord(image.identity));
      records.push(record(nodeGroup, RecordType.incarnation, encodeNumbers(image.incarnation)));
      records.push(record(nodeGroup, RecordType.nodeState, encodeJson(image.nodeState)));
      for (const group of [...image.groups.keys()].sort((a, b) => a - b)) {
        const state = image.groups.get(group)!;
        if (state.snapshot !== undefined) {
          writeSnapshotFile(fs, group, state.snapshot);
          const { index, term } = state.snapshot.metadata;
          records.push(record(group, RecordType.snapshotInstalled, encodeNumbers(index, term)));
        }
        for (const run of splitEntries(state.entries)) {
          records.push(record(group, RecordType.entries, encodeEntries(run)));
        }
        records.push(record(group, RecordType.hardState, encodeHardState(state.hardState)));
      }
      engine.write(records, true);
    });
    engine.close();
  }

  // ---- LogStore ----

  save(writes: readonly GroupWrite[]): void {
    this.guard(() => {
      const records: LogRecord[] = [];
      for (const write of writes) {
        const group = write.group;
        if (write.snapshot !== undefined) {
          writeSnapshotFile(this.fs, group, write.snapshot);
          const { index, term } = write.snapshot.metadata;
          records.push(record(group, RecordType.snapshotInstalled, encodeNumbers(index, term)));
        }
        for (const run of splitEntries(write.entries)) {
          records.push(record(group, RecordType.entries, encodeEntries(run)));
        }
        if (write.hardState !== undefined) {
          records.push(record(group, RecordType.hardState, encodeHardState(write.hardState)));
        }
      }
      this.write(records, true);
    });
  }

  saveSnapshot(group: number, snapshot: Snapshot): void {
    this.guard(() => {
      // The file is durable before any record refers to it; the record waits for the next write.
      writeSnapshotFile(this.fs, group, snapshot);
      const { index, term } = snapshot.metadata;
      this.pending.push(record(group, RecordType.snapshot, encodeNumbers(index, term)));
    });
  }

  compact(group: number, throughIndex: number): void {
    this.guard(() => {
      this.pending.push(record(group, RecordType.compact, encodeNumbers(throughIndex)));
    });
  }

  load(group: number): GroupState {
    const log = this.groups.get(group);
    if (log === undefined) {
      return { hardState: { term: 0, vote: "", commit: 0 }, snapshot: undefined, entries: [] };
    }
    let snapshot: Snapshot | undefined;
    if (log.snapshot !== undefined) {
      const { index, term } = log.snapshot;
      const name = snapshotFileName(group, index, term);
      const read = readSnapshotFile(this.fs, name, group, log.snapshot);
      if ("error" in read) {
        throw new StorageCorruptError(
          `the snapshot of partition ${group} cannot be read: ${read.error}. ${repairHint}`,
        );
      }
      snapshot = read;
    }
    const after = log.snapshot?.index ?? 0;
    const entries = this.readEntries(group, log).filter((e) => e.index > after);
    for (const run of log.runs) run.entries = undefined;
    return { hardState: log.hardState, snapshot, entries };
  }

  identity(): Identity | undefined {
    return this.storedIdentity;
  }

  setIdentity(identity: Identity): void {
    this.guard(() => this.write([identityRecord(identity)], true));
  }

  nextIncarnation(): number {
    this.guard(() => {
      this.write(
        [record(nodeGroup, RecordType.incarnation, encodeNumbers(this.incarnation + 1))],
        true,
      );
    });
    return this.incarnation;
  }

  nodeState(): NodeState {
    return this.storedNodeState;
  }

  setNodeState(state: NodeState): void {
    this.guard(() =>
      this.write([record(nodeGroup, RecordType.nodeState, encodeJson(state))], true)
    );
  }

  close(): void {
    if (!this.opened) return;
    if (!this.failed && this.pending.length > 0) this.guard(() => this.write([], true));
    this.closeFiles();
    this.opened = false;
  }

  /** Segment files in use, oldest first (for tests and `kahuna repair`'s report). */
  segmentNames(): string[] {
    return this.segments.map((s) => s.name);
  }

  // ---- writing ----

  /** A failed write leaves memory ahead of the disk: the node must crash and replay. */
  private guard(action: () => void): void {
    assert(!this.failed, "the log engine failed a write earlier: the node must restart");
    assert(this.opened, "the log engine is open");
    try {
      action();
    } catch (error) {
      this.failed = true;
      throw error;
    }
  }

  /**
   * Appends the waiting records and `records` to the newest segment in one write, syncs it if
   * `sync`, and applies them to memory. After a sync, removes what is no longer needed.
   */
  private write(records: readonly LogRecord[], sync: boolean, relocating = false): void {
    const all = this.pending.length === 0 ? records : [...this.pending, ...records];
    this.pending = [];
    const bytes = all.reduce((n, r) => n + recordBytes(r.payload.length), 0);
    let segment = this.active();
    const atHead = segment.file.size() <= this.checkpointEnd;
    if (!atHead && segment.file.size() + bytes > this.segmentBytesTarget) {
      this.roll();
      segment = this.active();
    }
    if (all.length > 0) {
      const buffer = new Uint8Array(bytes);
      const base = segment.file.size();
      const offsets: number[] = [];
      let offset = 0;
      for (const r of all) {
        offsets.push(base + offset);
        offset = encodeRecordInto(buffer, offset, r);
      }
      segment.file.append(buffer);
      this.unsynced = true;
      all.forEach((r, i) => {
        const problem = this.apply(r, segment.seq, offsets[i]!, undefined);
        assert(problem === undefined, () => `a record written reads back: ${problem}`);
      });
    }
    if (sync && this.unsynced) {
      segment.file.sync();
      this.unsynced = false;
      this.collect(!relocating);
    }
  }

  /** Where the newest segment's checkpoint ends (a segment is never rolled before it grows). */
  private checkpointEnd = 0;

  private active(): Segment {
    const segment = this.segments[this.segments.length - 1];
    assert(segment !== undefined, "the log engine has a segment to write to");
    return segment;
  }

  /** Begins a new segment with a checkpoint, durably, after making the current one durable. */
  private roll(): void {
    const previous = this.segments[this.segments.length - 1];
    if (previous !== undefined && this.unsynced) {
      previous.file.sync();
      this.unsynced = false;
    }
    const seq = (previous?.seq ?? 0) + 1;
    const name = segmentFileName(seq);
    const file = this.fs.open(name, "create");
    const checkpoint = this.checkpoint();
    const bytes = segmentHeaderBytes +
      checkpoint.reduce((n, r) => n + recordBytes(r.payload.length), 0);
    const buffer = new Uint8Array(bytes);
    buffer.set(encodeSegmentHeader());
    let offset = segmentHeaderBytes;
    for (const r of checkpoint) offset = encodeRecordInto(buffer, offset, r);
    file.append(buffer);
    file.sync();
    this.fs.syncDirectory();
    this.segments.push({ seq, name, file });
    this.checkpointEnd = bytes;
  }

  /** Everything but entries, as records: what a new segment starts with. */
  private checkpoint(): LogRecord[] {
    const records: LogRecord[] = [];
    const sealed = this.segments[this.segments.length - 1];
    if (sealed !== undefined) {
      const payload = encodeNumbers(sealed.seq, sealed.file.size());
      records.push(record(nodeGroup, RecordType.previousSegment, payload));
    }
    if (this.storedIdentity !== undefined) records.push(identityRecord(this.storedIdentity));
    if (this.incarnation > 0) {
      records.push(record(nodeGroup, RecordType.incarnation, encodeNumbers(this.incarnation)));
    }
    records.push(record(nodeGroup, RecordType.nodeState, encodeJson(this.storedNodeState)));
    for (const group of [...this.groups.keys()].sort((a, b) => a - b)) {
      const log = this.groups.get(group)!;
      if (log.snapshot !== undefined) {
        const { index, term } = log.snapshot;
        records.push(record(group, RecordType.snapshot, encodeNumbers(index, term)));
      }
      if (log.compactedThrough > 0) {
        records.push(record(group, RecordType.compact, encodeNumbers(log.compactedThrough)));
      }
      records.push(record(group, RecordType.hardState, encodeHardState(log.hardState)));
    }
    return records;
  }

  /**
   * Just after a sync: removes replaced snapshot files and the oldest segments no live entry is
   * in, and relocates the entries holding the oldest segment once it is too old. One relocation
   * per write at most, and its own write relocates nothing: live entries larger than the
   * segments retained then keep more segments, rather than being rewritten over and over.
   */
  private collect(mayRelocate: boolean): void {
    for (const name of this.obsoleteFiles) {
      if (this.fs.list().includes(name)) this.fs.remove(name);
    }
    let removed = this.obsoleteFiles.length > 0;
    this.obsoleteFiles = [];
    // Only the oldest go, so that the segments kept are always consecutive: a gap is damage.
    const oldestLive = this.oldestLiveSegment();
    const newest = this.active().seq;
    while (this.segments[0]!.seq !== newest && this.segments[0]!.seq < oldestLive) {
      const segment = this.segments.shift()!;
      segment.file.close();
      this.fs.remove(segment.name);
      removed = true;
    }
    if (removed) this.fs.syncDirectory();
    const oldest = this.segments[0]!.seq;
    if (mayRelocate && oldest <= newest - this.segmentsRetainedMax) this.relocate(oldest);
  }

  /**
   * The oldest segment any live entry is in. A group's runs lie in segments that never go back
   * (each is written after the one before, and a relocation writes them all anew), so its
   * first run's segment is its oldest: one look per group, however long its log.
   */
  private oldestLiveSegment(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const log of this.groups.values()) {
      const first = log.runs[0];
      if (first !== undefined) oldest = Math.min(oldest, first.segment);
    }
    return oldest;
  }

  /**
   * Writes the whole live log again, at the end, for each group with entries in `through` or
   * an older segment.
   */
  private relocate(through: number): void {
    const records: LogRecord[] = [];
    for (const group of [...this.groups.keys()].sort((a, b) => a - b)) {
      const log = this.groups.get(group)!;
      const first = log.runs[0];
      if (first === undefined || first.segment > through) continue;
      for (const run of splitEntries(this.readEntries(group, log))) {
        records.push(record(group, RecordType.entries, encodeEntries(run)));
      }
    }
    if (records.length > 0) this.write(records, true, true);
  }

  /** Repair: the whole log in the newest segment, so every older one goes. */
  private relocateAll(): void {
    this.relocate(Number.POSITIVE_INFINITY);
    this.collect(false);
  }

  // ---- reading ----

  /** The group's live entries, from the open's scan or read back from the segments. */
  private readEntries(group: number, log: GroupLog): Entry[] {
    const entries: Entry[] = [];
    for (const run of log.runs) {
      const source = run.entries ?? this.readRun(group, run);
      const first = source[0]!.index;
      entries.push(...source.slice(run.first - first, run.first - first + run.count));
    }
    return entries;
  }

  private readRun(group: number, run: Run): Entry[] {
    const segment = this.segments.find((s) => s.seq === run.segment);
    assert(segment !== undefined, "a live run's segment is open");
    const read = decodeRecord(segment.file.read(run.offset, run.bytes));
    const entries = "error" in read ? read : decodeEntries(read.payload);
    if ("error" in entries) {
      throw new StorageCorruptError(
        `log segment ${segment.name} changed under the running node at offset ${run.offset} ` +
          `(partition ${group}): ${entries.error}. ${repairHint}`,
      );
    }
    return entries;
  }

  // ---- opening ----

  /**
   * Applies every record of every segment, in order, to memory. Damage goes to `damaged`, which
   * throws to stop (open) or returns to go on past the damaged record (repair).
   */
  private replay(
    damaged: (damage: Damage) => void,
    how: { skipGroups?: ReadonlySet<number>; cutTornTails?: boolean } = {},
  ): void {
    const names = this.fs.list();
    const segmentNames = names.filter((n) => segmentNamePattern.test(n));
    const seqs = segmentNames.map((n) => Number(n.slice(0, 20)));
    for (let i = 1; i < seqs.length; i++) {
      if (seqs[i] !== seqs[i - 1]! + 1) {
        damaged({
          file: segmentFileName(seqs[i - 1]! + 1),
          offset: 0,
          group: undefined,
          message: `log segment ${segmentFileName(seqs[i - 1]! + 1)} is missing: segments ` +
            `${segmentNames[i - 1]} and ${segmentNames[i]} are kept, and every segment between ` +
            `the oldest and the newest is needed. ${emptyStartHint}`,
        });
      }
    }
    const sizes = new Map<number, number>();
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i]!;
      const name = segmentNames[i]!;
      const newest = i === seqs.length - 1;
      const file = this.fs.open(name, "existing");
      const bytes = file.read(0, file.size());
      sizes.set(seq, bytes.length);
      const kept = this.replaySegment(seq, name, bytes, newest, damaged, how, sizes);
      if (kept === "empty") {
        this.tornTails.push({ file: name, offset: 0, bytes: bytes.length });
        file.close();
        this.fs.remove(name);
        this.fs.syncDirectory();
        continue;
      }
      if (kept < bytes.length) {
        file.truncate(kept);
        file.sync();
        this.tornTails.push({ file: name, offset: kept, bytes: bytes.length - kept });
      }
      this.segments.push({ seq, name, file });
    }
    for (const [group, log] of this.groups) {
      const problem = logProblem(log);
      if (problem !== undefined) {
        damaged({
          file: "",
          offset: 0,
          group,
          message: `the log of partition ${group} is inconsistent: ${problem}. ${repairHint}`,
        });
      }
    }
  }

  /**
   * Applies one segment's records; returns the bytes to keep (less than the file at a torn
   * tail), or "empty" for a newest segment a crash cut inside its header.
   */
  private replaySegment(
    seq: number,
    name: string,
    bytes: Uint8Array,
    newest: boolean,
    damaged: (damage: Damage) => void,
    how: { skipGroups?: ReadonlySet<number>; cutTornTails?: boolean },
    sizes: ReadonlyMap<number, number>,
  ): number | "empty" {
    let scan = scanSegment(bytes);
    for (;;) {
      for (const r of scan.records) {
        if (how.skipGroups?.has(r.group)) continue;
        if (r.type === RecordType.previousSegment) {
          const problem = sealedSizeProblem(r.payload, sizes);
          if (problem !== undefined) {
            damaged({
              file: name,
              offset: r.offset,
              group: undefined,
              message: `${problem} (as segment ${name} records it). ${emptyStartHint}`,
            });
          }
          continue;
        }
        const problem = this.apply(r, seq, r.offset, r.payload);
        if (problem !== undefined) {
          damaged({
            file: name,
            offset: r.offset,
            group: r.group,
            message: `log segment ${name} holds a malformed record at offset ${r.offset} ` +
              `(${groupName(r.group)}): ${problem}. ${hintFor(r.group)}`,
          });
        }
      }
      const end: SegmentEnd = scan.end;
      if (end.kind === "clean") return bytes.length;
      if (end.kind === "tornTail") {
        if (!newest) {
          damaged({
            file: name,
            offset: end.truncateTo,
            group: undefined,
            message: `log segment ${name} ends in a torn record at offset ${end.truncateTo}, ` +
              `but it is not the newest segment: it was synced before the next one began, so ` +
              `the bytes there were lost or damaged on disk. ${emptyStartHint}`,
          });
          return bytes.length;
        }
        if (how.cutTornTails === false) return bytes.length;
        return end.truncateTo < segmentHeaderBytes ? "empty" : end.truncateTo;
      }
      damaged({
        file: name,
        offset: end.offset,
        group: end.group,
        message: `${corruptionMessage(name, end, groupName)} ${hintFor(end.group)}`,
      });
      // Repair goes on past a record whose header, and so whose length, is sound.
      const skip = end.offset === 0 ? undefined : soundRecordBytesAt(bytes, end.offset);
      if (skip === undefined) {
        damaged({
          file: name,
          offset: end.offset,
          group: undefined,
          message: `log segment ${name} is damaged at offset ${end.offset} so that the records ` +
            `after it cannot be found: every partition with records there may be hit. ` +
            emptyStartHint,
        });
        return bytes.length;
      }
      scan = scanRecordsFrom(bytes, end.offset + skip);
    }
  }

  /** After replay: removes leftovers and begins a new segment. */
  private finishOpen(): void {
    const wanted = new Set<string>();
    for (const [group, log] of this.groups) {
      if (log.snapshot !== undefined) {
        wanted.add(snapshotFileName(group, log.snapshot.index, log.snapshot.term));
      }
    }
    let removed = false;
    for (const name of this.fs.list()) {
      // Only names the engine could have made: anything else in the directory is not its own.
      const leftover = fileNameProblem(name) === undefined &&
        (name.endsWith(temporaryFileSuffix) ||
          (name.endsWith(snapshotFileSuffix) && !wanted.has(name)));
      if (leftover) {
        this.fs.remove(name);
        removed = true;
      }
    }
    if (removed) this.fs.syncDirectory();
    this.opened = true;
    this.roll();
  }

  private closeFiles(): void {
    for (const segment of this.segments) segment.file.close();
    this.segments.length = 0;
  }

  // ---- applying records (replay and writes alike) ----

  private group(id: number): GroupLog {
    let log = this.groups.get(id);
    if (log === undefined) {
      log = {
        hardState: { term: 0, vote: "", commit: 0 },
        snapshot: undefined,
        compactedThrough: 0,
        lastIndex: 0,
        runs: [],
      };
      this.groups.set(id, log);
    }
    return log;
  }

  /**
   * Applies a record to memory; returns what is malformed in it, if anything (only records
   * read back can be: those written are encoded here). `payload` is given at replay, so that
   * the open's scan keeps the entries it decoded.
   */
  private apply(
    r: LogRecord,
    segment: number,
    offset: number,
    replayed: Uint8Array | undefined,
  ): string | undefined {
    switch (r.type) {
      case RecordType.entries:
        return this.applyEntries(r, segment, offset, replayed !== undefined);
      case RecordType.hardState: {
        const state = decodeHardState(r.payload);
        if ("error" in state) return state.error;
        this.group(r.group).hardState = state;
        return undefined;
      }
      case RecordType.snapshot:
      case RecordType.snapshotInstalled: {
        const numbers = decodeNumbers(r.payload, 2);
        if ("error" in numbers) return numbers.error;
        const [index, term] = numbers as [number, number];
        if (index < 1 || term < 1) return `a snapshot at index ${index}, term ${term}`;
        this.setSnapshot(r.group, index, term, r.type === RecordType.snapshotInstalled);
        return undefined;
      }
      case RecordType.compact: {
        const numbers = decodeNumbers(r.payload, 1);
        if ("error" in numbers) return numbers.error;
        const log = this.group(r.group);
        log.compactedThrough = Math.max(log.compactedThrough, numbers[0]!);
        dropThrough(log, log.compactedThrough);
        return undefined;
      }
      case RecordType.identity: {
        const decoded = decodeJson(r.payload);
        if ("error" in decoded) return decoded.error;
        if (!isIdentity(decoded.value)) return "the node identity record is malformed";
        this.storedIdentity = decoded.value;
        return undefined;
      }
      case RecordType.incarnation: {
        const numbers = decodeNumbers(r.payload, 1);
        if ("error" in numbers) return numbers.error;
        this.incarnation = numbers[0]!;
        return undefined;
      }
      case RecordType.nodeState: {
        const decoded = decodeJson(r.payload);
        if ("error" in decoded) return decoded.error;
        if (!isNodeState(decoded.value)) return "the node state record is malformed";
        this.storedNodeState = decoded.value;
        return undefined;
      }
      default:
        return `record type ${r.type} is not one this build writes in a segment`;
    }
  }

  private applyEntries(
    r: LogRecord,
    segment: number,
    offset: number,
    replayed: boolean,
  ): string | undefined {
    const span = entriesSpan(r.payload);
    if ("error" in span) return span.error;
    let entries: Entry[] | undefined;
    if (replayed) {
      const decoded = decodeEntries(r.payload);
      if ("error" in decoded) return decoded.error;
      entries = decoded;
    }
    const log = this.group(r.group);
    if (span.first > log.lastIndex + 1) {
      // Entries below a gap were in segments already removed, so no durable record needs
      // them: a later record replaces or compacts them (checked once replay is done).
      log.runs = [];
    } else {
      dropFrom(log, span.first);
    }
    const bytes = recordBytes(r.payload.length);
    log.runs.push({ first: span.first, count: span.count, segment, offset, bytes, entries });
    log.lastIndex = span.first + span.count - 1;
    dropThrough(log, log.compactedThrough);
    return undefined;
  }

  private setSnapshot(group: number, index: number, term: number, installed: boolean): void {
    const log = this.group(group);
    const previous = log.snapshot;
    const replaced = previous !== undefined &&
      (previous.index !== index || previous.term !== term);
    if (this.opened && replaced) {
      this.obsoleteFiles.push(snapshotFileName(group, previous.index, previous.term));
    }
    log.snapshot = { index, term };
    if (installed) {
      // A leader's snapshot replaces the whole log (Raft §7).
      log.runs = [];
      log.compactedThrough = index;
      log.lastIndex = index;
    } else {
      log.lastIndex = Math.max(log.lastIndex, index);
    }
  }
}

const repairHint = "Run `kahuna repair --data-dir DIR` to drop the damaged partitions' logs, " +
  'so that their leaders re-seed this node (docs/reliability.md, "A damaged log").';
const emptyStartHint = "Move the data directory aside and start the node empty, as a node " +
  "that lost its storage (docs/reliability.md).";

function groupName(group: number): string {
  return group === nodeGroup ? "the node's own records" : `partition ${group}`;
}

/** What to do about damage to `group`'s records: repair, unless no peer can send them back. */
function hintFor(group: number | undefined): string {
  return group === undefined || group === nodeGroup ? emptyStartHint : repairHint;
}

function record(group: number, type: RecordType, payload: Uint8Array): LogRecord {
  return { group, type, payload };
}

function identityRecord(identity: Identity): LogRecord {
  const { nodeId, voters, groups } = identity;
  return record(nodeGroup, RecordType.identity, encodeJson({ nodeId, voters, groups }));
}

/** Drops live entries at or after `index` (an append there replaces them: Raft §5.3). */
function dropFrom(log: GroupLog, index: number): void {
  while (log.runs.length > 0) {
    const last = log.runs[log.runs.length - 1]!;
    if (last.first >= index) {
      log.runs.pop();
    } else {
      last.count = Math.min(last.count, index - last.first);
      return;
    }
  }
}

/** Drops live entries at or below `index`. */
function dropThrough(log: GroupLog, index: number): void {
  // One splice for the runs wholly dropped: a compaction may drop thousands at once.
  let whole = 0;
  while (whole < log.runs.length) {
    const run = log.runs[whole]!;
    if (run.first + run.count - 1 > index) break;
    whole += 1;
  }
  if (whole > 0) log.runs.splice(0, whole);
  const first = log.runs[0];
  if (first !== undefined && first.first <= index) {
    first.count = first.first + first.count - 1 - index;
    first.first = index + 1;
  }
}

/** Whether a sealed segment still has the size the next one's checkpoint says it had. */
function sealedSizeProblem(
  payload: Uint8Array,
  sizes: ReadonlyMap<number, number>,
): string | undefined {
  const numbers = decodeNumbers(payload, 2);
  if ("error" in numbers) return `a malformed previous-segment record: ${numbers.error}`;
  const [seq, sealed] = numbers as [number, number];
  const size = sizes.get(seq);
  // A segment removed since is no longer needed; one of another size lost or gained bytes.
  if (size === undefined || size === sealed) return undefined;
  return `log segment ${segmentFileName(seq)} has ${size} bytes, but it was sealed at ` +
    `${sealed}: it was ${size < sealed ? "truncated" : "appended to"} after it was synced`;
}

/** What a replayed group's log breaks of what must hold, or undefined. */
function logProblem(log: GroupLog): string | undefined {
  const after = log.snapshot?.index ?? 0;
  const first = log.runs[0];
  const last = log.runs[log.runs.length - 1];
  if (last !== undefined && last.first + last.count - 1 > after && first!.first > after + 1) {
    return `its entries start at index ${first!.first}, but its snapshot ends at ${after}`;
  }
  for (let i = 1; i < log.runs.length; i++) {
    const previous = log.runs[i - 1]!;
    if (log.runs[i]!.first !== previous.first + previous.count) {
      return `its entries jump from ${previous.first + previous.count - 1} to ` +
        `${log.runs[i]!.first}`;
    }
  }
  const reached = Math.max(after, last === undefined ? 0 : last.first + last.count - 1);
  if (log.hardState.commit > reached) {
    return `its commit index is ${log.hardState.commit}, but its log ends at ${reached}`;
  }
  return undefined;
}

function isIdentity(value: unknown): value is Identity {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.nodeId === "string" && Array.isArray(v.voters) &&
    v.voters.every((id) => typeof id === "string") && Number.isSafeInteger(v.groups) &&
    (v.groups as number) >= 1;
}

function isNodeState(value: unknown): value is NodeState {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  const stores = v.peerStores;
  return typeof v.storeId === "string" && typeof stores === "object" && stores !== null &&
    Object.values(stores).every((s) => typeof s === "string") && Array.isArray(v.recovering) &&
    v.recovering.every((g) => Number.isSafeInteger(g) && g >= 0) &&
    (v.storeGen === undefined || Number.isSafeInteger(v.storeGen));
}

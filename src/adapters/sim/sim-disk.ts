/**
 * The simulator's disk: one node's storage, which outlives the node's NodeHost so that a
 * restart reads what the crash left. It is the production log engine (src/storage/log-engine.ts)
 * over the in-memory file system (src/adapters/memory/memory-file-system.ts), so the code that
 * writes a real node's files is the code the simulator crashes:
 *
 * - A crash (`crash`) keeps what the file system's durability contract promises plus a random
 *   prefix of the unsynced changes, the first one not kept torn; the engine reopens on that.
 * - An armed crash (`armCrash`) kills the node inside one of its next few file operations (a
 *   create, append, sync, truncate, rename, remove or directory sync), so a crash lands between
 *   an append and its sync, inside a snapshot's rename, or inside a segment roll.
 * - A full disk (`fill`) makes appends fail with `noSpace` until `unfill`, as a real full disk
 *   makes the node exit.
 * - A *lying* disk (`lies`, for checker tests only) passes only every 16th file sync to the file
 *   system and acknowledges the others, so a crash loses writes the node was told are durable.
 *
 * Beside the engine it keeps `visible`: what the running node has written, as the process sees
 * it, for the applied-entries checker (reading it back through the engine on every observation
 * would cost a replay). It is rebuilt from the engine's loads after every start.
 *
 * Invariants: the engine is reopened (replayed from the files) after every crash and wipe;
 * `visible` holds exactly the calls that returned since the last (re)open.
 */
import { assert } from "../../assert.ts";
import {
  type FileHandle,
  type FileSystem,
  FileSystemError,
  type OpenMode,
} from "../../ports/file-system.ts";
import type { GroupState, GroupWrite, LogStore, NodeState } from "../../ports/log-store.ts";
import type { Entry, NodeId, Snapshot } from "../../raft/types.ts";
import { LogEngine, type LogEngineOptions } from "../../storage/log-engine.ts";
import { MemoryFileSystem } from "../memory/memory-file-system.ts";
import type { Prng } from "./prng.ts";

/** Thrown by an armed disk: the node dies inside this call. The simulator catches it. */
export class SimCrash extends Error {
  override name = "SimCrash";
}

type Identity = { nodeId: NodeId; voters: readonly NodeId[]; groups: number };
type VisibleGroup = { snapshot: Snapshot | undefined; entries: Map<number, Entry> };

/** A lying disk makes only every this-many-th file sync. */
const lyingSyncEvery = 16;
/** An armed crash fires within this many file operations. */
const armedOperationsMax = 3;
/** Small segments, so simulated runs roll, collect and relocate them. */
const simEngineOptions: LogEngineOptions = {
  segmentBytesTarget: 4096,
  segmentsRetainedMax: 2,
};

export type SimDiskOptions = {
  /** Checker tests only: acknowledge synced writes that a crash may still lose. */
  readonly lies?: boolean;
  /** Draws the operation an armed crash fires in. */
  readonly random: Prng;
};

export class SimDisk implements LogStore {
  private files = new MemoryFileSystem();
  private engine: LogEngine | undefined;
  private visible = new Map<number, VisibleGroup>();
  /** File operations left before an armed crash fires; undefined when none is armed. */
  private crashIn: number | undefined;
  private syncsSkipped = 0;
  private durableView:
    | { version: number; engine: LogEngine; groups: Map<number, GroupState> }
    | undefined;
  /** Counts mutations, so the durable view is rebuilt only when the disk changed. */
  private version = 0;
  readonly lies: boolean;
  private readonly random: Prng;
  saves = 0;

  constructor(options: SimDiskOptions) {
    this.lies = options.lies ?? false;
    this.random = options.random;
  }

  /** The node will die inside one of its next few file operations. */
  armCrash(): void {
    this.crashIn = this.random.int(armedOperationsMax);
  }

  get armed(): boolean {
    return this.crashIn !== undefined;
  }

  /** The simulator stops injecting faults: an armed crash that has not fired is called off. */
  disarm(): void {
    this.crashIn = undefined;
  }

  /** The disk has room for about `bytes` more; appends beyond fail as a full disk does. */
  fill(bytes: number): void {
    this.files.capacityBytes = this.files.usedBytes() + bytes;
  }

  unfill(): void {
    this.files.capacityBytes = Number.POSITIVE_INFINITY;
  }

  /**
   * The process died: the file system keeps its promises and a random part of the rest, and
   * the engine will replay what is left.
   */
  crash(random: Prng): void {
    this.files.crash(random);
    this.engine = undefined;
    this.visible.clear();
    this.crashIn = undefined;
    this.version += 1;
  }

  /** The disk is replaced by an empty one (the node must be down). */
  wipe(): void {
    assert(this.engine === undefined, "wipe a stopped node's disk");
    this.files = new MemoryFileSystem();
    this.visible.clear();
    this.crashIn = undefined;
    this.version += 1;
  }

  private store(): LogEngine {
    this.engine ??= LogEngine.open(this.fileSystem(), simEngineOptions);
    return this.engine;
  }

  // ---- LogStore ----

  save(writes: readonly GroupWrite[]): void {
    this.store().save(writes);
    this.saves += 1;
    for (const write of writes) {
      const group = this.visibleGroup(write.group);
      if (write.snapshot !== undefined) {
        group.snapshot = write.snapshot;
        group.entries.clear();
      }
      const first = write.entries[0];
      if (first !== undefined) {
        for (const index of [...group.entries.keys()]) {
          if (index >= first.index) group.entries.delete(index);
        }
        for (const e of write.entries) group.entries.set(e.index, e);
      }
    }
  }

  saveSnapshot(group: number, snapshot: Snapshot): void {
    this.store().saveSnapshot(group, snapshot);
    this.visibleGroup(group).snapshot = snapshot;
  }

  compact(group: number, throughIndex: number): void {
    this.store().compact(group, throughIndex);
    const entries = this.visibleGroup(group).entries;
    for (const index of [...entries.keys()]) if (index <= throughIndex) entries.delete(index);
  }

  load(group: number): GroupState {
    const state = this.store().load(group);
    const visible: VisibleGroup = { snapshot: state.snapshot, entries: new Map() };
    for (const e of state.entries) visible.entries.set(e.index, e);
    this.visible.set(group, visible);
    return state;
  }

  identity(): Identity | undefined {
    return this.store().identity();
  }

  setIdentity(identity: Identity): void {
    this.store().setIdentity(identity);
  }

  nextIncarnation(): number {
    return this.store().nextIncarnation();
  }

  nodeState(): NodeState {
    return this.store().nodeState();
  }

  setNodeState(state: NodeState): void {
    this.store().setNodeState(state);
  }

  close(): void {
    this.engine?.close();
    this.engine = undefined;
  }

  // ---- for the checkers ----

  /** What a crash now would certainly keep of one group (for the log-matching checker). */
  durableGroup(group: number): GroupState {
    if (this.durableView?.version !== this.version) {
      this.durableView = {
        version: this.version,
        engine: LogEngine.open(this.files.durableCopy(), simEngineOptions),
        groups: new Map(),
      };
    }
    const view = this.durableView;
    let state = view.groups.get(group);
    if (state === undefined) view.groups.set(group, state = view.engine.load(group));
    return state;
  }

  /** The entry at `index` as the running node wrote it, if the disk still has it. */
  visibleEntry(group: number, index: number): Entry | undefined {
    return this.visible.get(group)?.entries.get(index);
  }

  visibleSnapshot(group: number): Snapshot | undefined {
    return this.visible.get(group)?.snapshot;
  }

  private visibleGroup(group: number): VisibleGroup {
    let visible = this.visible.get(group);
    if (visible === undefined) {
      visible = { snapshot: undefined, entries: new Map() };
      this.visible.set(group, visible);
    }
    return visible;
  }

  // ---- the file system the engine sees: crash points, a lying sync ----

  /** Counts down an armed crash; true when this operation may go on. */
  private operation(): void {
    this.version += 1;
    if (this.crashIn === undefined) return;
    if (this.crashIn === 0) {
      this.crashIn = undefined;
      throw new SimCrash("the node crashed inside a disk write");
    }
    this.crashIn -= 1;
  }

  private fileSystem(): FileSystem {
    const files = this.files;
    return {
      list: () => files.list(),
      open: (name: string, mode: OpenMode) => {
        if (mode === "create") this.operation();
        return this.handle(files.open(name, mode));
      },
      rename: (from: string, to: string) => {
        this.operation();
        files.rename(from, to);
      },
      remove: (name: string) => {
        this.operation();
        files.remove(name);
      },
      syncDirectory: () => {
        this.operation();
        files.syncDirectory();
      },
    };
  }

  private handle(file: FileHandle): FileHandle {
    return {
      name: file.name,
      size: () => file.size(),
      read: (offset, length) => file.read(offset, length),
      append: (bytes) => {
        this.operation();
        file.append(bytes);
      },
      sync: () => {
        this.operation();
        if (this.lies && ++this.syncsSkipped % lyingSyncEvery !== 0) return;
        file.sync();
      },
      truncate: (length) => {
        this.operation();
        file.truncate(length);
      },
      close: () => file.close(),
    };
  }
}

/** Whether `error` is a full disk (the node exits, as a real one does). */
export function isDiskFull(error: unknown): boolean {
  return error instanceof FileSystemError && error.code === "noSpace";
}

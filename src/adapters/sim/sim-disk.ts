/**
 * The simulator's LogStore twin: one node's disk, which outlives the node's NodeHost so a
 * restart reads what the crash left. It keeps two views:
 *
 * - `visible`: every write, as the running process sees it (the OS cache).
 * - `durable`: what survives a crash. A `save` reaches it before it returns (the host's
 *   fsync); snapshots and compactions, which the LogStore contract need not sync, wait in
 *   `pending` and a crash keeps only a random prefix of them (a later save makes every
 *   earlier mutation durable too).
 *
 * A crash *during* a flush is an armed crash point: the next mutating call throws
 * `SimCrash` before touching the disk, so that write and everything after it in the flush is
 * lost, exactly as if the process died inside fsync. SQLite's WAL checksums its frames, so a
 * torn transaction is rolled back whole on recovery: an honest disk models a tear as the loss
 * of the in-flight write. A *lying* disk (`lies`, for checker tests only) acknowledges synced
 * writes it has not made durable, and on a crash it may keep a torn prefix of the entries of
 * the write in flight.
 *
 * Invariants: durable is always a prefix (in write order) of the visible history; after a
 * crash, visible equals durable.
 */
import { assert } from "../../assert.ts";
import {
  emptyNodeState,
  type GroupState,
  type GroupWrite,
  type LogStore,
  type NodeState,
} from "../../ports/log-store.ts";
import type { Entry, HardState, NodeId, Snapshot } from "../../raft/types.ts";
import type { Prng } from "./prng.ts";

/** Thrown by an armed disk: the node dies inside this call. The simulator catches it. */
export class SimCrash extends Error {
  override name = "SimCrash";
}

type StoredGroup = { hardState: HardState; snapshot: Snapshot | undefined; entries: Entry[] };
type Identity = { nodeId: NodeId; voters: readonly NodeId[]; groups: number };
type Mutation =
  | { readonly kind: "save"; readonly writes: readonly GroupWrite[] }
  | { readonly kind: "saveSnapshot"; readonly group: number; readonly snapshot: Snapshot }
  | { readonly kind: "compact"; readonly group: number; readonly throughIndex: number };

/** A lying disk keeps at most this many acknowledged writes only in its cache. */
const lyingWritesCachedMax = 16;

class DiskImage {
  readonly groups = new Map<number, StoredGroup>();
  identity: Identity | undefined;
  incarnation = 0;
  nodeState: NodeState = emptyNodeState;

  clone(): DiskImage {
    const copy = new DiskImage();
    copy.incarnation = this.incarnation;
    copy.nodeState = this.nodeState;
    for (const [id, g] of this.groups) {
      copy.groups.set(id, {
        hardState: g.hardState,
        snapshot: g.snapshot,
        entries: [...g.entries],
      });
    }
    copy.identity = this.identity;
    return copy;
  }

  group(id: number): StoredGroup {
    let stored = this.groups.get(id);
    if (stored === undefined) {
      stored = { hardState: { term: 0, vote: "", commit: 0 }, snapshot: undefined, entries: [] };
      this.groups.set(id, stored);
    }
    return stored;
  }

  apply(mutation: Mutation): void {
    switch (mutation.kind) {
      case "save":
        for (const write of mutation.writes) this.applyWrite(write);
        return;
      case "saveSnapshot":
        this.group(mutation.group).snapshot = mutation.snapshot;
        return;
      case "compact": {
        const g = this.group(mutation.group);
        g.entries = g.entries.filter((e) => e.index > mutation.throughIndex);
        return;
      }
    }
  }

  private applyWrite(write: GroupWrite): void {
    const g = this.group(write.group);
    if (write.snapshot !== undefined) {
      g.snapshot = write.snapshot;
      g.entries = [];
    }
    const first = write.entries[0];
    if (first !== undefined) {
      g.entries = g.entries.filter((e) => e.index < first.index);
      for (const e of write.entries) {
        g.entries.push({ term: e.term, index: e.index, data: new Uint8Array(e.data) });
      }
    }
    if (write.hardState !== undefined) g.hardState = { ...write.hardState };
  }
}

export type SimDiskOptions = {
  /** Checker tests only: acknowledge synced writes that a crash may still lose. */
  readonly lies?: boolean;
};

export class SimDisk implements LogStore {
  private durable = new DiskImage();
  private visible = new DiskImage();
  private pending: Mutation[] = [];
  private crashArmed = false;
  /** The mutation that was in flight when an armed crash fired (a lying disk may tear it). */
  private inFlight: Mutation | undefined;
  readonly lies: boolean;
  saves = 0;
  lostWrites = 0;

  constructor(options: SimDiskOptions = {}) {
    this.lies = options.lies ?? false;
  }

  /** The node will die inside its next mutating call to this disk. */
  armCrash(): void {
    this.crashArmed = true;
  }

  get armed(): boolean {
    return this.crashArmed;
  }

  /** The simulator stops injecting faults: an armed crash that has not fired is called off. */
  disarm(): void {
    this.crashArmed = false;
  }

  save(writes: readonly GroupWrite[]): void {
    this.mutate({ kind: "save", writes }, true);
    this.saves += 1;
  }

  // The LogStore contract lets these two wait for the next save; a crash may lose them.
  saveSnapshot(group: number, snapshot: Snapshot): void {
    this.mutate({ kind: "saveSnapshot", group, snapshot }, false);
  }

  compact(group: number, throughIndex: number): void {
    this.mutate({ kind: "compact", group, throughIndex }, false);
  }

  private mutate(mutation: Mutation, sync: boolean): void {
    if (this.crashArmed) {
      this.crashArmed = false;
      this.inFlight = mutation;
      throw new SimCrash("the node crashed inside a disk write");
    }
    this.visible.apply(mutation);
    this.pending.push(mutation);
    if (sync && !this.lies) this.syncAll();
    if (this.lies) {
      while (this.pending.length > lyingWritesCachedMax) this.durable.apply(this.pending.shift()!);
    }
  }

  private syncAll(): void {
    for (const mutation of this.pending) this.durable.apply(mutation);
    this.pending = [];
  }

  /**
   * The process died: unsynced writes survive only as a random prefix (all of them may go);
   * the write in flight is lost (an honest disk) or may leave a torn prefix (a lying one).
   */
  crash(random: Prng): void {
    const keep = random.int(this.pending.length + 1);
    for (let i = 0; i < keep; i++) this.durable.apply(this.pending[i]!);
    this.lostWrites += this.pending.length - keep;
    this.pending = [];
    const torn = this.inFlight;
    if (this.lies && torn !== undefined && torn.kind === "save" && random.chance(0.5)) {
      const tornWrites = torn.writes.map((w) => ({
        group: w.group,
        entries: w.entries.slice(0, random.int(w.entries.length + 1)),
      }));
      this.durable.apply({ kind: "save", writes: tornWrites });
    }
    this.inFlight = undefined;
    this.crashArmed = false;
    this.visible = this.durable.clone();
  }

  /**
   * The disk is replaced by an empty one (the node must be down): every group, the identity,
   * the node's store id and what it knew of its peers are gone.
   */
  wipe(): void {
    assert(this.pending.length === 0 && this.inFlight === undefined, "wipe a stopped node's disk");
    this.durable = new DiskImage();
    this.visible = new DiskImage();
    this.crashArmed = false;
  }

  load(group: number): GroupState {
    const stored = this.visible.group(group);
    const after = stored.snapshot?.metadata.index ?? 0;
    return {
      hardState: stored.hardState,
      snapshot: stored.snapshot,
      entries: stored.entries.filter((e) => e.index > after),
    };
  }

  /** What a crash now would certainly keep of one group (for the log-matching checker). */
  durableGroup(group: number): GroupState {
    const stored = this.durable.group(group);
    const after = stored.snapshot?.metadata.index ?? 0;
    return {
      hardState: stored.hardState,
      snapshot: stored.snapshot,
      entries: stored.entries.filter((e) => e.index > after),
    };
  }

  /** The entry at `index` as the running node wrote it, if the disk still has it. */
  visibleEntry(group: number, index: number): Entry | undefined {
    const entries = this.visible.group(group).entries;
    const first = entries[0];
    if (first === undefined) return undefined;
    const entry = entries[index - first.index];
    return entry !== undefined && entry.index === index ? entry : undefined;
  }

  visibleSnapshot(group: number): Snapshot | undefined {
    return this.visible.group(group).snapshot;
  }

  identity(): Identity | undefined {
    return this.visible.identity;
  }

  setIdentity(identity: Identity): void {
    this.visible.identity = identity;
    this.durable.identity = identity;
  }

  nodeState(): NodeState {
    return this.visible.nodeState;
  }

  /** Written through at once, like setIdentity. */
  setNodeState(state: NodeState): void {
    const copy = structuredClone(state);
    this.visible.nodeState = copy;
    this.durable.nodeState = copy;
  }

  /** Written through at once, like setIdentity: a start that counted survives a crash. */
  nextIncarnation(): number {
    this.durable.incarnation += 1;
    this.visible.incarnation = this.durable.incarnation;
    return this.durable.incarnation;
  }

  close(): void {}
}

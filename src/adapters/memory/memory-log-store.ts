/**
 * The in-memory twin of the SQLite LogStore, for unit tests and the simulator. Same
 * semantics: a received snapshot replaces the log, a local one keeps it until compaction,
 * an append at a lower index replaces the suffix. Every stored value is a copy, so a caller
 * that mutates its arrays later cannot change what was "written".
 */
import {
  emptyNodeState,
  type GroupState,
  type GroupWrite,
  type LogStore,
  type NodeState,
} from "../../ports/log-store.ts";
import type { Entry, HardState, NodeId, Snapshot } from "../../raft/types.ts";

type StoredGroup = { hardState: HardState; snapshot: Snapshot | undefined; entries: Entry[] };
type Identity = { nodeId: NodeId; voters: readonly NodeId[]; groups: number };

export class MemoryLogStore implements LogStore {
  private groups = new Map<number, StoredGroup>();
  private storedIdentity: Identity | undefined;
  saves = 0;

  save(writes: readonly GroupWrite[]): void {
    this.saves += 1;
    for (const write of writes) {
      const group = this.group(write.group);
      if (write.snapshot !== undefined) {
        group.snapshot = write.snapshot;
        group.entries = [];
      }
      const first = write.entries[0];
      if (first !== undefined) {
        // The log is in index order: dropping the replaced suffix from the end keeps an
        // append O(appended), not O(log).
        while ((group.entries.at(-1)?.index ?? 0) >= first.index) group.entries.pop();
        group.entries.push(...write.entries.map((e) => ({ ...e, data: new Uint8Array(e.data) })));
      }
      if (write.hardState !== undefined) group.hardState = { ...write.hardState };
    }
  }

  saveSnapshot(group: number, snapshot: Snapshot): void {
    this.group(group).snapshot = snapshot;
  }

  compact(group: number, throughIndex: number): void {
    const stored = this.group(group);
    stored.entries = stored.entries.filter((e) => e.index > throughIndex);
  }

  load(group: number): GroupState {
    const stored = this.group(group);
    const after = stored.snapshot?.metadata.index ?? 0;
    return {
      hardState: stored.hardState,
      snapshot: stored.snapshot,
      entries: stored.entries.filter((e) => e.index > after),
    };
  }

  identity(): Identity | undefined {
    return this.storedIdentity;
  }

  setIdentity(identity: Identity): void {
    this.storedIdentity = identity;
  }

  private incarnation = 0;

  nextIncarnation(): number {
    this.incarnation += 1;
    return this.incarnation;
  }

  private state: NodeState = emptyNodeState;

  nodeState(): NodeState {
    return this.state;
  }

  setNodeState(state: NodeState): void {
    this.state = structuredClone(state);
  }

  close(): void {}

  private group(group: number): StoredGroup {
    let stored = this.groups.get(group);
    if (stored === undefined) {
      stored = { hardState: { term: 0, vote: "", commit: 0 }, snapshot: undefined, entries: [] };
      this.groups.set(group, stored);
    }
    return stored;
  }
}

/**
 * Durable storage for every Raft group on one node (DESIGN.md §5). Synchronous, because
 * both bun:sqlite and node:sqlite are, so the host never awaits. A failed write throws and
 * the node crashes: retrying an fsync is unsafe, and recovery from disk is the safe path.
 */
import type { Entry, HardState, NodeId, Snapshot } from "../raft/types.ts";

export type GroupWrite = {
  readonly group: number;
  readonly hardState?: HardState;
  /**
   * Appended in order. The first entry's index may be at or below the stored last index:
   * the stored suffix from that index on is replaced (Raft §5.3 conflict truncation).
   */
  readonly entries: readonly Entry[];
  /**
   * A snapshot received from the leader: it replaces the group's snapshot and every stored
   * entry (entries in the same write are then appended after it).
   */
  readonly snapshot?: Snapshot;
};

export type GroupState = {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | undefined;
  /** Entries after the snapshot's index, in index order, contiguous. */
  readonly entries: readonly Entry[];
};

export type LogStore = {
  /** One transaction for all groups; fsynced before returning when `sync` is true. */
  save(writes: readonly GroupWrite[], sync: boolean): void;
  /**
   * Stores a snapshot this node took of its own state. Entries stay until `compact`, so the
   * leader can still send a slow follower the entries just behind the snapshot.
   */
  saveSnapshot(group: number, snapshot: Snapshot): void;
  /** Drops entries of `group` with index <= `throughIndex` (they are in a snapshot). */
  compact(group: number, throughIndex: number): void;
  load(group: number): GroupState;
  /** The node's identity and the cluster it was started with, fixed at first start. */
  identity(): { nodeId: NodeId; voters: readonly NodeId[]; groups: number } | undefined;
  setIdentity(identity: { nodeId: NodeId; voters: readonly NodeId[]; groups: number }): void;
  /**
   * Counts this node's starts, durably: returns 1 on the first start, then one more each
   * time. The host makes ids that must not repeat across restarts from it.
   */
  nextIncarnation(): number;
  close(): void;
};

/**
 * Durable storage for every Raft group on one node (docs/architecture.md). Synchronous, because
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

/**
 * How nodes tell a lost disk (docs/reliability.md, "A node that lost its storage"): each data
 * directory gets a random id at its first start; each node remembers the id it first heard
 * from every peer. A peer speaking from another id lost its storage: its messages are not
 * counted until it says it is recovering, which it does in `recovering` groups until they
 * have re-seeded it.
 */
export type NodeState = {
  /** This data directory's id; "" until the first start has chosen one. */
  readonly storeId: string;
  /**
   * Per peer, the store it accepts messages from, as `generation/store id`: the generation
   * counts the times that peer's store was accepted anew (0 for the first).
   */
  readonly peerStores: Readonly<Record<NodeId, string>>;
  /** The latest generation a peer has recorded this node's store under; -1 when unknown. */
  readonly storeGen?: number;
  /** The groups in which this node is recovering: it neither votes nor campaigns there. */
  readonly recovering: readonly number[];
};

export const emptyNodeState: NodeState = { storeId: "", peerStores: {}, recovering: [] };

export type LogStore = {
  /**
   * One transaction for all groups, durable (fsynced) before it returns: the host calls it
   * only for writes Raft needs on disk (`Ready.mustSync`), and a vote, acknowledgement or
   * client answer that depends on a write leaves only after this returns.
   */
  save(writes: readonly GroupWrite[]): void;
  /**
   * Stores a snapshot this node took of its own state. Entries stay until `compact`, so the
   * leader can still send a slow follower the entries just behind the snapshot. Need not be
   * durable on return: nothing is promised on it (the log it summarizes is still stored), so
   * a crash may lose it, and the mutations after it, until the next `save` returns. Durable
   * mutations are always a prefix, in call order, of all of them.
   */
  saveSnapshot(group: number, snapshot: Snapshot): void;
  /**
   * Drops entries of `group` with index <= `throughIndex` (they are in a snapshot). Need not
   * be durable on return, as `saveSnapshot`.
   */
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
  /** What this node knows of its own storage and its peers' (NodeState). */
  nodeState(): NodeState;
  /** Durable when it returns, so a restart in the middle of a recovery goes on recovering. */
  setNodeState(state: NodeState): void;
  close(): void;
};

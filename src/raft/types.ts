/**
 * The vocabulary of one Raft group, as in etcd's raftpb: entries, hard state, snapshots,
 * messages, and the Ready batch that the host turns into I/O. Pure data: no behaviour here.
 */

export type NodeId = string;

export type Entry = {
  readonly term: number;
  readonly index: number;
  /** Empty data is the leader's no-op (Raft §5.4.2, §8); the host ignores it on apply. */
  readonly data: Uint8Array;
};

/** What must be on stable storage before any message is sent (Raft Figure 2). */
export type HardState = {
  readonly term: number;
  /** "" when this node has not voted in `term`. */
  readonly vote: NodeId;
  readonly commit: number;
};

export type SnapshotMetadata = {
  readonly index: number;
  readonly term: number;
  readonly voters: readonly NodeId[];
};

export type Snapshot = {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
};

export const Role = {
  Follower: "follower",
  PreCandidate: "preCandidate",
  Candidate: "candidate",
  Leader: "leader",
} as const;
export type Role = (typeof Role)[keyof typeof Role];

export type SoftState = {
  readonly leader: NodeId; // "" when unknown
  readonly role: Role;
};

/** A ReadIndex answer: once `index` is applied, a read made with `context` is linearizable. */
export type ReadState = {
  readonly index: number;
  readonly context: number;
};

/**
 * The Raft read-only storage as the core sees it (etcd's Storage): what has been persisted.
 * The host appends to it only after the write is durable.
 */
export type RaftStorage = {
  initialState(): { hardState: HardState; voters: readonly NodeId[] };
  /** Entries in [lo, hi), at most `bytesMax` (always at least one if any). */
  entries(lo: number, hi: number, bytesMax: number): Entry[];
  term(index: number): number | undefined;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
};

/**
 * Message types between the Raft nodes of one group (etcd's raftpb.MessageType, network
 * messages only: local inputs such as ticks, campaigns and proposals are RawNode methods).
 */
export const MessageType = {
  App: "app",
  AppResp: "appResp",
  Vote: "vote",
  VoteResp: "voteResp",
  PreVote: "preVote",
  PreVoteResp: "preVoteResp",
  Heartbeat: "heartbeat",
  HeartbeatResp: "heartbeatResp",
  Snap: "snap",
  TimeoutNow: "timeoutNow",
  ReadIndex: "readIndex",
  ReadIndexResp: "readIndexResp",
  TransferLeader: "transferLeader",
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * One Raft message, as etcd's raftpb.Message: one record for every type, unused fields zero.
 * - App: `index`/`logTerm` locate the entry before `entries`; `commit` is the leader's.
 * - AppResp: `index` is the follower's last matching index, or the rejected `index` with
 *   `rejectHint`/`logTerm` pointing at where to probe next (Raft §5.3, etcd's fast backoff).
 * - Vote/PreVote: `index`/`logTerm` are the candidate's last entry (Raft §5.4.1);
 *   `context` is `campaignTransferContext` when a leadership transfer forced the campaign.
 * - Heartbeat/HeartbeatResp: `context` is the ReadIndex round being confirmed (0 for none).
 * - ReadIndex: `context` is the caller's; ReadIndexResp carries it back with `index`.
 * - Snap: `snapshot` is set.
 */
export type Message = {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly context: number;
  readonly snapshot?: Snapshot;
};

/** Marks a Vote sent because of MsgTimeoutNow: voters then ignore their leader lease. */
export const campaignTransferContext = 1;

/**
 * RawNode: the host's handle on one Raft group (etcd's RawNode). The host feeds it inputs
 * (tick, step, propose, ...), then, when hasReady(), takes one Ready, performs its I/O in the
 * order the Ready's comment states, and calls advance(ready) before asking for the next one.
 */
import { assert } from "../assert.ts";
import { committedEntriesPerReadyMax } from "../constants.ts";
import { Raft } from "./raft.ts";
import type { ProposeResult, RaftConfig } from "./raft.ts";
import { ProgressState } from "./progress.ts";
import {
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftStorage,
  type ReadState,
  Role,
  type Snapshot,
  type SoftState,
} from "./types.ts";

export type { ProposeResult, RaftConfig } from "./raft.ts";

/**
 * What the host must do with a Ready, in this order: etcd's Ready contract, with the leader's
 * own write in parallel with replication (Raft thesis §10.2.1). NodeHost.flush follows it for
 * a batch of Readys of many groups at once, and asserts it.
 * 1. It may first apply the `committedEntries` already durable on this node (stored before
 *    this Ready, and below the first of `entries`, which may rewrite the log), and answer
 *    their clients: they are committed on a majority and on this disk.
 * 2. It may send the messages a leader sends about its own log (App, Heartbeat, Snap) before
 *    its write: they promise nothing about this node's disk, and Raft counts the leader's
 *    own entries toward a commit only once advance() says they are persisted.
 * 3. It persists `snapshot` (if set), `entries` and `hardState` (if set) in one write, durable
 *    before it returns when `mustSync`; a write that is not `mustSync` only moves the commit
 *    index, which Raft need not find on disk, and may be left to ride with the next one. Then
 *    it mirrors them into the group's MemoryStorage (applySnapshot, append, setHardState).
 * 4. Only then it sends every other message: a vote or an acknowledgement promises what is
 *    now on disk.
 * 5. It applies `snapshot` (if set) to the state machine, then the rest of `committedEntries`
 *    in order (entries with empty data are leaders' no-ops: skip them), hands `readStates` to
 *    waiting reads (each is answerable once its `index` is applied), and calls advance(ready).
 * `softState` is informational (role and leader changed); it needs no persistence.
 */
export type Ready = {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  readonly mustSync: boolean;
};

export type RaftStatus = {
  id: NodeId;
  term: number;
  role: Role;
  leader: NodeId;
  commit: number;
  applied: number;
  lastIndex: number;
};

export class RawNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private readyOutstanding = false;

  /** Restarts from `storage.initialState()`: term, vote, commit and the log survive. */
  constructor(config: RaftConfig, storage: RaftStorage) {
    this.raft = new Raft(config, storage);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = storage.initialState().hardState;
  }

  tick(): void {
    this.raft.tick();
    this.raft.checkInvariants();
  }

  /** Starts an election now (etcd's MsgHup); a leader ignores it. */
  campaign(): void {
    this.raft.hup(false);
    this.raft.checkInvariants();
  }

  /** Only a leader accepts; the result is the entry's index and term, or why not. */
  propose(data: Uint8Array): ProposeResult {
    const result = this.raft.propose(data);
    this.raft.checkInvariants();
    return result;
  }

  /** A message from a peer, already validated by the codec. */
  step(message: Message): void {
    this.raft.step(message);
    this.raft.checkInvariants();
  }

  /**
   * Asks for a linearizable read point (Raft thesis §6.4). The answer, if any, arrives in a
   * later Ready's readStates with the same context; without a leader the request is dropped,
   * so the caller must time out and retry.
   */
  readIndex(context: number): void {
    assert(Number.isSafeInteger(context) && context >= 0, "a read context is a safe integer >= 0");
    this.raft.readIndex(context);
    this.raft.checkInvariants();
  }

  /** On the leader: hand leadership to `to`. On a follower: only `to === id` (ask for it). */
  transferLeader(to: NodeId): void {
    this.raft.transferLeader(to);
    this.raft.checkInvariants();
  }

  /**
   * On the leader: whether `id` would take leadership now if asked. It is replicating, has
   * answered since the last CheckQuorum round (so messages reach it both ways), and holds
   * every committed entry. A leader that is not leading answers false.
   */
  followerReady(id: NodeId): boolean {
    const r = this.raft;
    if (r.role !== Role.Leader) return false;
    const pr = r.progress.get(id);
    return pr !== undefined && pr.state === ProgressState.Replicate && pr.recentActive &&
      pr.match >= r.log.committed;
  }

  /**
   * On the leader: how far each voter's log is known to match its own (etcd's Progress.Match),
   * in voter order; elsewhere empty. Read-only: for the cluster status, never for decisions.
   */
  matchIndexes(): { readonly id: NodeId; readonly match: number }[] {
    const r = this.raft;
    if (r.role !== Role.Leader) return [];
    return r.voters.map((id) => ({ id, match: r.progress.get(id)!.match }));
  }

  /** Whether this node is recovering from lost storage (RaftConfig.recovering). */
  get recovering(): boolean {
    return this.raft.recovering;
  }

  /**
   * A recovering node holds every entry its leader had committed when it first heard from
   * it: it follows a leader, an append of that leader has told it the commit index, and its
   * own commit index has reached the highest one told.
   */
  recoveryCaughtUp(): boolean {
    const r = this.raft;
    return r.recovering && r.role === Role.Follower && r.lead !== "" && r.leaderAppCommit > 0 &&
      r.log.committed >= r.leaderAppCommit;
  }

  /** See Raft.forgetFollower. */
  forgetFollower(id: NodeId): void {
    this.raft.forgetFollower(id);
    this.raft.checkInvariants();
  }

  /** See Raft.beginRecovery. */
  beginRecovery(): void {
    this.raft.beginRecovery();
    this.raft.checkInvariants();
  }

  /** See Raft.endRecovery: the node votes again, with a vote for its leader in this term. */
  endRecovery(): void {
    this.raft.endRecovery();
    this.raft.checkInvariants();
  }

  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(id, ok);
  }

  hasReady(): boolean {
    const r = this.raft;
    return r.appendsPending || r.heartbeatPending ||
      !sameSoftState(r.softState(), this.prevSoftState) ||
      !sameHardState(r.hardState(), this.prevHardState) ||
      r.log.unstable.snapshot !== undefined ||
      r.log.unstable.entries.length > 0 ||
      r.log.hasNextCommittedEntries() ||
      r.msgs.length > 0 ||
      r.readStates.length > 0;
  }

  ready(): Ready {
    assert(!this.readyOutstanding, "advance() the previous Ready before taking another");
    const r = this.raft;
    r.flushPending();
    const softState = r.softState();
    const hardState = r.hardState();
    const entries = [...r.log.unstable.entries];
    const snapshot = r.log.unstable.snapshot;
    const ready: { -readonly [K in keyof Ready]: Ready[K] } = {
      entries,
      committedEntries: r.log.nextCommittedEntries(committedEntriesPerReadyMax),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync: entries.length > 0 || hardState.term !== this.prevHardState.term ||
        hardState.vote !== this.prevHardState.vote || snapshot !== undefined,
    };
    if (!sameSoftState(softState, this.prevSoftState)) ready.softState = softState;
    if (!sameHardState(hardState, this.prevHardState)) ready.hardState = hardState;
    if (snapshot !== undefined) ready.snapshot = snapshot;
    r.msgs = [];
    r.readStates = [];
    this.prevSoftState = softState;
    this.readyOutstanding = true;
    return ready;
  }

  /** The host has done everything `ready` asked: persisted, sent, applied. */
  advance(ready: Ready): void {
    assert(this.readyOutstanding, "advance() without a Ready");
    const log = this.raft.log;
    if (ready.hardState !== undefined) this.prevHardState = ready.hardState;
    if (ready.snapshot !== undefined) {
      log.stableSnapTo(ready.snapshot.metadata.index);
      log.appliedTo(Math.max(log.applied, ready.snapshot.metadata.index));
    }
    const lastCommitted = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastCommitted !== undefined) log.appliedTo(lastCommitted.index);
    const lastEntry = ready.entries[ready.entries.length - 1];
    if (lastEntry !== undefined) log.stableTo(lastEntry.index, lastEntry.term);
    this.raft.onPersisted();
    this.readyOutstanding = false;
    this.raft.checkInvariants();
  }

  status(): RaftStatus {
    const r = this.raft;
    return {
      id: r.id,
      term: r.term,
      role: r.role,
      leader: r.lead,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
    };
  }
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

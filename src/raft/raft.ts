/**
 * One Raft peer as a pure state machine (etcd's raft.go). Inputs are method calls (tick,
 * campaign, propose, readIndex, ...) and `step(message)`; outputs accumulate in `msgs` and
 * `readStates` and in the log, and RawNode hands them to the host as a Ready.
 *
 * The role is a swapped pair of functions: `stepFn` handles messages of the current term,
 * `tickFn` advances logical time (election timeout for followers and candidates, heartbeats
 * and CheckQuorum for leaders).
 *
 * Invariants (asserted): the term never goes back; a node votes at most once per term;
 * commit never goes back; a leader commits only entries of its own term by counting
 * replicas (Raft §5.4.2); the leader is always one of the voters.
 */
import { assert } from "../assert.ts";
import {
  entriesBytesPerMessageMax,
  pendingProposalsMax,
  readsPendingMax,
  snapshotRetryElections,
} from "../constants.ts";
import type { Random } from "../ports/random.ts";
import { Progress, ProgressState } from "./progress.ts";
import { RaftLog } from "./raft-log.ts";
import { ReadOnly } from "./read-only.ts";
import { campaignTransferContext, MessageType, Role } from "./types.ts";
import type {
  Entry,
  HardState,
  Message,
  NodeId,
  RaftStorage,
  ReadState,
  Snapshot,
  SoftState,
} from "./types.ts";

export type RaftConfig = {
  id: NodeId;
  /** The election timeout is drawn from [electionTicks, 2 * electionTicks) (Raft §5.2). */
  electionTicks: number;
  heartbeatTicks: number;
  random: Random;
  /** Raft thesis §9.6: a node campaigns only if a majority would vote for it. */
  preVote: boolean;
  /** Raft thesis §6.2: a leader that hears from no majority in an election timeout resigns. */
  checkQuorum: boolean;
  inflightMessagesMax: number;
  /** Bytes of entries in unacknowledged appends to one follower (etcd's MaxInflightBytes). */
  inflightBytesMax: number;
  entriesPerMessageMax: number;
  /** Last applied index at restart (from the host's state machine snapshot). */
  applied?: number;
  /**
   * This node lost its storage and must not be trusted as the voter it was (it may have
   * voted in terms it no longer knows of, and acknowledged entries it no longer holds): it
   * neither votes nor campaigns until the host ends the recovery (`endRecovery`).
   */
  recovering?: boolean;
};

export type ProposeResult =
  | { kind: "proposed"; index: number; term: number }
  | { kind: "notLeader"; leader: NodeId }
  | { kind: "dropped"; reason: string };

type StepFn = (r: Raft, m: Message) => void;
type TickFn = (r: Raft) => void;
type CampaignKind = "preElection" | "election" | "transfer";
type VoteResult = "won" | "lost" | "pending";
type OutgoingMessage = Partial<Message> & { readonly type: MessageType; readonly to: NodeId };

const emptyData = new Uint8Array(0);

function entriesBytes(entries: readonly Entry[]): number {
  let bytes = 0;
  for (const entry of entries) bytes += entry.data.length;
  return bytes;
}

export class Raft {
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
  readonly log: RaftLog;
  term = 0;
  vote: NodeId = "";
  lead: NodeId = "";
  role: Role = Role.Follower;
  progress = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee: NodeId = "";
  readonly readOnly = new ReadOnly();
  /** ReadIndex requests that arrived before this leader committed an entry in its term. */
  pendingReads: { from: NodeId; context: number }[] = [];
  /** Proposals appended since the last flush: their appends go out with the next Ready. */
  appendsPending = false;
  /** ReadIndex requests registered since the last flush: one heartbeat round confirms all. */
  heartbeatPending = false;
  stepFn: StepFn = stepFollower;
  tickFn: TickFn = tickElection;
  /** See RaftConfig.recovering. */
  recovering: boolean;
  /** The highest commit index an append of the current leader has carried (0: none yet). */
  leaderAppCommit = 0;

  constructor(readonly config: RaftConfig, storage: RaftStorage) {
    assert(config.heartbeatTicks >= 1, "heartbeatTicks must be at least 1");
    assert(config.electionTicks > config.heartbeatTicks, "elections must outlast heartbeats");
    assert(config.inflightMessagesMax >= 1, "inflightMessagesMax must be at least 1");
    assert(config.inflightBytesMax >= 1, "inflightBytesMax must be at least 1");
    assert(config.entriesPerMessageMax >= 1, "entriesPerMessageMax must be at least 1");
    const { hardState, voters } = storage.initialState();
    this.id = config.id;
    this.voters = [...voters].sort();
    assert(this.voters.includes(config.id), () => `node ${config.id} is not a voter of its group`);
    this.log = new RaftLog(storage, hardState.commit, config.applied ?? 0);
    this.becomeFollower(hardState.term, "");
    assert(hardState.vote === "" || this.voters.includes(hardState.vote), "vote is for a voter");
    this.vote = hardState.vote;
    this.recovering = config.recovering ?? false;
  }

  /** Starts a recovery (RaftConfig.recovering): a leader or candidate becomes a follower. */
  beginRecovery(): void {
    this.recovering = true;
    if (this.role !== Role.Follower) this.becomeFollower(this.term, "");
  }

  /**
   * Ends a recovery (RaftConfig.recovering) on a follower that follows a leader: from now on
   * it votes and campaigns. It records a vote for its leader in the current term, so it cannot
   * help elect a second leader of that term (it may have voted in it before losing storage).
   */
  endRecovery(): void {
    assert(this.recovering, "endRecovery: not recovering");
    assert(this.role === Role.Follower && this.lead !== "", "recovery ends under a leader");
    // A vote already cast in this term (before the recovery began) is kept: one vote a term.
    if (this.vote === "") this.vote = this.lead;
    this.recovering = false;
  }

  private termSeen = 0;
  private commitSeen = 0;

  /** Checked after every input (TigerBeetle style): cheap, and always on. */
  checkInvariants(): void {
    assert(
      this.term >= this.termSeen,
      () => `term went back from ${this.termSeen} to ${this.term}`,
    );
    assert(this.log.committed >= this.commitSeen, "commit went back");
    this.termSeen = this.term;
    this.commitSeen = this.log.committed;
    assert(this.log.applied <= this.log.committed, "applied is at most commit");
    assert(this.log.committed <= this.log.lastIndex(), "commit is at most the last index");
    assert(this.lead === "" || this.voters.includes(this.lead), "the leader is a voter");
    assert(!this.recovering || this.role === Role.Follower, "a recovering node only follows");
    if (this.role === Role.Leader) {
      assert(this.lead === this.id && this.vote === this.id, "a leader voted for itself");
      const self = this.progress.get(this.id)!;
      assert(self.match <= this.log.persistedLastIndex(), "a leader counts only what it persisted");
    }
    if (this.role === Role.Candidate) assert(this.vote === this.id, "a candidate votes for itself");
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  quorum(): number {
    return Math.floor(this.voters.length / 2) + 1;
  }

  send(m: OutgoingMessage): void {
    // Field by field rather than by spreading defaults: this runs for every message.
    const message: Message = {
      type: m.type,
      from: m.from ?? this.id,
      to: m.to,
      term: m.term ?? this.term,
      logTerm: m.logTerm ?? 0,
      index: m.index ?? 0,
      entries: m.entries ?? [],
      commit: m.commit ?? 0,
      reject: m.reject ?? false,
      rejectHint: m.rejectHint ?? 0,
      context: m.context ?? 0,
    };
    this.msgs.push(m.snapshot === undefined ? message : { ...message, snapshot: m.snapshot });
  }

  // ---- Inputs -------------------------------------------------------------------------------

  tick(): void {
    this.tickFn(this);
  }

  /** Raft §5.2: start an election now (etcd's MsgHup). */
  hup(transfer: boolean): void {
    if (this.role === Role.Leader || this.recovering) return;
    if (this.config.preVote && !transfer) this.campaign("preElection");
    else this.campaign(transfer ? "transfer" : "election");
  }

  step(m: Message): void {
    if (m.to !== this.id || !this.voters.includes(m.from) || m.from === this.id) return;
    if (m.term > this.term && !this.stepHigherTerm(m)) return;
    if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    this.stepFn(this, m);
  }

  /** Returns false if the message is to be ignored. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      // Raft thesis §4.2.3: while a leader is known to be alive, ignore (pre)votes, unless a
      // leadership transfer forced the campaign.
      const force = m.type === MessageType.Vote && m.context === campaignTransferContext;
      const inLease = this.config.checkQuorum && this.lead !== "" &&
        this.electionElapsed < this.config.electionTicks;
      if (!force && inLease) return false;
    }
    // A PreVote never changes our term, nor does a granted PreVote answer (it carries the
    // term the candidate would campaign in).
    if (m.type === MessageType.PreVote) return true;
    if (m.type === MessageType.PreVoteResp && !m.reject) return true;
    const fromLeader = m.type === MessageType.App || m.type === MessageType.Heartbeat ||
      m.type === MessageType.Snap;
    this.becomeFollower(m.term, fromLeader ? m.from : "");
    return true;
  }

  private stepLowerTerm(m: Message): void {
    if (
      (this.config.checkQuorum || this.config.preVote) &&
      (m.type === MessageType.App || m.type === MessageType.Heartbeat)
    ) {
      // A stale leader (cut off, then healed) learns our term from this answer and steps
      // down; without it, with PreVote it would never hear a higher term (thesis §9.6).
      this.send({ type: MessageType.AppResp, to: m.from });
    } else if (m.type === MessageType.PreVote) {
      this.send({ type: MessageType.PreVoteResp, to: m.from, reject: true });
    }
  }

  /** Raft §5.2, §5.4.1: grant at most one vote per term, only to an up-to-date log. */
  private handleVoteRequest(m: Message): void {
    const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
    const canVote = this.vote === m.from || (this.vote === "" && this.lead === "") ||
      (m.type === MessageType.PreVote && m.term > this.term);
    if (canVote && !this.recovering && this.log.isUpToDate(m.index, m.logTerm)) {
      this.send({ type: respType, to: m.from, term: m.term });
      if (m.type === MessageType.Vote) {
        assert(m.term === this.term, "a vote is granted in the current term");
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

  propose(data: Uint8Array): ProposeResult {
    if (this.role !== Role.Leader) return { kind: "notLeader", leader: this.lead };
    if (data.byteLength === 0) {
      return { kind: "dropped", reason: "empty data is reserved for the leader's no-op" };
    }
    if (this.leadTransferee !== "") {
      return { kind: "dropped", reason: "leadership transfer in progress" };
    }
    if (this.log.lastIndex() - this.log.committed >= pendingProposalsMax) {
      return { kind: "dropped", reason: "too many uncommitted entries" };
    }
    this.appendEntries([data]);
    // Sent at the next Ready, so proposals made between two Readys share one append per
    // follower (the host's group commit), instead of one message each.
    this.appendsPending = true;
    return { kind: "proposed", index: this.log.lastIndex(), term: this.term };
  }

  readIndex(context: number): void {
    if (this.role === Role.Leader) this.leaderReadIndex(this.id, context);
    else if (this.role === Role.Follower && this.lead !== "") {
      this.send({ type: MessageType.ReadIndex, to: this.lead, context });
    }
    // Without a leader the request is dropped; the host times it out and retries.
  }

  transferLeader(to: NodeId): void {
    if (!this.voters.includes(to)) return;
    if (this.role === Role.Leader) this.leaderTransfer(to);
    else if (to === this.id && this.role === Role.Follower && this.lead !== "") {
      // A follower can ask for leadership itself; the leader sees the request from it.
      this.send({ type: MessageType.TransferLeader, to: this.lead });
    }
  }

  reportUnreachable(id: NodeId): void {
    const pr = this.role === Role.Leader ? this.progress.get(id) : undefined;
    if (pr !== undefined && pr.state === ProgressState.Replicate) pr.becomeProbe();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.role === Role.Leader ? this.progress.get(id) : undefined;
    if (pr === undefined || pr.state !== ProgressState.Snapshot) return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the next heartbeat answer before probing: the follower may still be busy.
    pr.probeSent = true;
  }

  /**
   * On the leader: `id` lost its storage (the host knows it by its store id), so what its
   * progress says it holds is gone. Start over from a probe, as for a new follower: its
   * answers then bring it entries or a snapshot from wherever its log now ends. Commits made
   * stay made; only new ones stop counting on what it held.
   */
  forgetFollower(id: NodeId): void {
    if (this.role !== Role.Leader || id === this.id || !this.progress.has(id)) return;
    const { inflightMessagesMax, inflightBytesMax } = this.config;
    const fresh = new Progress(0, this.log.lastIndex() + 1, inflightMessagesMax, inflightBytesMax);
    this.progress.set(id, fresh);
    if (this.leadTransferee === id) this.leadTransferee = "";
  }

  // ---- Role changes -------------------------------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      assert(term > this.term, () => `term goes back from ${this.term} to ${term}`);
      this.term = term;
      this.vote = "";
    }
    this.lead = "";
    this.leaderAppCommit = 0;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = "";
    this.votes.clear();
    const lastIndex = this.log.lastIndex();
    this.progress = new Map();
    for (const id of this.voters) {
      // Our own match is what is on our disk: the leader counts itself toward a commit only
      // for entries it has persisted (Raft thesis §10.2.1), since it sends before persisting.
      const match = id === this.id ? this.log.persistedLastIndex() : 0;
      this.progress.set(
        id,
        new Progress(
          match,
          lastIndex + 1,
          this.config.inflightMessagesMax,
          this.config.inflightBytesMax,
        ),
      );
    }
    this.readOnly.reset();
    this.pendingReads = [];
    this.appendsPending = false;
    this.heartbeatPending = false;
  }

  /** Sends what propose() and readIndex() deferred; RawNode calls it before a Ready. */
  flushPending(): void {
    if (this.role === Role.Leader && this.appendsPending) this.bcastAppend();
    if (this.role === Role.Leader && this.heartbeatPending) this.bcastHeartbeat();
    this.appendsPending = false;
    this.heartbeatPending = false;
  }

  private resetRandomizedElectionTimeout(): void {
    const base = this.config.electionTicks;
    this.randomizedElectionTimeout = base + this.config.random.int(base);
    assert(this.randomizedElectionTimeout >= base, "election timeout is at least electionTicks");
    assert(this.randomizedElectionTimeout < 2 * base, "election timeout is below 2x");
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.stepFn = stepFollower;
    this.tickFn = tickElection;
    this.reset(term);
    this.lead = lead;
    this.role = Role.Follower;
  }

  private becomePreCandidate(): void {
    assert(this.role !== Role.Leader, "a leader does not campaign");
    // Pre-vote changes neither term nor vote (Raft thesis §9.6).
    this.stepFn = stepCandidate;
    this.tickFn = tickElection;
    this.votes.clear();
    this.lead = "";
    this.resetRandomizedElectionTimeout();
    this.role = Role.PreCandidate;
  }

  private becomeCandidate(): void {
    assert(this.role !== Role.Leader, "a leader does not campaign");
    this.stepFn = stepCandidate;
    this.tickFn = tickElection;
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  becomeLeader(): void {
    assert(this.role === Role.Candidate, "only a candidate becomes leader");
    this.stepFn = stepLeader;
    this.tickFn = tickHeartbeat;
    this.reset(this.term);
    this.lead = this.id;
    this.role = Role.Leader;
    const self = this.progress.get(this.id)!;
    self.becomeReplicate();
    self.recentActive = true;
    // Raft §5.4.2, §8: an empty entry of the new term lets the leader commit what earlier
    // leaders left, and tells it (once committed) that it knows every committed entry.
    this.appendEntries([emptyData]);
  }

  campaign(kind: CampaignKind): void {
    const pre = kind === "preElection";
    if (pre) this.becomePreCandidate();
    else this.becomeCandidate();
    if (this.poll(this.id, true) === "won") {
      if (pre) this.campaign("election");
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.voters) {
      if (id === this.id) continue;
      this.send({
        type: pre ? MessageType.PreVote : MessageType.Vote,
        to: id,
        // A pre-vote asks about the term we would campaign in, without entering it.
        term: pre ? this.term + 1 : this.term,
        index: lastIndex,
        logTerm: lastTerm,
        context: kind === "transfer" ? campaignTransferContext : 0,
      });
    }
  }

  poll(from: NodeId, granted: boolean): VoteResult {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    let yes = 0;
    let no = 0;
    for (const vote of this.votes.values()) {
      if (vote) yes++;
      else no++;
    }
    if (yes >= this.quorum()) return "won";
    if (this.voters.length - no < this.quorum()) return "lost";
    return "pending";
  }

  // ---- Leader -------------------------------------------------------------------------------

  appendEntries(datas: readonly Uint8Array[]): void {
    const lastIndex = this.log.lastIndex();
    const entries: Entry[] = datas.map((data, i) => ({
      term: this.term,
      index: lastIndex + 1 + i,
      data,
    }));
    this.log.append(entries);
    // Not yet our own match: these entries count toward a commit once persisted (onPersisted).
    this.maybeCommit();
  }

  /**
   * The host persisted entries through `persisted`: a leader now counts them as its own
   * (Raft thesis §10.2.1: the leader writes its log in parallel with replicating it).
   */
  onPersisted(): void {
    if (this.role !== Role.Leader) return;
    const self = this.progress.get(this.id)!;
    if (!self.maybeUpdate(this.log.persistedLastIndex())) return;
    if (this.maybeCommit()) {
      this.releasePendingReads();
      this.bcastAppend();
    }
  }

  /** Raft §5.4.2: the highest index a majority has, if it is of this term, is committed. */
  maybeCommit(): boolean {
    const matches = this.voters.map((id) => this.progress.get(id)!.match).sort((a, b) => b - a);
    const quorumIndex = matches[this.quorum() - 1]!;
    const before = this.log.committed;
    const committed = this.log.maybeCommit(quorumIndex, this.term);
    assert(this.log.committed >= before, "commit never goes back");
    return committed;
  }

  committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  bcastAppend(): void {
    this.appendsPending = false;
    for (const id of this.voters) if (id !== this.id) this.sendAppend(id);
  }

  bcastHeartbeat(): void {
    this.heartbeatPending = false;
    const context = this.readOnly.lastPendingSeq();
    for (const id of this.voters) {
      if (id === this.id) continue;
      const pr = this.progress.get(id)!;
      // Never tell a follower to commit past what it is known to have.
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: MessageType.Heartbeat, to: id, commit, context });
    }
  }

  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /** Sends entries (or a snapshot) to `to` if its flow control allows; true if sent. */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to)!;
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const entries = this.log.entriesFrom(
      pr.next,
      this.config.entriesPerMessageMax,
      entriesBytesPerMessageMax,
    );
    if (entries !== undefined && entries.length === 0 && !sendIfEmpty) return false;
    if (prevTerm === undefined || entries === undefined) return this.sendSnapshot(to, pr);
    this.send({
      type: MessageType.App,
      to,
      index: prevIndex,
      logTerm: prevTerm,
      entries,
      commit: this.log.committed,
    });
    const last = entries[entries.length - 1];
    if (pr.state === ProgressState.Replicate && last !== undefined) {
      pr.optimisticUpdate(last.index);
      pr.inflights.add(last.index, entriesBytes(entries));
    } else if (pr.state === ProgressState.Probe) {
      pr.probeSent = true;
    }
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    // Only to a follower we know is alive: a snapshot is large.
    if (!pr.recentActive) return false;
    const snapshot = this.log.snapshot();
    assert(snapshot.metadata.index > 0, "entries are compacted only behind a snapshot");
    pr.becomeSnapshot(snapshot.metadata.index);
    this.send({ type: MessageType.Snap, to, snapshot });
    return true;
  }

  sendTimeoutNow(to: NodeId): void {
    this.send({ type: MessageType.TimeoutNow, to });
  }

  leaderTransfer(transferee: NodeId): void {
    if (this.leadTransferee !== "") {
      if (this.leadTransferee === transferee) return;
      this.leadTransferee = "";
    }
    if (transferee === this.id) return;
    // Raft thesis §3.10: stop taking proposals, bring the target up to date, then tell it to
    // campaign at once. The transfer is abandoned after an election timeout.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    const pr = this.progress.get(transferee)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  leaderReadIndex(from: NodeId, context: number): void {
    if (this.voters.length === 1) {
      this.answerRead(from, context, this.log.committed);
      return;
    }
    // Raft thesis §6.4: until it commits an entry of its term, a new leader may not know
    // the latest commit index, so reads wait.
    if (!this.committedEntryInCurrentTerm()) {
      if (this.pendingReads.length < readsPendingMax) this.pendingReads.push({ from, context });
      return;
    }
    this.startReads([{ from, context }]);
  }

  /** Registers reads at the current commit index and confirms leadership with a heartbeat. */
  private startReads(reads: readonly { from: NodeId; context: number }[]): void {
    if (reads.length === 0) return;
    for (const read of reads) {
      const request = this.readOnly.add(this.log.committed, read.from, read.context);
      this.readOnly.recvAck(this.id, request.seq);
    }
    this.heartbeatPending = true;
  }

  releasePendingReads(): void {
    if (!this.committedEntryInCurrentTerm()) return;
    const reads = this.pendingReads;
    this.pendingReads = [];
    this.startReads(reads);
  }

  answerRead(from: NodeId, context: number, index: number): void {
    if (from === this.id) this.readStates.push({ index, context });
    else this.send({ type: MessageType.ReadIndexResp, to: from, index, context });
  }

  /**
   * A snapshot whose fate the host never reported (lost on the way, or its answer lost)
   * would pause the follower forever: after a while, probe it again (etcd relies on
   * ReportSnapshot alone).
   */
  tickSnapshots(): void {
    const limit = snapshotRetryElections * this.config.electionTicks;
    for (const pr of this.progress.values()) {
      if (pr.state !== ProgressState.Snapshot) continue;
      pr.snapshotElapsedTicks++;
      if (pr.snapshotElapsedTicks < limit) continue;
      pr.pendingSnapshot = 0;
      pr.becomeProbe();
    }
  }

  checkQuorum(): void {
    let active = 0;
    for (const id of this.voters) {
      if (id === this.id || this.progress.get(id)!.recentActive) active++;
    }
    if (active < this.quorum()) {
      this.becomeFollower(this.term, "");
      return;
    }
    for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
  }

  handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      const hint = m.logTerm > 0
        ? this.log.findConflictByTerm(m.rejectHint, m.logTerm).index
        : m.rejectHint;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === ProgressState.Probe) pr.becomeReplicate();
    else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Replicate) pr.inflights.freeLE(m.index);

    if (this.maybeCommit()) {
      this.releasePendingReads();
      this.bcastAppend();
    } else if (wasPaused) {
      this.sendAppend(m.from);
    }
    // Flow control may now allow several messages at once (pipelining): send them.
    for (let i = 0; i < this.config.inflightMessagesMax; i++) {
      if (!this.maybeSendAppend(m.from, false)) break;
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.sendTimeoutNow(m.from);
    }
  }

  handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    // A lost append would otherwise keep a full pipeline blocked forever.
    if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
    if (m.context === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === undefined || acks.size < this.quorum()) return;
    for (const read of this.readOnly.advance(m.context)) {
      this.answerRead(read.from, read.context, read.index);
    }
  }

  // ---- Follower -----------------------------------------------------------------------------

  /** Raft §5.3: accept entries that extend a matching prefix; reject with a hint otherwise. */
  handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ type: MessageType.AppResp, to: m.from, index: lastNew });
      return;
    }
    const probe = Math.min(m.index, this.log.lastIndex());
    const hint = this.log.findConflictByTerm(probe, m.logTerm);
    this.send({
      type: MessageType.AppResp,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: MessageType.HeartbeatResp, to: m.from, context: m.context });
  }

  handleSnapshot(m: Message): void {
    assert(m.snapshot !== undefined, "a snapshot message carries a snapshot");
    const restored = this.restore(m.snapshot);
    const index = restored ? this.log.lastIndex() : this.log.committed;
    this.send({ type: MessageType.AppResp, to: m.from, index });
  }

  private restore(snapshot: Snapshot): boolean {
    const { index, term } = snapshot.metadata;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // We already have the snapshot's last entry: just commit up to it (Raft §7).
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    return true;
  }
}

// ---- Step and tick functions, swapped with the role ------------------------------------------

function stepLeader(r: Raft, m: Message): void {
  if (m.type === MessageType.ReadIndex) {
    r.leaderReadIndex(m.from, m.context);
    return;
  }
  if (m.type === MessageType.TransferLeader) {
    r.leaderTransfer(m.from);
    return;
  }
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  if (m.type === MessageType.AppResp) r.handleAppendResponse(m, pr);
  else if (m.type === MessageType.HeartbeatResp) r.handleHeartbeatResponse(m, pr);
}

function stepCandidate(r: Raft, m: Message): void {
  const respType = r.role === Role.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
  switch (m.type) {
    case MessageType.App:
    case MessageType.Heartbeat:
    case MessageType.Snap:
      // Raft §5.2: a leader of our term exists; follow it.
      r.becomeFollower(m.term, m.from);
      stepFollower(r, m);
      return;
    case respType: {
      const result = r.poll(m.from, !m.reject);
      if (result === "won") {
        if (r.role === Role.PreCandidate) r.campaign("election");
        else {
          r.becomeLeader();
          r.bcastAppend();
        }
      } else if (result === "lost") {
        r.becomeFollower(r.term, "");
      }
      return;
    }
  }
}

function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.App:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.leaderAppCommit = Math.max(r.leaderAppCommit, m.commit);
      r.handleAppendEntries(m);
      return;
    case MessageType.Heartbeat:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleHeartbeat(m);
      return;
    case MessageType.Snap:
      r.electionElapsed = 0;
      r.lead = m.from;
      r.handleSnapshot(m);
      return;
    case MessageType.TimeoutNow:
      // Raft thesis §3.10: the leader hands over; campaign now, skipping pre-vote.
      r.hup(true);
      return;
    case MessageType.ReadIndexResp:
      r.readStates.push({ index: m.index, context: m.context });
      return;
  }
}

function tickElection(r: Raft): void {
  r.electionElapsed++;
  if (r.electionElapsed >= r.randomizedElectionTimeout) {
    r.electionElapsed = 0;
    r.hup(false);
  }
}

function tickHeartbeat(r: Raft): void {
  r.heartbeatElapsed++;
  r.electionElapsed++;
  if (r.electionElapsed >= r.config.electionTicks) {
    r.electionElapsed = 0;
    if (r.config.checkQuorum) r.checkQuorum();
    if (r.role === Role.Leader) r.leadTransferee = "";
  }
  if (r.role !== Role.Leader) return;
  r.tickSnapshots();
  if (r.heartbeatElapsed >= r.config.heartbeatTicks) {
    r.heartbeatElapsed = 0;
    r.bcastHeartbeat();
  }
}

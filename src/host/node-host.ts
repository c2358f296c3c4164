/**
 * The synchronous host of one node: it drives every Raft group, and turns their output into
 * port calls in the order of the Ready contract (raw-node.ts), for all groups at once:
 *
 *   apply committed entries already durable here → answer their clients
 *   → send a leader's appends and heartbeats (one frame per peer, more if they outgrow the
 *     frame budget)
 *   → persist entries and hard state of ALL groups (one transaction, one fsync)
 *   → send the other messages (likewise)
 *   → apply the other committed entries → answer clients.
 *
 * Asserted as it runs: no vote or acknowledgement leaves before the write that carries what it
 * promises, and a client is never answered for an entry that is not both committed and on
 * this node's disk.
 *
 * It never awaits and reads time only through the Clock port, so the deterministic simulator
 * drives this same code with simulated adapters. The runtime calls `tick()` on a timer,
 * `receive()` for peer frames, `submit()` for client requests, and `flush()` after each burst.
 */
import { assert } from "../assert.ts";
import {
  balanceBackoffMax,
  balanceStableTicks,
  balanceTicks,
  compactionLagEntries,
  electionTicks,
  entriesPerMessageMax,
  flushRoundsMax,
  forwardsRememberedMax,
  heartbeatTicks,
  inflightBytesMax,
  inflightMessagesMax,
  peerFrameBytesMax,
  proposalTimeoutTicks,
  recoveryWaitTicks,
  snapshotEntries,
  sweepGraceMsDefault,
  sweepGraceMsMax,
  tickMs,
  waitersPerNodeMax,
} from "../constants.ts";
import { LockMachine } from "../locks/lock-machine.ts";
import { newWatchBudget } from "./watches.ts";
import { Durability, type LockRequest, type LockResponse, waitMsOf } from "../locks/types.ts";
import { FrameBuilder } from "../multiraft/frame-builder.ts";
import {
  type Answer,
  type Cancel,
  type ChunkAck,
  decodePeerFrame,
  type Forward,
  type SnapshotChunk,
} from "../multiraft/peer-frame.ts";
import { groupOf } from "../multiraft/partition.ts";
import type { Clock } from "../ports/clock.ts";
import type { GroupWrite, LogStore, NodeState } from "../ports/log-store.ts";
import type { Random } from "../ports/random.ts";
import type { Transport } from "../ports/transport.ts";
import { MemoryStorage } from "../raft/memory-storage.ts";
import { RawNode, type Ready } from "../raft/raw-node.ts";
import { type Message, MessageType, type NodeId, Role } from "../raft/types.ts";
import { GroupHost, type WaitTicket } from "./group-host.ts";
import type { HostEvent, HostEvents } from "./host-events.ts";
import { HostMetrics, isCommitAnswer } from "./metrics.ts";
import type { LineTrace, WaitBudget } from "./wait-queue.ts";
import type { PrometheusText } from "../metrics/text-format.ts";
import { indeterminate, mustRetry, type Reply } from "./replies.ts";
import { type SnapshotProgress, SnapshotReceiver, SnapshotSender } from "./snapshot-transfer.ts";

/** What a node records of a peer's store: how many times it changed, and its id. */
type StoreRecord = { readonly gen: number; readonly store: string };

function parseRecord(text: string | undefined): StoreRecord | undefined {
  if (text === undefined) return undefined;
  const slash = text.indexOf("/");
  const gen = Number(text.slice(0, slash));
  if (slash < 1 || !Number.isSafeInteger(gen) || gen < 0) return undefined;
  return { gen, store: text.slice(slash + 1) };
}

/** Starts of one store an incarnation number counts (2^21, beside 28 bits of store id). */
const incarnationStartsMax = 2 ** 21;

/** 16 hex digits from the Random port (so the simulator's runs stay deterministic). */
function randomStoreId(random: Random): string {
  let id = "";
  for (let i = 0; i < 4; i++) id += random.int(0x10000).toString(16).padStart(4, "0");
  return id;
}

/** A persistent tryLock, extend or unlock: what commits through Raft. */
function isPersistentChange(request: LockRequest): boolean {
  return request.durability === Durability.Persistent && request.op !== "get" &&
    request.op !== "watch";
}

/** Messages a leader may send before it persists the Ready they come with (contract step 2). */
function sentBeforePersist(message: Message): boolean {
  return message.type === MessageType.App || message.type === MessageType.Heartbeat ||
    message.type === MessageType.Snap;
}

/**
 * Asserts that what a message promises about this node's disk is there (contract step 4): the
 * in-memory mirror follows the disk, never leads it, so it stands for what is durable. A
 * promise made in a term this node has since left durably needs no more: it can never vote
 * in that term again, and a newer leader may rewrite the entries it acknowledged then.
 */
function assertDurable(group: GroupHost, message: Message): void {
  if (message.reject) return;
  const isAck = message.type === MessageType.AppResp;
  if (!isAck && message.type !== MessageType.VoteResp) return;
  const stored = group.storage.initialState().hardState;
  if (stored.term > message.term) return;
  assert(stored.term === message.term, "a response never speaks for a term not yet on disk");
  if (isAck) {
    assert(
      group.storage.lastIndex() >= message.index,
      "an append acknowledgement leaves only once its entries are on disk",
    );
  } else {
    assert(stored.vote === message.to, "a vote leaves only once it is on disk");
  }
}

export type HostConfig = {
  readonly nodeId: NodeId;
  readonly voters: readonly NodeId[];
  readonly groups: number;
  readonly logStore: LogStore;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  /** Snapshot every this many applied entries (default snapshotEntries); tests lower it. */
  readonly snapshotEntries?: number;
  /** Entries kept behind a snapshot (default compactionLagEntries); tests lower it. */
  readonly compactionLagEntries?: number;
  /** The first forward sequence number of this incarnation (default 1); tests raise it. */
  readonly firstForwardSequence?: number;
  /** How long a released or expired lock's record is kept (default sweepGraceMsDefault). */
  readonly sweepGraceMs?: number;
  /** Where the host reports elections, leader changes and snapshots; by default nowhere. */
  readonly events?: HostEvents;
  /** Waiters this node's lines may hold together (default waitersPerNodeMax); tests lower it. */
  readonly waitersMax?: number;
  /** Told what the lines do, for the simulator's order checker; by default nothing. */
  readonly lineTrace?: LineTrace;
  /**
   * A fine monotonic reading in seconds, for durations in the metrics only (nothing the host
   * decides depends on it); by default the Clock's whole milliseconds.
   */
  readonly metricsSeconds?: () => number;
};

type Outbox = { forwards: Forward[]; answers: Answer[]; acks: ChunkAck[]; cancels: Cancel[] };

type PendingForward = {
  readonly to: NodeId;
  readonly request: LockRequest;
  readonly reply: Reply;
  readonly tick: number;
  /** Ticks to wait for the answer: longer for a TryLock that waits in line. */
  readonly timeoutTicks: number;
};

export type GroupStatus = {
  readonly group: number;
  readonly role: string;
  readonly leader: NodeId;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  /** Records kept on this node: held locks, and released or expired ones not yet swept. */
  readonly records: number;
  /**
   * Locks held now, persistent and ephemeral: only the leader knows (its clock is the base),
   * and only when asked (`groupStatuses({ locks: true })`).
   */
  readonly locks?: number;
  /**
   * On the leader, and only when asked (`groupStatuses({ replicas: true })`): each voter's
   * match index and how many entries of the leader's log it lacks (`lag`).
   */
  readonly replicas?: readonly ReplicaStatus[];
  /** Only while this node recovers the group after losing its storage. */
  readonly recovering?: true;
  /** Only while this node receives a snapshot for the group, in chunks. */
  readonly snapshotReceiving?: SnapshotProgress;
};

export type ReplicaStatus = {
  readonly id: NodeId;
  readonly match: number;
  readonly lag: number;
};

export class NodeHost {
  readonly nodeId: NodeId;
  readonly voters: readonly NodeId[];
  readonly metrics: HostMetrics;
  private readonly emit: HostEvents;
  private readonly seconds: () => number;
  private readonly groups: GroupHost[] = [];
  private readonly snapshotEntries: number;
  private readonly compactionLagEntries: number;
  private readonly sweepGraceMs: number;
  private ticks = 0;
  /**
   * A forward is named by this start's incarnation (the log store counts starts, salted with
   * the store's id) and a sequence number within it, so names never repeat across restarts,
   * nor across a lost disk, however many forwards each start makes.
   */
  private readonly incarnation: number;
  private nextForwardSequence: number;
  /**
   * Forwards this node ran as leader, by sender, incarnation and sequence, with their answers
   * once known, so a frame delivered twice runs its requests once (the duplicate gets the same
   * answer).
   */
  private readonly forwardsRun = new Map<
    string,
    { tick: number; response: LockResponse | undefined }
  >();
  /** Forwards waiting in this node's lines, by the same name, until answered: for cancels. */
  private readonly forwardsWaiting = new Map<string, WaitTicket>();
  /** Requests this node forwarded to a leader, by sequence, until the answer comes back. */
  private readonly forwarded = new Map<number, PendingForward>();
  /** The waiters of this node's lines, shared by its groups. */
  private readonly waitBudget: WaitBudget;
  private readonly watchBudget = newWatchBudget();
  /** TryLocks that wait, by the caller's reply, until answered: `cancel` takes them out. */
  private readonly waitTickets = new Map<Reply, WaitTicket>();
  /** What the next flush sends each peer besides Raft messages and snapshot chunks. */
  private readonly outbox = new Map<NodeId, Outbox>();
  private readonly snapshotsOut = new SnapshotSender();
  private readonly snapshotsIn: SnapshotReceiver;
  /** This node's store id, the store ids it accepts from its peers, its recovering groups. */
  private nodeState: NodeState;
  /** When the current recovery began (ticks of this start), and groups done but not stored. */
  private recoveryStartTick = 0;
  private readonly recoveriesEnded = new Set<number>();
  /** Per group this node leads, its transfers toward the preferred node and the next try. */
  private readonly balanceTries = new Map<number, { failures: number; retryAtTick: number }>();
  /** Per peer, the tick since which we have heard from it without a gap, and the last one. */
  private readonly heard = new Map<NodeId, { since: number; last: number }>();

  constructor(private readonly config: HostConfig) {
    assert(config.voters.includes(config.nodeId), `node ${config.nodeId} must be a voter`);
    assert(config.groups >= 1, "a node needs at least one group");
    this.nodeId = config.nodeId;
    this.voters = [...config.voters].sort();
    this.metrics = new HostMetrics(this.nodeId, this.voters, config.groups);
    this.emit = config.events ?? (() => {});
    this.seconds = config.metricsSeconds ?? (() => config.clock.nowMs() / 1000);
    this.nodeState = config.logStore.nodeState();
    if (this.nodeState.storeId === "") {
      this.nodeState = { ...this.nodeState, storeId: randomStoreId(config.random) };
      config.logStore.setNodeState(this.nodeState);
    }
    // The store's count of starts, salted with its id: a node whose storage was lost counts
    // from 1 again, and its new forwards must not be taken for its old ones.
    const starts = config.logStore.nextIncarnation();
    assert(
      Number.isSafeInteger(starts) && starts >= 1 && starts < incarnationStartsMax,
      `incarnation ${starts} is a positive integer below ${incarnationStartsMax}`,
    );
    this.incarnation = parseInt(this.nodeState.storeId.slice(0, 7), 16) * incarnationStartsMax +
      starts;
    this.nextForwardSequence = config.firstForwardSequence ?? 1;
    this.waitBudget = { used: 0, max: config.waitersMax ?? waitersPerNodeMax };
    this.snapshotsIn = new SnapshotReceiver(this.nodeId);
    this.snapshotEntries = config.snapshotEntries ?? snapshotEntries;
    this.compactionLagEntries = config.compactionLagEntries ?? compactionLagEntries;
    this.sweepGraceMs = config.sweepGraceMs ?? sweepGraceMsDefault;
    assert(
      Number.isInteger(this.sweepGraceMs) && this.sweepGraceMs >= 0 &&
        this.sweepGraceMs <= sweepGraceMsMax,
      `sweepGraceMs must be an integer from 0 to ${sweepGraceMsMax}`,
    );
    const recovering = new Set(this.nodeState.recovering);
    for (let group = 0; group < config.groups; group++) {
      this.groups.push(this.openGroup(group, recovering.has(group)));
    }
    // A group of one voter need not wait an election timeout to lead itself.
    if (this.voters.length === 1) { for (const group of this.groups) group.raft.campaign(); }
  }

  private openGroup(group: number, recovering: boolean): GroupHost {
    const state = this.config.logStore.load(group);
    const storage = new MemoryStorage(this.voters);
    let machine = new LockMachine();
    if (state.snapshot !== undefined) {
      storage.applySnapshot(state.snapshot);
      const restored = LockMachine.restore(state.snapshot.data);
      if ("error" in restored) {
        throw new Error(`snapshot of partition ${group} on disk is unreadable: ${restored.error}`);
      }
      machine = restored;
    }
    storage.append(state.entries);
    storage.setHardState(state.hardState);
    const raft = new RawNode({
      id: this.nodeId,
      electionTicks,
      heartbeatTicks,
      random: this.config.random,
      preVote: true,
      checkQuorum: true,
      inflightMessagesMax,
      inflightBytesMax,
      entriesPerMessageMax,
      applied: state.snapshot?.metadata.index ?? 0,
      recovering,
    }, storage);
    return new GroupHost(
      group,
      raft,
      storage,
      machine,
      this.sweepGraceMs,
      this.waitBudget,
      this.watchBudget,
      this.config.lineTrace,
    );
  }

  groupCount(): number {
    return this.groups.length;
  }

  /** Watch requests waiting on this node, and the locks it watches (docs/spec.md §2.6). */
  watching(): { polls: number; locks: number } {
    return { ...this.watchBudget };
  }

  /** TryLocks waiting in this node's lines (docs/spec.md §2.5), grants in flight included. */
  waiters(): number {
    return this.waitBudget.used;
  }

  /**
   * Answers a client request: on this node if it leads the request's partition, else by
   * forwarding it to the leader (one hop: a forwarded request is never forwarded again).
   */
  submit(request: LockRequest, reply: Reply): void {
    const started = this.seconds();
    const waits = waitMsOf(request) > 0;
    const ticket: WaitTicket | undefined = waits ? {} : undefined;
    // Set once route returns; an answer given before then is no commit (nothing was proposed).
    let proposedHere = false;
    if (ticket !== undefined) this.waitTickets.set(reply, ticket);
    proposedHere = this.route(
      request,
      (response) => {
        if (ticket !== undefined) this.waitTickets.delete(reply);
        const seconds = this.seconds() - started;
        this.metrics.answered(request, response, seconds);
        if (proposedHere && isPersistentChange(request) && isCommitAnswer(response)) {
          this.metrics.committed(seconds);
        }
        reply(response);
      },
      false,
      ticket,
    );
  }

  /**
   * The client of a TryLock that waits went away: its request leaves the line (or, when it
   * was forwarded, this node stops waiting for the answer) and `reply` is never called. A
   * grant already being committed for it may still happen; its lease then runs out.
   */
  cancel(reply: Reply): void {
    const ticket = this.waitTickets.get(reply);
    if (ticket === undefined) return;
    this.waitTickets.delete(reply);
    ticket.cancel?.();
  }

  /** Runs the request here (true) or forwards it to the partition's leader (false). */
  private route(
    request: LockRequest,
    reply: Reply,
    forwarded: boolean,
    ticket?: WaitTicket,
  ): boolean {
    const group = this.groups[groupOf(request.resource, this.groups.length)];
    assert(group !== undefined, "groupOf stays within the group count");
    if (
      group.role === Role.Leader || forwarded || group.leader === "" || group.leader === this.nodeId
    ) {
      group.dirty = true;
      group.submit(request, reply, this.config.clock.nowMs(), ticket);
      return true;
    }
    const id = this.nextForwardSequence++;
    assert(Number.isSafeInteger(id), "forward sequence numbers stay safe integers");
    const waitMs = waitMsOf(request);
    const timeoutTicks = proposalTimeoutTicks + Math.ceil(waitMs / tickMs);
    this.forwarded.set(id, { to: group.leader, request, reply, tick: this.ticks, timeoutTicks });
    if (ticket !== undefined) {
      // The leader is told too, so the request leaves its line there.
      const to = group.leader;
      ticket.cancel = () => {
        if (!this.forwarded.delete(id)) return;
        this.outboxFor(to).cancels.push({ incarnation: this.incarnation, id });
      };
    }
    this.outboxFor(group.leader).forwards.push({ incarnation: this.incarnation, id, request });
    this.metrics.forwarded += 1;
    return false;
  }

  private hear(peer: NodeId): void {
    const heard = this.heard.get(peer);
    if (heard === undefined || this.ticks - heard.last > electionTicks) {
      this.heard.set(peer, { since: this.ticks, last: this.ticks });
    } else {
      heard.last = this.ticks;
    }
  }

  /**
   * Spreads leaders over the nodes (docs/architecture.md): group g prefers voter g mod n. A
   * leader hands a group back to its preferred node once that node has been heard from
   * steadily and its Raft progress shows it caught up and answering (a node this leader
   * cannot reach, under a one-way cut, never is), so a node that returns after a failover
   * gets its share back. A transfer that did not happen (this node still leads at the next
   * look) doubles the wait before the next try, up to balanceBackoffMax rounds: each try
   * holds the group's proposals for up to an election timeout.
   */
  private balanceLeaders(): void {
    for (const group of this.groups) {
      if (group.role !== Role.Leader || !group.isServing()) {
        this.balanceTries.delete(group.id);
        continue;
      }
      const preferred = this.voters[group.id % this.voters.length]!;
      if (preferred === this.nodeId) continue;
      const tries = this.balanceTries.get(group.id);
      if (tries !== undefined && this.ticks < tries.retryAtTick) continue;
      const heard = this.heard.get(preferred);
      if (heard === undefined || this.ticks - heard.last > heartbeatTicks * 2) continue;
      if (heard.last - heard.since < balanceStableTicks) continue;
      if (!group.raft.followerReady(preferred)) continue;
      const failures = tries?.failures ?? 0;
      const waitRounds = Math.min(2 ** failures, balanceBackoffMax);
      this.balanceTries.set(group.id, {
        failures: failures + 1,
        retryAtTick: this.ticks + waitRounds * balanceTicks,
      });
      group.dirty = true;
      group.raft.transferLeader(preferred);
    }
  }

  /**
   * Right after start, a node stands for the groups it prefers that have no leader yet, before
   * the randomized timeouts elect someone else: leaders then start where balance would move
   * them, and no transfer (with its ephemeral pause) follows. PreVote makes a try while the
   * peers are still starting, or already follow a leader, harmless.
   */
  private campaignPreferred(): void {
    if (this.voters.length === 1) return;
    for (const group of this.groups) {
      if (group.leader !== "" || this.voters[group.id % this.voters.length] !== this.nodeId) {
        continue;
      }
      group.dirty = true;
      group.raft.campaign();
    }
  }

  private outboxFor(peer: NodeId): Outbox {
    let box = this.outbox.get(peer);
    if (box === undefined) {
      box = { forwards: [], answers: [], acks: [], cancels: [] };
      this.outbox.set(peer, box);
    }
    return box;
  }

  /** A forwarded request that got no answer: unknown for a write, retryable for a read. */
  private failForward(forward: PendingForward, why: string): void {
    const write = forward.request.op !== "get" && forward.request.op !== "watch";
    forward.reply(
      write ? indeterminate(`${why}; retry with the same owner`) : mustRetry(`${why}; retry`),
    );
  }

  /**
   * `group` has a known leader, `leader`: requests forwarded for that group to another node
   * will most likely never be answered (it crashed, or was deposed). Their clients get an
   * answer now, to retry with the new leader, instead of after the forward's timeout.
   *
   * Only once another leader is *known*, never when this node merely lost sight of the old one
   * (a pre-vote of its own, say): the old leader may still lead, and a forward delayed on the
   * way would then run there after the client, told to retry, had retried and even unlocked,
   * taking the lock again behind its back (fault run seed 1203: an acknowledged unlock
   * undone). A leader other than the one forwarded to leads a later term, and an entry the old
   * one appends in its own term can no longer commit after what the new one commits.
   */
  private leaderKnown(group: number, leader: NodeId): void {
    for (const [id, forward] of this.forwarded) {
      if (forward.to === leader) continue;
      if (groupOf(forward.request.resource, this.groups.length) !== group) continue;
      this.forwarded.delete(id);
      this.failForward(forward, `partition ${group} changed leader from ${forward.to}`);
    }
  }

  tick(): void {
    this.ticks += 1;
    const nowMs = this.config.clock.nowMs();
    for (const group of this.groups) {
      group.dirty = true;
      group.tick();
      group.sweep(nowMs);
      group.serveWaiters(nowMs);
    }
    if (this.ticks % balanceTicks === 0) this.balanceLeaders();
    if (this.groups.some((group) => group.raft.recovering)) this.endRecoveries();
    if (this.ticks <= electionTicks && this.ticks % 2 === 0) this.campaignPreferred();
    this.snapshotsIn.tick(this.ticks);
    for (const [id, forward] of this.forwarded) {
      if (this.ticks - forward.tick < forward.timeoutTicks) continue;
      this.forwarded.delete(id);
      this.failForward(forward, `the leader ${forward.to} did not answer in time`);
    }
    // Remembered forwards are in the order they ran: drop the old ones from the front.
    for (const [key, run] of this.forwardsRun) {
      if (this.ticks - run.tick < 2 * proposalTimeoutTicks) break;
      this.forwardsRun.delete(key);
    }
  }

  /**
   * Takes a frame from a peer: Raft messages are stepped into their groups, forwarded
   * requests are answered (in the next flush's frame), answers go to waiting clients.
   * A malformed frame is refused whole; the runtime then closes that connection.
   */
  receive(frame: Uint8Array): { error: string } | undefined {
    const decoded = decodePeerFrame(frame, this.groups.length);
    if ("error" in decoded) {
      this.metrics.badFrames += 1;
      return decoded;
    }
    const from = decoded.from;
    if (from === this.nodeId || !this.voters.includes(from)) {
      this.metrics.badFrames += 1;
      return { error: `peer frame from ${JSON.stringify(from.slice(0, 64))}, who is not a voter` };
    }
    this.hear(from);
    this.metrics.frameReceived(from, frame.length);
    this.learnStores(from, decoded.stores);
    // Raft state from a peer that lost its storage counts only once it recovers: until then
    // its votes and acknowledgements may speak for a log it no longer has.
    const selfClaim = parseRecord(decoded.stores[from]);
    if (this.acceptStore(from, decoded.store, decoded.recovering, selfClaim)) {
      for (const { group, message } of decoded.envelopes) {
        if (message.to !== this.nodeId || message.from !== from) continue;
        this.step(group, message);
      }
      for (const chunk of decoded.chunks) {
        const refused = this.receiveChunk(from, chunk);
        if (refused !== undefined) return refused;
      }
      for (const ack of decoded.acks) {
        if (!this.snapshotsOut.acknowledged(from, ack, this.ticks)) continue;
        this.metrics.snapshotsSent += 1;
        this.emit({ kind: "snapshotSent", group: ack.group, to: from, index: ack.index });
      }
    }
    for (const { incarnation, id, request } of decoded.forwards) {
      this.runForward(from, `${from}/${incarnation}/${id}`, { incarnation, id }, request);
    }
    for (const { incarnation, id, response } of decoded.answers) {
      if (incarnation !== this.incarnation) continue;
      const forward = this.forwarded.get(id);
      if (forward === undefined || forward.to !== from) continue;
      this.forwarded.delete(id);
      forward.reply(response);
    }
    for (const { incarnation, id } of decoded.cancels) {
      const key = `${from}/${incarnation}/${id}`;
      this.forwardsWaiting.get(key)?.cancel?.();
      this.forwardsWaiting.delete(key);
    }
    return undefined;
  }

  /**
   * Whether `from`'s Raft state may be heard: it speaks from the store id this node first
   * heard from it, or from a new one while it says it is recovering (then the new id is the
   * one accepted from now on). A peer first heard from is accepted as it is.
   */
  private acceptStore(
    from: NodeId,
    store: string,
    recovering: boolean,
    selfClaim: StoreRecord | undefined,
  ): boolean {
    const known = parseRecord(this.nodeState.peerStores[from]);
    if (known?.store === store) return true;
    if (known !== undefined && !recovering) return false;
    // A first store, or a new one (a generation on); the peer's own word for its generation,
    // when it knows it, keeps the count the same on every node.
    const claimed = selfClaim?.store === store ? selfClaim.gen : 0;
    this.adopt(from, { gen: Math.max(claimed, known === undefined ? 0 : known.gen + 1), store });
    return true;
  }

  /**
   * The records a frame carries: this node's own (once a peer has told it its generation) and,
   * unless it is recovering (its records may be stale), those of its peers.
   */
  private storesToSend(): Record<NodeId, string> {
    const recovering = this.nodeState.recovering.length > 0;
    const stores: Record<NodeId, string> = recovering ? {} : { ...this.nodeState.peerStores };
    const ownGen = this.nodeState.storeGen ?? -1;
    if (ownGen >= 0) stores[this.nodeId] = `${ownGen}/${this.nodeState.storeId}`;
    return stores;
  }

  /** Records `peer`'s store; a changed one means whatever it held before is gone. */
  private adopt(peer: NodeId, record: StoreRecord, into?: Record<NodeId, string>): void {
    const known = parseRecord(this.nodeState.peerStores[peer]);
    if (known !== undefined && known.store !== record.store) {
      for (const group of this.groups) {
        group.dirty = true;
        group.raft.forgetFollower(peer);
      }
    }
    const peerStores = into ?? { ...this.nodeState.peerStores };
    peerStores[peer] = `${record.gen}/${record.store}`;
    if (into === undefined) this.setNodeState({ ...this.nodeState, peerStores });
  }

  /**
   * What a peer accepts for the others (`generation/store id` records): one of a later
   * generation than this node's, or for a peer it has none for, is taken (so two followers that
   * never talk know each other's, and a store accepted anew reaches every node). A record for
   * this node of another store, and of a later generation than any record of its own store it
   * has seen, means this node lost its storage: it recovers. (An older one is stale, sent
   * before its sender heard of this store.) A recovering node takes and passes on none.
   */
  private learnStores(from: NodeId, stores: Readonly<Record<NodeId, string>>): void {
    const claim = parseRecord(stores[this.nodeId]);
    const ownGen = this.nodeState.storeGen ?? -1;
    if (claim !== undefined && claim.store === this.nodeState.storeId && claim.gen > ownGen) {
      this.setNodeState({ ...this.nodeState, storeGen: claim.gen });
    } else if (
      claim !== undefined && claim.store !== this.nodeState.storeId && claim.gen > ownGen
    ) {
      this.beginRecovery();
    }
    if (this.nodeState.recovering.length > 0) return;
    let learned: Record<NodeId, string> | undefined;
    for (const [peer, text] of Object.entries(stores)) {
      if (peer === this.nodeId || peer === from || !this.voters.includes(peer)) continue;
      const record = parseRecord(text);
      const known = parseRecord(this.nodeState.peerStores[peer]);
      if (record === undefined || (known !== undefined && record.gen <= known.gen)) continue;
      learned ??= { ...this.nodeState.peerStores };
      this.adopt(peer, record, learned);
    }
    if (learned !== undefined) this.setNodeState({ ...this.nodeState, peerStores: learned });
  }

  /**
   * A peer knows this node by a store id that is not its own: this node lost its storage (or
   * was given another's). Every group recovers: it neither votes nor campaigns until a
   * leader elected without it has re-seeded it (see endRecoveries).
   */
  private beginRecovery(): void {
    if (this.groups.every((group) => group.raft.recovering)) return;
    this.recoveryStartTick = this.ticks;
    this.recoveriesEnded.clear();
    this.setNodeState({ ...this.nodeState, recovering: this.groups.map((group) => group.id) });
    for (const group of this.groups) {
      group.dirty = true;
      if (!group.raft.recovering) group.raft.beginRecovery();
    }
  }

  /**
   * A recovering group is done once this node has waited out every election it might have
   * voted in before it lost its storage, and holds every entry its leader had committed: it
   * then votes again (with a vote for that leader in the current term). The stored list of
   * recovering groups shrinks only after the vote is on disk (see persist).
   */
  private endRecoveries(): void {
    if (this.ticks - this.recoveryStartTick < recoveryWaitTicks) return;
    for (const group of this.groups) {
      if (!group.raft.recoveryCaughtUp()) continue;
      group.raft.endRecovery();
      group.dirty = true;
      this.recoveriesEnded.add(group.id);
    }
  }

  private setNodeState(state: NodeState): void {
    this.config.logStore.setNodeState(state);
    this.nodeState = state;
  }

  private step(group: number, message: Message): void {
    const target = this.groups[group]!;
    target.dirty = true;
    target.raft.step(message);
  }

  /**
   * A chunk of a snapshot the leader streams to us: acknowledged in the next flush, and once
   * the snapshot is whole and readable, stepped into Raft as one Snap message.
   */
  private receiveChunk(from: NodeId, chunk: SnapshotChunk): { error: string } | undefined {
    const status = this.groups[chunk.group]!.raft.status();
    const outcome = this.snapshotsIn.receive(
      from,
      chunk,
      { term: status.term, committed: status.commit },
      this.ticks,
    );
    if (outcome.ack !== undefined) this.outboxFor(from).acks.push(outcome.ack);
    const snapshot = outcome.snap?.snapshot;
    if (snapshot === undefined) return undefined;
    if ("error" in LockMachine.restore(snapshot.data)) {
      this.metrics.badFrames += 1;
      return { error: `snapshot for partition ${chunk.group} from ${from} is unreadable` };
    }
    this.metrics.snapshotsReceived += 1;
    this.emit({
      kind: "snapshotReceived",
      group: chunk.group,
      from,
      index: snapshot.metadata.index,
      bytes: snapshot.data.length,
    });
    this.step(chunk.group, outcome.snap!);
    return undefined;
  }

  private runForward(
    from: NodeId,
    key: string,
    name: { incarnation: number; id: number },
    request: LockRequest,
  ): void {
    const seen = this.forwardsRun.get(key);
    if (seen !== undefined) {
      // A duplicate: answer it again if the answer is known; else the first run answers.
      if (seen.response !== undefined) {
        this.outboxFor(from).answers.push({ ...name, response: seen.response });
      }
      return;
    }
    const run = { tick: this.ticks, response: undefined as LockResponse | undefined };
    const waits = waitMsOf(request) > 0;
    const ticket: WaitTicket | undefined = waits ? {} : undefined;
    if (ticket !== undefined) this.forwardsWaiting.set(key, ticket);
    this.forwardsRun.set(key, run);
    if (this.forwardsRun.size > forwardsRememberedMax) {
      this.forwardsRun.delete(this.forwardsRun.keys().next().value!);
    }
    const started = this.seconds();
    this.route(
      request,
      (response) => {
        if (isPersistentChange(request) && isCommitAnswer(response)) {
          this.metrics.committed(this.seconds() - started);
        }
        run.response = response;
        if (ticket !== undefined) this.forwardsWaiting.delete(key);
        this.outboxFor(from).answers.push({ ...name, response });
      },
      true,
      ticket,
    );
  }

  /** Tells every group that a peer could not be reached, so Raft probes it gently. */
  reportUnreachable(peer: NodeId): void {
    for (const group of this.groups) {
      group.dirty = true;
      group.raft.reportUnreachable(peer);
    }
    for (const [id, forward] of this.forwarded) {
      if (forward.to !== peer) continue;
      this.forwarded.delete(id);
      this.failForward(forward, `the leader ${peer} could not be reached`);
    }
  }

  /** Runs Ready rounds until no group has work, or the round limit (the runtime re-flushes). */
  flush(): boolean {
    const startMs = this.config.clock.nowMs();
    // Only groups that had input since they were last found idle can have work: checking the
    // others' Ready on every flush was a tenth of a busy node's CPU.
    for (const group of this.groups) if (group.dirty) group.proposePending(startMs);
    for (let round = 0; round < flushRoundsMax; round++) {
      const batch: [GroupHost, Ready][] = [];
      for (const group of this.groups) {
        if (!group.dirty) continue;
        if (group.raft.hasReady()) batch.push([group, group.raft.ready()]);
        else group.dirty = false;
      }
      if (batch.length === 0) {
        this.send([], "afterWrite");
        return false;
      }
      const early = batch.map(([group, ready]) => this.applyDurable(group, ready));
      // A leader's appends and heartbeats go out before its own write, so followers persist in
      // parallel with it (Raft thesis §10.2.1); Raft counts the leader's own entries toward a
      // commit only once they are persisted. Every other message (votes, append responses)
      // speaks for what is on this node's disk, so it waits for the write.
      this.send(batch, "beforeWrite");
      this.persist(batch);
      this.send(batch, "afterWrite");
      const nowMs = this.config.clock.nowMs();
      batch.forEach(([group, ready], i) => this.handle(group, ready, early[i]!, nowMs));
      for (const [group, ready] of batch) {
        group.raft.advance(ready);
        group.proposePending(nowMs);
        this.maybeSnapshot(group);
      }
    }
    return true;
  }

  private persist(batch: readonly [GroupHost, Ready][]): void {
    const writes: GroupWrite[] = [];
    let sync = false;
    for (const [group, ready] of batch) {
      if (ready.entries.length === 0 && !ready.hardState && !ready.snapshot) continue;
      const write: { -readonly [K in keyof GroupWrite]: GroupWrite[K] } = {
        group: group.id,
        entries: ready.entries,
      };
      if (ready.hardState) write.hardState = ready.hardState;
      if (ready.snapshot) write.snapshot = ready.snapshot;
      writes.push(write);
      sync ||= ready.mustSync;
    }
    // Writes that need no sync only move a commit index, which Raft does not need on disk (a
    // restarted node learns it again from its leader, or commits anew with its own no-op):
    // they wait to ride along with the next write that syncs, so the single-node path costs
    // one fsync per batch, not two.
    if (writes.length > 0 && sync) {
      const started = this.seconds();
      this.config.logStore.save(writes);
      this.metrics.fsynced(this.seconds() - started);
      if (this.recoveriesEnded.size > 0) {
        // The votes endRecovery recorded are on disk now: those groups stop recovering.
        const recovering = this.nodeState.recovering.filter((g) => !this.recoveriesEnded.has(g));
        this.recoveriesEnded.clear();
        this.setNodeState({ ...this.nodeState, recovering });
      }
    }
    // The in-memory mirror follows the disk, never leads it.
    for (const [group, ready] of batch) {
      if (ready.snapshot) group.storage.applySnapshot(ready.snapshot);
      if (ready.entries.length > 0) group.storage.append(ready.entries);
      if (ready.hardState) group.storage.setHardState(ready.hardState);
      this.metrics.entriesPersisted += ready.entries.length;
    }
  }

  /**
   * Sends each peer the Raft messages of every group that may leave at this step of the Ready
   * contract (before or after this round's write), the forwards, answers and chunk
   * acknowledgements waiting in the outbox, and the snapshot chunks their transfers allow now:
   * one frame per peer, or several when they outgrow peerFrameBytesMax. A Snap message from
   * Raft starts (or continues) a chunked transfer instead of travelling whole.
   */
  private send(batch: readonly [GroupHost, Ready][], step: "beforeWrite" | "afterWrite"): void {
    const builders = new Map<NodeId, FrameBuilder>();
    // One header for every peer of this send: the same records go to all of them.
    const stores = this.storesToSend();
    const builder = (peer: NodeId): FrameBuilder => {
      let b = builders.get(peer);
      if (b === undefined) {
        const header = {
          from: this.nodeId,
          store: this.nodeState.storeId,
          recovering: this.nodeState.recovering.length > 0,
          stores,
        };
        b = new FrameBuilder(header, peerFrameBytesMax);
        builders.set(peer, b);
      }
      return b;
    };
    for (const [group, ready] of batch) {
      for (const message of ready.messages) {
        if (sentBeforePersist(message) !== (step === "beforeWrite")) continue;
        if (step === "afterWrite") assertDurable(group, message);
        if (message.type === MessageType.Snap) {
          this.emit({
            kind: "snapshotSending",
            group: group.id,
            to: message.to,
            index: message.snapshot?.metadata.index ?? 0,
            bytes: message.snapshot?.data.length ?? 0,
          });
          this.snapshotsOut.start(group.id, message, this.ticks);
        } else builder(message.to).envelope({ group: group.id, message });
      }
    }
    for (const [peer, box] of this.outbox) {
      const b = builder(peer);
      for (const forward of box.forwards) b.forward(forward);
      for (const answer of box.answers) b.answer(answer);
      for (const ack of box.acks) b.ack(ack);
      for (const cancel of box.cancels) b.cancel(cancel);
    }
    this.outbox.clear();
    if (this.snapshotsOut.size > 0) {
      this.snapshotsOut.pump(
        this.ticks,
        (group, term) => {
          const status = this.groups[group]!.raft.status();
          return status.role === Role.Leader && status.term === term;
        },
        (peer, chunk) => builder(peer).chunk(chunk),
        (peer, group) => {
          this.groups[group]!.dirty = true;
          this.groups[group]!.raft.reportSnapshot(peer, false);
        },
      );
    }
    for (const peer of [...builders.keys()].sort()) {
      const b = builders.get(peer)!;
      for (const frame of b.finish()) {
        this.config.transport.send(peer, frame);
        this.metrics.frameSent(peer, frame.length);
      }
      this.metrics.messagesSent += b.envelopeCount;
    }
  }

  /**
   * Applies, before this round's write, the committed entries that are already on this node's
   * disk, and answers their clients: they are committed (on a majority's disks) and durable
   * here, so their answers need not wait for the fsync of entries that arrived since. The
   * bound excludes anything this Ready rewrites (a follower's conflicting suffix) and
   * anything not yet written (a single voter commits what it has just appended). Returns how
   * many entries it applied.
   */
  private applyDurable(group: GroupHost, ready: Ready): number {
    if (ready.snapshot !== undefined) return 0;
    const firstNew = ready.entries[0]?.index ?? Number.POSITIVE_INFINITY;
    const durableThrough = Math.min(group.storage.lastIndex(), firstNew - 1);
    let count = 0;
    while (
      count < ready.committedEntries.length &&
      ready.committedEntries[count]!.index <= durableThrough
    ) {
      count += 1;
    }
    if (count > 0) {
      group.apply(ready.committedEntries.slice(0, count));
      this.metrics.entriesApplied += count;
    }
    return count;
  }

  private handle(group: GroupHost, ready: Ready, appliedEarly: number, nowMs: number): void {
    if (ready.snapshot) group.restoreSnapshot(ready.snapshot);
    const rest = appliedEarly === 0
      ? ready.committedEntries
      : ready.committedEntries.slice(appliedEarly);
    group.apply(rest);
    this.metrics.entriesApplied += rest.length;
    if (ready.softState) {
      const was = { role: group.role, leader: group.leader };
      group.onRole(ready.softState.role, ready.softState.leader);
      this.roleChanged(group, was);
      if (group.leader !== "" && group.leader !== was.leader) {
        this.leaderKnown(group.id, group.leader);
      }
    }
    group.onReadStates(ready.readStates);
    group.afterApply(nowMs);
  }

  private maybeSnapshot(group: GroupHost): void {
    const why = group.wantsSnapshot(this.snapshotEntries);
    if (why === undefined) return;
    const applied = group.machine.appliedIndex;
    const created = group.storage.createSnapshot(applied, this.voters, group.machine.snapshot());
    group.tookSnapshot();
    if (created.kind !== "ok") return;
    this.config.logStore.saveSnapshot(group.id, created.snapshot);
    const compactThrough = why === "swept" ? applied : applied - this.compactionLagEntries;
    if (compactThrough > group.storage.firstIndex()) {
      group.storage.compact(compactThrough);
      this.config.logStore.compact(group.id, compactThrough);
    }
    this.metrics.snapshots += 1;
    this.emit({ kind: "snapshotTaken", group: group.id, index: applied });
  }

  /** Reports an election won or lost and a change of leader, and counts leader changes. */
  private roleChanged(group: GroupHost, was: { role: Role; leader: NodeId }): void {
    const term = group.raft.status().term;
    const events: HostEvent[] = [];
    if (group.role === Role.Leader && was.role !== Role.Leader) {
      events.push({ kind: "electionWon", group: group.id, term });
    }
    const stood = was.role === Role.Candidate || was.role === Role.PreCandidate;
    if (stood && group.role === Role.Follower) {
      const stage = was.role === Role.Candidate ? "vote" : "preVote";
      events.push({ kind: "electionLost", group: group.id, term, stage, leader: group.leader });
    }
    if (group.leader !== was.leader) {
      // Counted as etcd counts leader changes: each time a leader appears that is not the last.
      if (group.leader !== "") this.metrics.leaderChanged(group.id);
      // A won election says who leads now.
      if (events.length > 0 && events[0]!.kind === "electionWon") return this.emit(events[0]!);
      events.push({
        kind: "leaderChanged",
        group: group.id,
        term,
        leader: group.leader,
        previous: was.leader,
      });
    }
    for (const event of events) this.emit(event);
  }

  /** Whether this node can serve: every group has a leader it knows, serving if it is us. */
  health(): { ok: boolean; reason?: string } {
    for (const group of this.groups) {
      if (group.leader === "") return { ok: false, reason: `partition ${group.id} has no leader` };
      if (group.leader === this.nodeId && !group.isServing()) {
        return { ok: false, reason: `partition ${group.id} has a leader that is starting` };
      }
    }
    return { ok: true };
  }

  /**
   * Writes the host's metrics: its counters and histograms, each partition's Raft state as
   * this node sees it, and the locks held in the partitions it leads (only a leader knows:
   * its clock is the lease base), so summing over the nodes counts each lock once.
   */
  writeMetrics(out: PrometheusText): void {
    this.metrics.write(out);
    const nowMs = this.config.clock.nowMs();
    const statuses = this.groups.map((group) => group.raft.status());
    out.family("kahuna_partitions", "gauge", "Partitions (Raft groups), each on every node.")
      .sample(this.groups.length);
    const perGroup = (name: string, help: string, value: (g: number) => number) => {
      out.family(name, "gauge", help);
      for (let g = 0; g < this.groups.length; g++) {
        out.sample(value(g), { partition: String(g) });
      }
    };
    perGroup(
      "kahuna_partition_term",
      "The partition's Raft term on this node.",
      (g) => statuses[g]!.term,
    );
    perGroup(
      "kahuna_partition_is_leader",
      "1 if this node leads the partition, else 0.",
      (g) => statuses[g]!.role === Role.Leader ? 1 : 0,
    );
    perGroup(
      "kahuna_partition_has_leader",
      "1 if this node knows a leader for the partition, else 0.",
      (g) => statuses[g]!.leader === "" ? 0 : 1,
    );
    perGroup(
      "kahuna_partition_commit_index",
      "The partition's commit index on this node.",
      (g) => statuses[g]!.commit,
    );
    perGroup(
      "kahuna_partition_applied_index",
      "The partition's last entry applied on this node.",
      (g) => this.groups[g]!.machine.appliedIndex,
    );
    let persistent = 0;
    let ephemeral = 0;
    let records = 0;
    for (const group of this.groups) {
      const held = group.heldCounts(nowMs);
      persistent += held.persistent;
      ephemeral += held.ephemeral;
      records += group.machine.size() + group.ephemeralRecords();
    }
    out.family(
      "kahuna_locks_held",
      "gauge",
      "Locks held now (an owner and a lease not run out) in the partitions this node leads.",
    ).sample(ephemeral, { durability: "ephemeral" }).sample(persistent, {
      durability: "persistent",
    });
    out.family(
      "kahuna_lock_records",
      "gauge",
      "Lock records kept on this node: held, and released or expired ones not yet swept.",
    ).sample(records);
    out.family(
      "kahuna_lock_waiters",
      "gauge",
      "TryLocks waiting in line for a held lock in the partitions this node leads.",
    ).sample(this.waitBudget.used);
    out.family(
      "kahuna_lock_watches",
      "gauge",
      "Watch requests waiting for a change of a lock in the partitions this node leads.",
    ).sample(this.watchBudget.polls);
    out.family(
      "kahuna_watched_locks",
      "gauge",
      "Locks whose changes this node records for watchers, as the leader of their partition.",
    ).sample(this.watchBudget.locks);
  }

  /**
   * Each group's state for `/v1/cluster` and the tests. Counting the locks held (`locks`) reads
   * every record, so it is done only when asked for; the voters' replication (`replicas`) is asked
   * for too, so that only `/v1/cluster` carries it.
   */
  groupStatuses(
    options: { readonly locks?: boolean; readonly replicas?: boolean } = {},
  ): GroupStatus[] {
    const nowMs = this.config.clock.nowMs();
    return this.groups.map((group) => {
      const status = group.raft.status();
      const receiving = this.snapshotsIn.progress(group.id);
      const counted = options.locks === true && group.isServing();
      const held = counted ? group.heldCounts(nowMs) : { persistent: 0, ephemeral: 0 };
      return {
        group: group.id,
        role: status.role,
        leader: status.leader,
        term: status.term,
        commit: status.commit,
        applied: group.machine.appliedIndex,
        records: group.machine.size() + group.ephemeralRecords(),
        ...(counted ? { locks: held.persistent + held.ephemeral } : {}),
        ...(options.replicas === true && status.role === Role.Leader
          ? {
            replicas: group.raft.matchIndexes().map(({ id, match }) => ({
              id,
              match,
              lag: status.lastIndex - match,
            })),
          }
          : {}),
        ...(group.raft.recovering ? { recovering: true as const } : {}),
        ...(receiving === undefined ? {} : { snapshotReceiving: receiving }),
      };
    });
  }
}

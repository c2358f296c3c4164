/**
 * One Raft group as the host drives it: its RawNode, the in-memory mirror of its durable log,
 * the lock state machine, the leader's ephemeral table, and the requests waiting on them.
 *
 * Invariants:
 * - A client is answered for a persistent write only after its entry is applied, which the
 *   NodeHost does only after the entry is durable on this node and committed by a majority.
 * - Ephemeral locks are served only by a leader whose `leaderStart` entry is applied (so it
 *   knows its token range and its clock is the lease base) and, after failover, only once
 *   every lease the old leader could have granted has ended (the inherited horizon,
 *   docs/spec.md §2.2).
 * - An ephemeral grant never ends after the committed horizon, and never carries a token
 *   above the committed reservation.
 * - The leader sweeps: it proposes the names of records free for the grace period, at most
 *   one sweep entry in flight, and removes free ephemeral records itself.
 * - TryLocks that wait (docs/spec.md §2.5) stand in the leader's lines (wait-queue.ts) and
 *   each grant to one of them is an ordinary TryLock: the line's head is tried after a
 *   release this leader applied or answered, and once a tick while the lock is free.
 * - Watches (docs/spec.md §2.6) are answered by the leader from what it applied and executed:
 *   each change of a watched lock is recorded as the record changes, and an expiry once the
 *   lease is over on this leader's clock with every proposal that could extend it applied.
 * Synchronous and deterministic: time comes in as `nowMs` from the NodeHost's Clock port.
 */
import { assert } from "../assert.ts";
import {
  ephemeralHorizonStepMs,
  ephemeralTokenBlock,
  pendingProposalsMax,
  proposalTimeoutTicks,
  readTimeoutTicks,
  sweepCommandBytesMax,
  sweepScanPerTick,
  sweptSnapshotRecordsMin,
  waitersPerResourceMax,
  watchRecentChangesMax,
} from "../constants.ts";
import { encodeCommand } from "../codec/lock-command.ts";
import { EphemeralLocks, type Needs } from "../locks/ephemeral-locks.ts";
import { LockMachine } from "../locks/lock-machine.ts";
import {
  Durability,
  type LockOpRequest,
  type LockRequest,
  type LockResponse,
  ResponseType,
  type WatchRequest,
} from "../locks/types.ts";
import { isHeldShared, type LockRecord, type Outcome, tryLock } from "../locks/lock-rules.ts";
import { formatCursor, Phase } from "../locks/watch-cursor.ts";
import type { MemoryStorage } from "../raft/memory-storage.ts";
import type { RawNode, Ready } from "../raft/raw-node.ts";
import { type Entry, type NodeId, type ReadState, Role, type Snapshot } from "../raft/types.ts";
import { errored, indeterminate, mustRetry, type Reply } from "./replies.ts";
import {
  changesBetween,
  changesHolder,
  exclusiveView,
  type LockNow,
  RecentChanges,
  type WatchBudget,
  WatchTable,
} from "./watches.ts";
import {
  type LineEvent,
  lineKey,
  type LineTrace,
  type TryLockRequest,
  type WaitBudget,
  type Waiter,
  WaitQueue,
} from "./wait-queue.ts";

/** Filled by submit for a request that waits: `cancel` takes it out of its line. */
export type WaitTicket = { cancel?: () => void };

const busy: LockResponse = { type: ResponseType.Busy, fencingToken: 0 };

type Waiting = { readonly request: LockOpRequest; readonly reply: Reply };
type Proposal = { readonly term: number; readonly reply: Reply; readonly tick: number };
/**
 * A ReadIndex round. It is answered once both its read index (the commit index confirmed by a
 * quorum) and `proposedThrough` (the leader's last entry when the reads were sent) are
 * applied: a write the leader proposed before a Get was judged at proposal time and will take
 * effect when it commits, so the Get must see it to be linearizable.
 */
type Read = {
  index: number | undefined;
  readonly proposedThrough: number;
  readonly waiting: Waiting[];
  readonly tick: number;
};

export class GroupHost {
  /** Input reached this group's RawNode since a flush last found it without a Ready. */
  dirty = true;
  role: Role = Role.Follower;
  leader: NodeId = "";
  machine: LockMachine;
  private ticks = 0;
  private leaderStart: { readonly term: number; readonly index: number } | undefined;
  private wantsLeaderStart = false;
  private ephemeral: EphemeralLocks | undefined;
  private ephemeralReadyAtMs = 0;
  private horizonProposedMs = 0;
  private tokensProposedThrough = -1;
  private horizonWaiting: Waiting[] = [];
  /**
   * The index of a clock entry in flight (a horizon entry that changes nothing but carries this
   * leader's clock reading), 0 when none: a watched persistent lock's expiry is declared once
   * the log's clock has passed its lease end, so that every later leader sees it expired too.
   */
  private clockMarkIndex = 0;
  /** The index of the sweep entry in flight, 0 when none. */
  private sweepIndex = 0;
  private readBatch: Waiting[] = [];
  private nextReadContext = 1;
  private appliedSinceSnapshot = 0;
  /** The most records the machine held since the last snapshot (taken or restored). */
  private recordsPeak = 0;
  private readonly proposals = new Map<number, Proposal>();
  private readonly reads = new Map<number, Read>();
  private readonly waits: WaitQueue;
  private readonly watches: WatchTable;
  /** This replica's last persistent changes, for watchers' older cursors. */
  private readonly recent = new RecentChanges(watchRecentChangesMax);
  /** Lines whose lock this leader saw released since they were last served. */
  private released: string[] = [];

  constructor(
    readonly id: number,
    readonly raft: RawNode,
    readonly storage: MemoryStorage,
    machine: LockMachine,
    /** How long a record stays free before a sweep removes it (docs/spec.md §2.1). */
    readonly sweepGraceMs: number,
    /** The node's waiters, shared by its groups. */
    waitBudget: WaitBudget,
    /** The node's watches, shared by its groups. */
    watchBudget: WatchBudget = { locks: 0, polls: 0 },
    /** Told what the lines do (the simulator's order checker); none in production. */
    private readonly lineTrace?: LineTrace,
  ) {
    this.machine = machine;
    this.recordsPeak = machine.size();
    this.waits = new WaitQueue(waitBudget);
    this.watches = new WatchTable(watchBudget);
    this.observe(machine);
  }

  /** Persistent changes reach the watches as the machine applies them. */
  private observe(machine: LockMachine): void {
    machine.observer = (resource, before, after, nowMs) => {
      // An Extend that changes nothing a watch reports (most of them) costs nothing more here.
      if (!changesHolder(before, after)) return;
      const key = lineKey({ resource, durability: Durability.Persistent });
      this.recent.add(key, before, after, nowMs);
      if (!this.watches.isEmpty()) this.watches.record(key, changesBetween(before, after, nowMs));
    };
  }

  /** True when this node leads the group and may answer lock requests for it. */
  isServing(): boolean {
    const start = this.leaderStart;
    return this.role === Role.Leader && start !== undefined &&
      start.term === this.raft.status().term && this.machine.appliedIndex >= start.index;
  }

  pendingCount(): number {
    let count = this.proposals.size + this.horizonWaiting.length + this.readBatch.length;
    for (const read of this.reads.values()) count += read.waiting.length;
    return count;
  }

  /** Watch requests waiting on this group. */
  watchCount(): number {
    return this.watches.pollCount();
  }

  /** Waiters in this group's lines, grants in flight included. */
  waiterCount(): number {
    return this.waits.size();
  }

  submit(request: LockRequest, reply: Reply, nowMs: number, ticket?: WaitTicket): void {
    if (this.role !== Role.Leader) {
      reply(mustRetry(`this node does not lead partition ${this.id}; retry`));
    } else if (this.pendingCount() >= pendingProposalsMax) {
      reply(mustRetry(`partition ${this.id} has too many requests in flight; retry`));
    } else if (request.op === "watch") {
      this.submitWatch(request, reply, nowMs, ticket);
    } else if (request.op === "tryLock" && request.waitMs !== undefined) {
      this.submitWaiting(request, request.waitMs, reply, nowMs, ticket);
    } else if (
      request.op === "tryLock" && request.limit !== undefined && !this.waits.isEmpty() &&
      this.waits.has(lineKey(request)) && !this.holds(request, nowMs)
    ) {
      // Others wait in line (a writer, say): a shared grant now would pass them, and a steady
      // stream of readers would starve the writer (docs/spec.md §2.8).
      reply(busy);
    } else if (
      request.op === "unlock" && !this.waits.isEmpty() && this.waits.has(lineKey(request))
    ) {
      // A release the line's head may be waiting for: serve the line once it is done.
      const key = lineKey(request);
      this.submitNow(request, (response) => {
        if (response.type === ResponseType.Unlocked) this.released.push(key);
        reply(response);
      }, nowMs);
      // A persistent grant to the line's head goes into the log right behind the unlock, so the
      // two commit together: the rules judge it after the unlock (Busy if that failed).
      if (request.durability === Durability.Persistent) this.serveLine(key, nowMs, true);
    } else {
      this.submitNow(request, reply, nowMs);
    }
    this.serveReleased(nowMs);
    this.answerWatches(nowMs);
  }

  /** A watch request: answered from the watched lock's history, or waits for a change. */
  private submitWatch(
    request: WatchRequest,
    reply: Reply,
    nowMs: number,
    ticket: WaitTicket | undefined,
  ): void {
    const now = this.lockNow(request.resource, request.durability, nowMs);
    if (now === undefined) {
      reply(mustRetry(`partition ${this.id} has a new leader that is not ready yet; retry`));
      return;
    }
    const key = lineKey(request);
    const record = request.durability === Durability.Persistent
      ? this.machine.record(request.resource)
      : this.ephemeral?.record(request.resource);
    if (isHeldShared(record, nowMs)) {
      reply({
        type: ResponseType.InvalidInput,
        fencingToken: 0,
        error: "resource: watch follows exclusive locks, and this one is held shared " +
          "(a semaphore or readers); Get lists its holders",
      });
      return;
    }
    this.declareExpiries(nowMs, key);
    const deadlineMs = request.waitMs === undefined ? undefined : nowMs + request.waitMs;
    const proposedThrough = request.durability === Durability.Persistent
      ? this.raft.status().lastIndex
      : 0;
    const waiting = this.watches.watch(
      key,
      request.after,
      now,
      nowMs,
      deadlineMs,
      reply,
      proposedThrough,
      request.durability === Durability.Persistent ? this.recent : undefined,
    );
    if (waiting !== undefined && ticket !== undefined) ticket.cancel = waiting.cancel;
  }

  /** A lock as this leader knows it now; undefined when it cannot serve the lock yet. */
  private lockNow(resource: string, durability: Durability, nowMs: number): LockNow | undefined {
    if (durability === Durability.Persistent) {
      if (!this.isServing()) return undefined;
      const record = this.machine.record(resource);
      const key = lineKey({ resource, durability });
      const machine = this.machine;
      return lockNowOf(
        key,
        record,
        machine.tokenFloor,
        nowMs,
        machine.appliedIndex,
        machine.lastNowMs,
      );
    }
    const ephemeral = this.ephemeral;
    if (ephemeral === undefined || nowMs < this.ephemeralReadyAtMs) return undefined;
    const key = lineKey({ resource, durability });
    return lockNowOf(key, ephemeral.record(resource), ephemeral.floor, nowMs, 0, Infinity);
  }

  /**
   * Records the expiry of watched locks (all, or the one of `only`) whose lease is over on
   * this leader's clock, once nothing proposed could still extend it.
   */
  private declareExpiries(nowMs: number, only?: string): void {
    if (this.watches.isEmpty()) return;
    const applied = this.machine.appliedIndex;
    let needsClock = false;
    for (const { key, token, owner } of this.watches.mayHaveExpired(applied)) {
      if (only !== undefined && key !== only) continue;
      const now = this.lockNowOfKey(key, nowMs);
      if (now === undefined || now.held || now.record?.fencingToken !== token) continue;
      // A persistent lease is over for every later leader only once the log's clock is past its
      // end (a new leader counts what is left from the last reading in the log).
      if (now.unsettled) {
        needsClock = true;
        continue;
      }
      this.watches.record(key, [expiry(token, owner)]);
    }
    if (needsClock && this.clockMarkIndex <= applied) this.proposeClockMark(nowMs);
  }

  /** Puts this leader's clock reading into the log, changing nothing else. */
  private proposeClockMark(nowMs: number): void {
    const machine = this.machine;
    const command = {
      kind: "horizon",
      nowMs,
      horizonMs: machine.horizonMs,
      tokensThrough: machine.ephemeralThrough,
    } as const;
    const result = this.raft.propose(encodeCommand(command));
    if (result.kind === "proposed") this.clockMarkIndex = result.index;
  }

  private answerWatches(nowMs: number): void {
    if (this.watches.isEmpty()) return;
    this.watches.answerChanged(nowMs, (key) => {
      const now = this.lockNowOfKey(key, nowMs);
      assert(now !== undefined, "a leader with watches serves their locks");
      return now;
    });
  }

  /** lockNow for a line key (`durability:resource`, wait-queue.ts). */
  private lockNowOfKey(key: string, nowMs: number): LockNow | undefined {
    const at = key.indexOf(":");
    const durability = key.slice(0, at) === `${Durability.Persistent}`
      ? Durability.Persistent
      : Durability.Ephemeral;
    return this.lockNow(key.slice(at + 1), durability, nowMs);
  }

  private submitNow(request: LockOpRequest, reply: Reply, nowMs: number): void {
    if (request.durability === Durability.Persistent) {
      this.submitPersistent(request, reply, nowMs);
    } else {
      this.submitEphemeral(request, reply, nowMs);
    }
  }

  /**
   * A TryLock that may wait: tried at once unless others already wait for the lock; a Busy
   * answer from the lock rules puts it at the back of the line (in the order the rules
   * answered, which for a persistent lock is log order).
   */
  private submitWaiting(
    request: TryLockRequest,
    waitMs: number,
    reply: Reply,
    nowMs: number,
    ticket: WaitTicket | undefined,
  ): void {
    const { waitMs: _, ...grant } = request;
    const key = lineKey(request);
    const deadlineMs = nowMs + waitMs;
    const mine = this.waits.find(key, request.owner);
    if (mine !== undefined) {
      // The same owner again (a retry whose first answer was lost): it takes over the place.
      const earlier = mine.reply;
      mine.reply = reply;
      mine.deadlineMs = deadlineMs;
      this.arm(ticket, key, mine, reply);
      earlier(mustRetry("a newer request of the same owner took this place in line"));
      return;
    }
    const waiter: Waiter = { request: grant, reply, deadlineMs, sawHeld: false, cancelled: false };
    this.arm(ticket, key, waiter, reply);
    if (this.waits.has(key) && !this.holds(grant, nowMs)) {
      this.enqueue(key, waiter);
      this.serveLine(key, nowMs);
      return;
    }
    this.submitNow(grant, (response) => {
      if (waiter.cancelled) return;
      if (response.type !== ResponseType.Busy) {
        waiter.reply(response);
        return;
      }
      waiter.sawHeld = true;
      this.enqueue(key, waiter);
    }, nowMs);
  }

  private traceLine(kind: LineEvent["kind"], key: string, waiter: Waiter): void {
    if (this.lineTrace === undefined) return;
    const { owner } = waiter.request;
    this.lineTrace({ kind, group: this.id, term: this.raft.status().term, key, owner });
  }

  /** Lets the ticket's holder take the waiter out, while `reply` is still the one it answers. */
  private arm(ticket: WaitTicket | undefined, key: string, waiter: Waiter, reply: Reply): void {
    if (ticket === undefined) return;
    ticket.cancel = () => {
      if (waiter.reply !== reply) return;
      if (this.waits.cancel(key, waiter)) this.traceLine("left", key, waiter);
    };
  }

  private enqueue(key: string, waiter: Waiter): void {
    const newer = this.waits.find(key, waiter.request.owner);
    if (newer !== undefined) {
      // The same owner sent again while this request was tried, and the retry already stands
      // in line: it keeps the place, and learns that the lock was held.
      newer.sawHeld ||= waiter.sawHeld;
      waiter.reply(mustRetry("a newer request of the same owner took this place in line"));
      return;
    }
    if (this.waits.enqueue(key, waiter) === "queued") {
      this.traceLine("queued", key, waiter);
      return;
    }
    waiter.reply(mustRetry(
      `partition ${this.id} has too many waiters (at most ${waitersPerResourceMax} for one ` +
        "lock, and a limit for the node); retry later",
    ));
  }

  /** Whether the TryLock's owner holds the lock now, as far as this leader knows. */
  private holds(request: TryLockRequest, nowMs: number): boolean {
    const trial = this.trial(request, nowMs);
    return trial !== undefined && trial.response.type === ResponseType.Locked &&
      trial.record === trial.before;
  }

  /**
   * What the lock rules would answer the TryLock now, as far as this leader knows, changing
   * nothing; undefined when it cannot serve the lock yet.
   */
  private trial(
    request: TryLockRequest,
    nowMs: number,
  ): (Outcome & { before: LockRecord | undefined }) | undefined {
    let before: LockRecord | undefined;
    let floor: number;
    if (request.durability === Durability.Persistent) {
      if (!this.isServing()) return undefined;
      before = this.machine.record(request.resource);
      floor = this.machine.tokenFloor;
    } else {
      const ephemeral = this.ephemeral;
      if (ephemeral === undefined || nowMs < this.ephemeralReadyAtMs) return undefined;
      before = ephemeral.record(request.resource);
      floor = ephemeral.floor;
    }
    const { owner, expiresMs, value, limit } = request;
    return { ...tryLock(before, owner, expiresMs, nowMs, floor, value, limit), before };
  }

  /**
   * Tries a grant for the line's first waiter when the lock looks free (or is its own), or
   * right behind an unlock just proposed: the TryLock decides. Taken by someone else first (or
   * the unlock failed), the waiter goes back to the head.
   */
  private serveLine(key: string, nowMs: number, behindUnlock = false): void {
    const head = this.waits.head(key);
    if (head === undefined) return;
    const trial = this.trial(head.request, nowMs);
    if (trial === undefined) return;
    if (trial.response.type !== ResponseType.Locked && !behindUnlock) return;
    const waiter = this.waits.startGrant(key);
    this.submitNow(waiter.request, (response) => {
      const taken = response.type === ResponseType.Busy;
      if (taken) waiter.sawHeld = true;
      this.waits.endGrant(key, waiter, taken);
      if (taken || waiter.cancelled) return;
      // Out of the line either way: granted, or told to retry (a proposal dropped, say).
      this.traceLine(response.type === ResponseType.Locked ? "granted" : "left", key, waiter);
      waiter.reply(response);
      // A shared grant may leave room for the next waiter: try it too.
      if (waiter.request.limit !== undefined) this.released.push(key);
    }, nowMs);
  }

  private serveReleased(nowMs: number): void {
    // Each round may grant a shared waiter and queue its line again; bounded by a line's length.
    for (let round = 0; this.released.length > 0 && round <= waitersPerResourceMax; round++) {
      const released = this.released;
      this.released = [];
      for (const key of released) this.serveLine(key, nowMs);
    }
  }

  /**
   * Once a tick: waiters whose time is up get Busy (when the rules answered them Busy) or a
   * last plain TryLock; lines whose lock has expired or was released are served.
   */
  serveWaiters(nowMs: number): void {
    if (!this.watches.isEmpty()) {
      this.declareExpiries(nowMs);
      this.answerWatches(nowMs);
      this.watches.expire(nowMs);
    }
    if (this.waits.isEmpty()) return;
    for (const { key, waiter } of this.waits.takeExpired(nowMs)) {
      if (waiter.cancelled) continue;
      this.traceLine("left", key, waiter);
      if (waiter.sawHeld) waiter.reply(busy);
      else this.submitNow(waiter.request, waiter.reply, nowMs);
    }
    for (const key of [...this.waits.keys()]) this.serveLine(key, nowMs);
  }

  private submitPersistent(request: LockOpRequest, reply: Reply, nowMs: number): void {
    if (request.op === "get") {
      if (!this.isServing()) {
        reply(mustRetry(`partition ${this.id} has a new leader that is not ready yet; retry`));
        return;
      }
      this.readBatch.push({ request, reply });
      return;
    }
    const expiresMs = request.op === "unlock" ? 0 : request.expiresMs;
    const { resource, owner } = request;
    const value = request.op === "unlock" ? undefined : request.value;
    const limit = request.op === "tryLock" ? request.limit : undefined;
    const data = encodeCommand({
      kind: request.op,
      resource,
      owner,
      expiresMs,
      nowMs,
      ...(value === undefined ? {} : { value }),
      ...(limit === undefined ? {} : { limit }),
    });
    const result = this.raft.propose(data);
    if (result.kind === "proposed") {
      if (!this.watches.isEmpty()) this.watches.proposed(lineKey(request), result.index);
      this.proposals.set(result.index, { term: result.term, reply, tick: this.ticks });
    } else {
      reply(mustRetry(`partition ${this.id} cannot take a proposal now (${result.kind}); retry`));
    }
  }

  private submitEphemeral(request: LockOpRequest, reply: Reply, nowMs: number): void {
    const ephemeral = this.ephemeral;
    if (ephemeral === undefined || nowMs < this.ephemeralReadyAtMs) {
      reply(mustRetry(
        `partition ${this.id} has a new leader waiting for the old leader's ephemeral leases ` +
          "to end; retry",
      ));
      return;
    }
    const machine = this.machine;
    const watched = !this.watches.isEmpty() && this.watches.has(lineKey(request));
    const before = watched ? ephemeral.record(request.resource) : undefined;
    const result = ephemeral.executeWithin(
      request,
      nowMs,
      machine.horizonMs,
      machine.ephemeralThrough,
    );
    if (watched) {
      const after = ephemeral.record(request.resource);
      this.watches.record(lineKey(request), changesBetween(before, after, nowMs));
    }
    if ("leaseEndMs" in result) {
      this.horizonWaiting.push({ request, reply });
      this.proposeHorizon(result, nowMs);
      return;
    }
    reply(result);
  }

  /**
   * Publishes, through Raft, a horizon past the lease end a grant needs and a reservation of
   * its token (with room for the next ones), unless what is proposed already covers both.
   */
  private proposeHorizon(needs: Needs, nowMs: number): void {
    const horizonCovered = this.horizonProposedMs >= needs.leaseEndMs;
    const tokenCovered = this.tokensProposedThrough >= needs.fencingToken;
    if (horizonCovered && tokenCovered) return;
    const horizonMs = horizonCovered
      ? this.horizonProposedMs
      : needs.leaseEndMs + ephemeralHorizonStepMs;
    const tokensThrough = tokenCovered
      ? this.tokensProposedThrough
      : Math.min(needs.fencingToken + ephemeralTokenBlock, Number.MAX_SAFE_INTEGER);
    const command = { kind: "horizon", nowMs, horizonMs, tokensThrough } as const;
    const result = this.raft.propose(encodeCommand(command));
    if (result.kind === "proposed") {
      this.horizonProposedMs = horizonMs;
      this.tokensProposedThrough = tokensThrough;
      return;
    }
    const waiting = this.horizonWaiting;
    this.horizonWaiting = [];
    for (const { reply } of waiting) reply(mustRetry(`partition ${this.id} is changing leader`));
  }

  /**
   * The leader's sweep, once a tick: free ephemeral records go at once (they are this
   * leader's alone); free persistent ones are proposed by name, one sweep entry at a time.
   */
  sweep(nowMs: number): void {
    if (!this.isServing()) return;
    // A lease a watcher saw running, removed before its expiry was declared, ended then.
    const watched = this.watches;
    this.ephemeral?.sweep(nowMs, this.sweepGraceMs, sweepScanPerTick, (resource, record) => {
      if (watched.isEmpty()) return;
      const key = lineKey({ resource, durability: Durability.Ephemeral });
      watched.record(key, changesBetween(record, undefined, nowMs));
    });
    if (this.sweepIndex > this.machine.appliedIndex) return;
    this.sweepIndex = 0;
    // Room for the command's header and numbers beside the names.
    const bytesMax = sweepCommandBytesMax - 64;
    const resources = this.machine.sweepCandidates(
      nowMs,
      this.sweepGraceMs,
      sweepScanPerTick,
      bytesMax,
    );
    if (resources.length === 0) return;
    const command = { kind: "sweep", nowMs, graceMs: this.sweepGraceMs, resources } as const;
    const result = this.raft.propose(encodeCommand(command));
    if (result.kind === "proposed") this.sweepIndex = result.index;
  }

  /** Records in this leader's ephemeral table (0 elsewhere). */
  ephemeralRecords(): number {
    return this.ephemeral?.size() ?? 0;
  }

  /** Locks held now: the machine's persistent ones, and the ephemeral ones if this leads. */
  heldCounts(nowMs: number): { persistent: number; ephemeral: number } {
    return {
      persistent: this.isServing() ? this.machine.heldCount(nowMs) : 0,
      ephemeral: this.ephemeral?.heldCount(nowMs) ?? 0,
    };
  }

  tick(): void {
    this.raft.tick();
    this.ticks += 1;
    for (const [index, proposal] of this.proposals) {
      if (this.ticks - proposal.tick < proposalTimeoutTicks) continue;
      this.proposals.delete(index);
      proposal.reply(indeterminate(
        `partition ${this.id} did not commit the change in time; retry with the same owner`,
      ));
    }
    for (const [context, read] of this.reads) {
      if (this.ticks - read.tick < readTimeoutTicks) continue;
      this.reads.delete(context);
      for (const { reply } of read.waiting) reply(mustRetry(`partition ${this.id} read timed out`));
    }
  }

  /** Replaces the state machine with a snapshot received from the leader (already durable). */
  restoreSnapshot(snapshot: Snapshot): void {
    const restored = LockMachine.restore(snapshot.data);
    assert(!("error" in restored), `snapshot of group ${this.id} was validated on receipt`);
    this.machine = restored as LockMachine;
    this.observe(this.machine);
    this.recent.clear();
    this.appliedSinceSnapshot = 0;
    this.recordsPeak = this.machine.size();
  }

  /** Applies committed entries and answers the proposals they settle. */
  apply(entries: readonly Entry[]): void {
    const last = entries[entries.length - 1];
    if (last === undefined) return;
    this.recordsPeak = Math.max(this.recordsPeak, this.machine.size());
    // The Ready contract's promise to clients: committed on a majority, and on this disk.
    assert(last.index <= this.raft.status().commit, "only committed entries are applied");
    assert(last.index <= this.storage.lastIndex(), "an entry is applied once it is on disk here");
    for (const entry of entries) {
      const response = this.machine.apply(entry);
      this.appliedSinceSnapshot += 1;
      const proposal = this.proposals.get(entry.index);
      if (proposal === undefined) continue;
      this.proposals.delete(entry.index);
      // Log matching (Raft §5.3): same index and term means it is our entry.
      if (proposal.term !== entry.term) {
        proposal.reply(mustRetry(`partition ${this.id} changed leader before the change; retry`));
      } else {
        proposal.reply(response ?? errored(`entry ${entry.index} gave no answer`));
      }
    }
  }

  /** After apply: start serving ephemeral locks, release waiters, answer reads. */
  afterApply(nowMs: number): void {
    if (this.ephemeral === undefined && this.isServing()) {
      this.ephemeral = new EphemeralLocks(this.machine.ephemeralFrom);
      // The horizon just rebased onto our clock is the old leader's: wait for it to pass.
      this.ephemeralReadyAtMs = this.machine.horizonMs;
      this.horizonProposedMs = this.machine.horizonMs;
      this.tokensProposedThrough = this.machine.ephemeralThrough;
    }
    const committed = this.machine.horizonMs >= this.horizonProposedMs &&
      this.machine.ephemeralThrough >= this.tokensProposedThrough;
    if (this.horizonWaiting.length > 0 && committed) {
      const waiting = this.horizonWaiting;
      this.horizonWaiting = [];
      for (const { request, reply } of waiting) this.submitEphemeral(request, reply, nowMs);
    }
    this.answerReads(nowMs);
    this.serveReleased(nowMs);
    if (this.clockMarkIndex !== 0 && this.machine.appliedIndex >= this.clockMarkIndex) {
      this.clockMarkIndex = 0;
      this.declareExpiries(nowMs);
    }
    this.answerWatches(nowMs);
  }

  onReadStates(readStates: readonly ReadState[]): void {
    for (const { context, index } of readStates) {
      const read = this.reads.get(context);
      if (read !== undefined) read.index = index;
    }
  }

  private answerReads(nowMs: number): void {
    for (const [context, read] of this.reads) {
      const applied = this.machine.appliedIndex;
      if (read.index === undefined || read.index > applied || read.proposedThrough > applied) {
        continue;
      }
      this.reads.delete(context);
      for (const { request, reply } of read.waiting) {
        reply(this.machine.get(request.resource, nowMs));
      }
    }
  }

  /** Role changes: a new leader starts its term; a deposed one gives up what it held. */
  onRole(role: Role, leader: NodeId): void {
    const was = this.role;
    this.role = role;
    this.leader = leader;
    if (role === Role.Leader && was !== Role.Leader) this.wantsLeaderStart = true;
    if (role !== Role.Leader && was === Role.Leader) this.stepDown();
  }

  private stepDown(): void {
    for (const proposal of this.proposals.values()) {
      proposal.reply(indeterminate(
        `partition ${this.id} lost its leader before the change committed; retry with the same owner`,
      ));
    }
    this.proposals.clear();
    const waiting = [...this.horizonWaiting, ...this.readBatch];
    for (const read of this.reads.values()) waiting.push(...read.waiting);
    for (const { reply } of waiting) {
      reply(mustRetry(`partition ${this.id} lost its leader; retry`));
    }
    this.reads.clear();
    this.horizonWaiting = [];
    this.readBatch = [];
    for (const waiter of this.waits.clear()) {
      if (!waiter.cancelled) {
        waiter.reply(mustRetry(`partition ${this.id} lost its leader; retry to wait again`));
      }
    }
    this.released = [];
    this.watches.clear(`partition ${this.id} lost its leader; watch again`);
    this.ephemeral = undefined;
    this.leaderStart = undefined;
    this.wantsLeaderStart = false;
    this.horizonProposedMs = 0;
    this.tokensProposedThrough = -1;
    this.sweepIndex = 0;
    this.clockMarkIndex = 0;
  }

  /**
   * Proposes what a new leader must, and sends the reads batched since the last flush as one
   * ReadIndex. Called at the start of a flush and after every RawNode.advance.
   */
  proposePending(nowMs: number): void {
    if (this.wantsLeaderStart && this.role === Role.Leader) {
      // A dropped proposal (a leadership transfer under way) is tried again next time.
      const result = this.raft.propose(encodeCommand({ kind: "leaderStart", nowMs }));
      if (result.kind === "proposed") {
        this.wantsLeaderStart = false;
        this.leaderStart = { term: result.term, index: result.index };
      }
    }
    if (this.readBatch.length > 0 && this.isServing()) {
      const context = this.nextReadContext++;
      const proposedThrough = this.raft.status().lastIndex;
      this.reads.set(context, {
        index: undefined,
        proposedThrough,
        waiting: this.readBatch,
        tick: this.ticks,
      });
      this.readBatch = [];
      this.raft.readIndex(context);
    }
  }

  /**
   * Whether a snapshot should be taken: "entries" once enough entries were applied, "swept"
   * once sweeps have removed more than half the most records held since the last one. Then the
   * snapshot (kept in memory and on disk, and sent to followers that fall behind) follows the
   * locks in use, and the log behind it (the sweep entries, naming every removed record) can
   * go at once: a follower behind it takes the small snapshot instead.
   */
  wantsSnapshot(snapshotEntries: number): "entries" | "swept" | undefined {
    if (this.appliedSinceSnapshot >= snapshotEntries) return "entries";
    const records = this.machine.size();
    const swept = this.appliedSinceSnapshot > 0 &&
      this.recordsPeak >= sweptSnapshotRecordsMin && records * 2 < this.recordsPeak;
    return swept ? "swept" : undefined;
  }

  tookSnapshot(): void {
    this.appliedSinceSnapshot = 0;
    this.recordsPeak = this.machine.size();
  }
}

/**
 * `logNowMs`: for a persistent lock, the last clock reading the log carries; a lease whose end
 * it has not passed is not over for a next leader (it counts what is left from there), so a
 * watch must not take it for ended yet. Ephemeral: +Infinity (no later leader has the lease).
 */
function lockNowOf(
  key: string,
  sharedRecord: LockRecord | undefined,
  floor: number,
  nowMs: number,
  appliedIndex: number,
  logNowMs: number,
): LockNow {
  const record = exclusiveView(sharedRecord);
  const held = record !== undefined && record.owner !== "" && nowMs < record.leaseEndMs;
  const unsettled = record !== undefined && record.owner !== "" && !held &&
    logNowMs < record.leaseEndMs;
  const leftMs = held ? record.leaseEndMs - nowMs : 0;
  return { key, record, floor, held, unsettled, leftMs, appliedIndex };
}

/** The end of a grant whose lease ran out, as a watch records it. */
function expiry(token: number, owner: string) {
  const position = { token, phase: Phase.Ended };
  const cursor = formatCursor(position);
  return { position, event: { kind: "expired", cursor, owner, fencingToken: token } as const };
}

export type { Ready };

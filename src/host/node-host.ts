/**
 * The synchronous host of one node (DESIGN.md §2, §4): it drives every Raft group, and turns
 * their output into port calls in the one safe order:
 *
 *   persist entries and hard state of ALL groups (one transaction, one fsync)
 *   → send messages (one frame per peer)
 *   → apply committed entries → answer clients.
 *
 * It never awaits and reads time only through the Clock port, so the deterministic simulator
 * drives this same code with simulated adapters. The runtime calls `tick()` on a timer,
 * `receive()` for peer frames, `submit()` for client requests, and `flush()` after each burst.
 */
import { assert } from "../assert.ts";
import {
  electionTicks,
  entriesPerMessageMax,
  flushRoundsMax,
  heartbeatTicks,
  inflightMessagesMax,
  snapshotEntries,
  compactionLagEntries,
} from "../constants.ts";
import { LockMachine } from "../locks/lock-machine.ts";
import type { LockRequest } from "../locks/types.ts";
import { decodePeerFrame, type Envelope, encodePeerFrame } from "../multiraft/envelope.ts";
import { groupOf } from "../multiraft/partition.ts";
import type { Clock } from "../ports/clock.ts";
import type { GroupWrite, LogStore } from "../ports/log-store.ts";
import type { Random } from "../ports/random.ts";
import type { Transport } from "../ports/transport.ts";
import { MemoryStorage } from "../raft/memory-storage.ts";
import { type Ready, RawNode } from "../raft/raw-node.ts";
import type { NodeId } from "../raft/types.ts";
import { GroupHost } from "./group-host.ts";
import { HostMetrics } from "./metrics.ts";
import type { Reply } from "./replies.ts";

export type HostConfig = {
  readonly nodeId: NodeId;
  readonly voters: readonly NodeId[];
  readonly groups: number;
  readonly logStore: LogStore;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  /** For simulator fault injection only: a Raft rule to break on purpose. */
  readonly snapshotEntries?: number;
};

export type GroupStatus = {
  readonly group: number;
  readonly role: string;
  readonly leader: NodeId;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly locks: number;
};

export class NodeHost {
  readonly nodeId: NodeId;
  readonly voters: readonly NodeId[];
  readonly metrics = new HostMetrics();
  private readonly groups: GroupHost[] = [];
  private readonly snapshotEntries: number;

  constructor(private readonly config: HostConfig) {
    assert(config.voters.includes(config.nodeId), `node ${config.nodeId} must be a voter`);
    assert(config.groups >= 1, "a node needs at least one group");
    this.nodeId = config.nodeId;
    this.voters = [...config.voters].sort();
    this.snapshotEntries = config.snapshotEntries ?? snapshotEntries;
    for (let group = 0; group < config.groups; group++) this.groups.push(this.openGroup(group));
    // A group of one voter need not wait an election timeout to lead itself.
    if (this.voters.length === 1) for (const group of this.groups) group.raft.campaign();
  }

  private openGroup(group: number): GroupHost {
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
      entriesPerMessageMax,
      applied: state.snapshot?.metadata.index ?? 0,
    }, storage);
    return new GroupHost(group, raft, storage, machine);
  }

  groupCount(): number {
    return this.groups.length;
  }

  submit(request: LockRequest, reply: Reply): void {
    const group = this.groups[groupOf(request.resource, this.groups.length)];
    assert(group !== undefined, "groupOf stays within the group count");
    const started = this.config.clock.nowMs();
    group.submit(request, (response) => {
      this.metrics.answered(request, response, this.config.clock.nowMs() - started);
      reply(response);
    }, started);
  }

  tick(): void {
    for (const group of this.groups) group.tick();
  }

  /** Steps a frame from a peer into its groups. A malformed frame is refused whole. */
  receive(frame: Uint8Array): { error: string } | undefined {
    const decoded = decodePeerFrame(frame, this.groups.length);
    if ("error" in decoded) {
      this.metrics.badFrames += 1;
      return decoded;
    }
    for (const { group, message } of decoded.envelopes) {
      if (message.to !== this.nodeId) continue;
      const snapshot = "snapshot" in message ? message.snapshot : undefined;
      if (snapshot !== undefined && "error" in LockMachine.restore(snapshot.data)) {
        this.metrics.badFrames += 1;
        return { error: `snapshot for partition ${group} from ${decoded.from} is unreadable` };
      }
      this.groups[group]!.raft.step(message);
    }
    return undefined;
  }

  /** Tells every group that a peer could not be reached, so Raft probes it gently. */
  reportUnreachable(peer: NodeId): void {
    for (const group of this.groups) group.raft.reportUnreachable(peer);
  }

  /** Runs Ready rounds until no group has work, or the round limit (the runtime re-flushes). */
  flush(): boolean {
    const startMs = this.config.clock.nowMs();
    for (const group of this.groups) group.proposePending(startMs);
    for (let round = 0; round < flushRoundsMax; round++) {
      const batch: [GroupHost, Ready][] = [];
      for (const group of this.groups) {
        if (group.raft.hasReady()) batch.push([group, group.raft.ready()]);
      }
      if (batch.length === 0) return false;
      this.persist(batch);
      this.send(batch);
      const nowMs = this.config.clock.nowMs();
      for (const [group, ready] of batch) this.handle(group, ready, nowMs);
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
      writes.push({
        group: group.id,
        entries: ready.entries,
        ...(ready.hardState ? { hardState: ready.hardState } : {}),
        ...(ready.snapshot ? { snapshot: ready.snapshot } : {}),
      });
      sync ||= ready.mustSync;
    }
    if (writes.length > 0) {
      this.config.logStore.save(writes, sync);
      this.metrics.storageWrites += 1;
      if (sync) this.metrics.fsyncs += 1;
    }
    // The in-memory mirror follows the disk, never leads it.
    for (const [group, ready] of batch) {
      if (ready.snapshot) group.storage.applySnapshot(ready.snapshot);
      if (ready.entries.length > 0) group.storage.append(ready.entries);
      if (ready.hardState) group.storage.setHardState(ready.hardState);
      this.metrics.entriesPersisted += ready.entries.length;
    }
  }

  private send(batch: readonly [GroupHost, Ready][]): void {
    const byPeer = new Map<NodeId, Envelope[]>();
    for (const [group, ready] of batch) {
      for (const message of ready.messages) {
        const envelopes = byPeer.get(message.to) ?? [];
        envelopes.push({ group: group.id, message });
        byPeer.set(message.to, envelopes);
      }
    }
    for (const peer of [...byPeer.keys()].sort()) {
      const envelopes = byPeer.get(peer)!;
      this.config.transport.send(peer, encodePeerFrame({ kind: "raft", from: this.nodeId, envelopes }));
      this.metrics.framesSent += 1;
      this.metrics.messagesSent += envelopes.length;
    }
  }

  private handle(group: GroupHost, ready: Ready, nowMs: number): void {
    if (ready.snapshot) group.restoreSnapshot(ready.snapshot);
    group.apply(ready.committedEntries);
    this.metrics.entriesApplied += ready.committedEntries.length;
    if (ready.softState) group.onRole(ready.softState.role, ready.softState.leader);
    group.onReadStates(ready.readStates);
    group.afterApply(nowMs);
  }

  private maybeSnapshot(group: GroupHost): void {
    if (!group.wantsSnapshot(this.snapshotEntries)) return;
    const applied = group.machine.appliedIndex;
    const created = group.storage.createSnapshot(applied, this.voters, group.machine.snapshot());
    group.tookSnapshot();
    if (created.kind !== "ok") return;
    this.config.logStore.saveSnapshot(group.id, created.snapshot);
    const compactThrough = applied - compactionLagEntries;
    if (compactThrough > group.storage.firstIndex()) {
      group.storage.compact(compactThrough);
      this.config.logStore.compact(group.id, compactThrough);
    }
    this.metrics.snapshots += 1;
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

  groupStatuses(): GroupStatus[] {
    return this.groups.map((group) => {
      const status = group.raft.status();
      return {
        group: group.id,
        role: status.role,
        leader: status.leader,
        term: status.term,
        commit: status.commit,
        applied: group.machine.appliedIndex,
        locks: group.machine.size(),
      };
    });
  }
}

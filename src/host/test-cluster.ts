/**
 * Test kit: NodeHosts wired by an in-memory network on one simulated clock, for host tests
 * that script what happens (the deterministic simulator, test/sim, draws it at random). Each
 * step delivers the frames in flight, flushes every node, and ticks every tickMs. Tests may
 * wrap each node's store and look at, hold back or drop every frame.
 */
import { expect } from "bun:test";
import { MemoryLogStore } from "../adapters/memory/memory-log-store.ts";
import { tickMs } from "../constants.ts";
import { Durability, type LockRequest, type LockResponse } from "../locks/types.ts";
import type { LogStore } from "../ports/log-store.ts";
import { type NodeId, Role } from "../raft/types.ts";
import { type HostConfig, NodeHost } from "./node-host.ts";

export const ids: readonly NodeId[] = ["a", "b", "c"];

/** A persistent TryLock with a lease longer than any scripted test (10 minutes). */
export function persistentLock(resource: string, owner: string): LockRequest {
  return { op: "tryLock", resource, owner, expiresMs: 600_000, durability: Durability.Persistent };
}

export function persistentUnlock(resource: string, owner: string): LockRequest {
  return { op: "unlock", resource, owner, durability: Durability.Persistent };
}

export type Frame = { readonly from: NodeId; readonly to: NodeId; readonly frame: Uint8Array };

export type TestClusterOptions = {
  readonly groups: number;
  readonly snapshots?: { readonly every: number; readonly keep: number };
  /** Wraps a node's store each time it starts (to record what it writes). */
  readonly store?: (id: NodeId, store: MemoryLogStore) => LogStore;
  /** Host options for every start (a start's own `config` wins). */
  readonly host?: Partial<HostConfig>;
  /** Sees every frame as it is sent: "deliver" it, "hold" it until released, or "drop" it. */
  readonly route?: (frame: Frame) => "deliver" | "hold" | "drop";
};

export class TestCluster {
  ms = 0;
  readonly stores = new Map(ids.map((id) => [id, new MemoryLogStore()]));
  readonly hosts = new Map<NodeId, NodeHost>();
  readonly down = new Set<NodeId>();
  /** Frames a `route` of "hold" kept back, in order; `release` sends them on. */
  held: Frame[] = [];
  private queue: Frame[] = [];
  private seed = 1;

  constructor(readonly options: TestClusterOptions) {
    for (const id of ids) this.start(id);
  }

  /** Starts (or restarts) a node; `config` overrides its host options for this start. */
  start(id: NodeId, config: Partial<HostConfig> = {}): void {
    this.down.delete(id);
    const store = this.stores.get(id)!;
    const snapshots = this.options.snapshots;
    this.hosts.set(
      id,
      new NodeHost({
        nodeId: id,
        voters: ids,
        groups: this.options.groups,
        logStore: this.options.store?.(id, store) ?? store,
        transport: { send: (to, frame) => this.sent({ from: id, to, frame }) },
        clock: { nowMs: () => this.ms, wallMs: () => this.ms },
        random: { int: (n) => Math.floor(this.nextUnit() * n) },
        ...(snapshots
          ? { snapshotEntries: snapshots.every, compactionLagEntries: snapshots.keep }
          : {}),
        ...this.options.host,
        ...config,
      }),
    );
  }

  /** mulberry32 over one seed for the whole cluster: deterministic, and good in every bit. */
  private nextUnit(): number {
    this.seed = (this.seed + 0x6d2b79f5) >>> 0;
    let t = this.seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  private sent(frame: Frame): void {
    const route = this.options.route?.(frame) ?? "deliver";
    if (route === "deliver") this.queue.push(frame);
    else if (route === "hold") this.held.push(frame);
  }

  /** Sends every held frame on, in the order it was held. */
  release(): void {
    this.queue.push(...this.held);
    this.held = [];
  }

  crash(id: NodeId): void {
    this.down.add(id);
    this.hosts.delete(id);
  }

  /** One step: deliver what is in flight, flush everyone; every tickMs, tick everyone. */
  step(): void {
    const queue = this.queue;
    this.queue = [];
    for (const { to, frame } of queue) {
      if (!this.down.has(to)) expect(this.hosts.get(to)!.receive(frame)).toBeUndefined();
    }
    for (const host of this.hosts.values()) host.flush();
    this.ms += 5;
    if (this.ms % tickMs === 0) { for (const host of this.hosts.values()) host.tick(); }
  }

  runUntil(done: () => boolean, stepsMax = 20_000): void {
    for (let i = 0; i < stepsMax && !done(); i++) this.step();
    expect(done()).toBe(true);
  }

  healthy(): boolean {
    return [...this.hosts.values()].every((h) => h.health().ok);
  }

  /** Submits a request and returns a getter for its answer (undefined while it has none). */
  submit(via: NodeId, request: LockRequest): () => LockResponse | undefined {
    let answer: LockResponse | undefined;
    this.hosts.get(via)!.submit(request, (response) => (answer = response));
    return () => answer;
  }

  request(via: NodeId, request: LockRequest): LockResponse {
    const answer = this.submit(via, request);
    this.runUntil(() => answer() !== undefined);
    return answer()!;
  }

  /** The node that leads `group` and serves it, once there is one. */
  leaderOf(group: number): NodeId {
    let leader: NodeId | undefined;
    this.runUntil(() => {
      leader = [...this.hosts.values()].find((host) =>
        host.groupStatuses()[group]!.role === Role.Leader && host.health().ok
      )?.nodeId;
      return leader !== undefined;
    });
    return leader!;
  }
}

/**
 * A small deterministic network for Raft tests: RawNodes with MemoryStorage, Ready processed
 * as the host would (persist, then send, then apply), messages queued and delivered in order,
 * with partitions and drop filters. Test support only; pure like the rest of the core.
 */
import { assert } from "../assert.ts";
import type { Random } from "../ports/random.ts";
import { MemoryStorage } from "./memory-storage.ts";
import { RawNode } from "./raw-node.ts";
import type { RaftConfig, Ready } from "./raw-node.ts";
import type { Entry, Message, NodeId, ReadState } from "./types.ts";

/** A seeded xorshift generator, so every test run is the same run. */
export function seededRandom(seed: number): Random {
  let state = (seed >>> 0) || 1;
  return {
    int(maxExclusive: number): number {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      return state % maxExclusive;
    },
  };
}

export type TestConfig = Partial<Omit<RaftConfig, "id">>;

export function testConfig(id: NodeId, seed: number, overrides: TestConfig = {}): RaftConfig {
  return {
    id,
    electionTicks: 10,
    heartbeatTicks: 1,
    random: seededRandom(seed),
    preVote: true,
    checkQuorum: true,
    inflightMessagesMax: 256,
    inflightBytesMax: 1024 * 1024,
    entriesPerMessageMax: 64,
    ...overrides,
  };
}

export type TestPeer = {
  readonly id: NodeId;
  node: RawNode;
  readonly storage: MemoryStorage;
  /** Data of every applied entry (no-ops included as empty arrays), in order. */
  applied: Entry[];
  readStates: ReadState[];
  /** The latest snapshot data applied from a Ready. */
  snapshotData: Uint8Array | undefined;
};

export class TestNetwork {
  readonly peers = new Map<NodeId, TestPeer>();
  private queue: Message[] = [];
  /** Pairs "a->b" whose messages are dropped. */
  private cut = new Set<string>();
  /** Drops messages this returns true for (in addition to cuts). */
  dropIf: (m: Message) => boolean = () => false;
  /** Delivers some messages twice (the network may duplicate). */
  duplicateIf: (m: Message) => boolean = () => false;
  /** When set, each batch of messages is delivered in a random order (the network reorders). */
  reorder: Random | undefined = undefined;
  /** Changes a message in flight (a lossy link that loses part of an append, say). */
  rewrite: (m: Message) => Message = (m) => m;
  delivered: Message[] = [];
  private restarts = 0;

  /** Every (term, leader) a Ready announced, to check election safety across a whole run. */
  leadersSeen: { term: number; id: NodeId }[] = [];

  /** `setup` may fill a node's storage before its RawNode starts (a prior history). */
  constructor(
    readonly ids: readonly NodeId[],
    overrides: TestConfig = {},
    seed = 1,
    setup: (id: NodeId, storage: MemoryStorage) => void = () => {},
  ) {
    ids.forEach((id, i) => {
      const storage = new MemoryStorage(ids);
      setup(id, storage);
      const node = new RawNode(testConfig(id, seed * 1000 + i * 7919, overrides), storage);
      this.peers.set(id, {
        id,
        node,
        storage,
        applied: [],
        readStates: [],
        snapshotData: undefined,
      });
    });
  }

  peer(id: NodeId): TestPeer {
    const peer = this.peers.get(id);
    assert(peer !== undefined, `no peer ${id}`);
    return peer;
  }

  node(id: NodeId): RawNode {
    return this.peer(id).node;
  }

  /** Cuts every link between `group` and the others, both ways. */
  isolate(...group: NodeId[]): void {
    for (const a of group) {
      for (const b of this.ids) {
        if (group.includes(b)) continue;
        this.cut.add(`${a}->${b}`);
        this.cut.add(`${b}->${a}`);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Processes one Ready of `id`, as the host does: persist, send, apply, advance. */
  processReady(id: NodeId): void {
    const peer = this.peer(id);
    if (!peer.node.hasReady()) return;
    const ready = peer.node.ready();
    persist(peer, ready);
    if (ready.softState?.role === "leader") {
      this.leadersSeen.push({ term: peer.node.status().term, id });
    }
    for (const m of ready.messages) this.queue.push(m);
    if (ready.snapshot !== undefined) {
      peer.snapshotData = ready.snapshot.data;
      peer.applied = [];
    }
    peer.applied.push(...ready.committedEntries);
    peer.readStates.push(...ready.readStates);
    peer.node.advance(ready);
  }

  /** Processes Readys and delivers messages until the network is quiet (bounded). */
  stabilize(roundsMax = 1000): void {
    for (let round = 0; round < roundsMax; round++) {
      for (const id of this.ids) {
        for (let i = 0; i < 10 && this.peer(id).node.hasReady(); i++) this.processReady(id);
      }
      if (this.queue.length === 0) return;
      const batch = this.queue;
      this.queue = [];
      if (this.reorder !== undefined) shuffle(batch, this.reorder);
      for (const m of batch) {
        this.deliver(m);
        if (this.duplicateIf(m)) this.deliver(m);
      }
    }
    assert(false, "the network did not become quiet");
  }

  private deliver(original: Message): void {
    if (this.cut.has(`${original.from}->${original.to}`) || this.dropIf(original)) return;
    const m = this.rewrite(original);
    const peer = this.peers.get(m.to);
    if (peer === undefined) return;
    this.delivered.push(m);
    peer.node.step(m);
  }

  /** Ticks every node once (or just `only`) and stabilizes. */
  tick(times = 1, only?: readonly NodeId[]): void {
    for (let t = 0; t < times; t++) {
      for (const id of only ?? this.ids) this.node(id).tick();
      this.stabilize();
    }
  }

  campaign(id: NodeId): void {
    this.node(id).campaign();
    this.stabilize();
  }

  /** Replaces a node by a fresh RawNode over the same storage: a crash and restart. */
  restart(id: NodeId, overrides: TestConfig = {}): void {
    const peer = this.peer(id);
    const applied = peer.applied[peer.applied.length - 1]?.index ?? 0;
    this.restarts += 1;
    const seed = 4242 + this.restarts * 31 + this.ids.indexOf(id) * 7919;
    peer.node = new RawNode(
      testConfig(id, seed, { ...overrides, applied: Math.max(applied, 0) }),
      peer.storage,
    );
  }

  /** [index, term] of every entry in `id`'s persisted log. */
  log(id: NodeId): [number, number][] {
    const storage = this.peer(id).storage;
    const entries = storage.entries(storage.firstIndex(), storage.lastIndex() + 1, Infinity);
    return entries.map((e) => [e.index, e.term]);
  }

  leaders(): NodeId[] {
    return this.ids.filter((id) => this.node(id).status().role === "leader");
  }
}

function shuffle<T>(items: T[], random: Random): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

function persist(peer: { storage: MemoryStorage }, ready: Ready): void {
  if (ready.snapshot !== undefined) peer.storage.applySnapshot(ready.snapshot);
  peer.storage.append(ready.entries);
  if (ready.hardState !== undefined) peer.storage.setHardState(ready.hardState);
}

/** Takes one Ready from a lone node, persists it and advances; returns it for inspection. */
export function drain(node: RawNode, storage: MemoryStorage): Ready {
  const ready = node.ready();
  persist({ storage }, ready);
  node.advance(ready);
  return ready;
}

/** Fills a storage with entries of the given terms from index 1, and a hard state. */
export function history(
  storage: MemoryStorage,
  terms: readonly number[],
  term: number,
  commit = 0,
) {
  storage.append(terms.map((t, i) => ({ term: t, index: i + 1, data: new Uint8Array([i + 1]) })));
  storage.setHardState({ term, vote: "", commit });
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

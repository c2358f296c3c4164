/**
 * Randomized runs of whole groups through the in-test network: message loss, reordering and
 * duplication, partitions, restarts, snapshots and compaction, leadership transfers and
 * reads, with the safety properties of Raft Figure 3 checked after every step, then liveness
 * once healed. One seed, one run: a failure names its seed.
 */
import { expect, test } from "bun:test";
import { assert } from "../assert.ts";
import type { Random } from "../ports/random.ts";
import { bytes, seededRandom, TestNetwork, text } from "./test-network.ts";
import type { TestPeer } from "./test-network.ts";
import type { NodeId } from "./types.ts";

/** The state machine is the list of applied entries' data (no-ops as ""), index i at i - 1. */
function history(peer: TestPeer): string[] {
  const base: string[] = peer.snapshotData === undefined ? [] : JSON.parse(text(peer.snapshotData));
  return [...base, ...peer.applied.map((e) => text(e.data))];
}

type Checker = {
  commits: Map<NodeId, number>;
  reads: Map<number, number>; // context -> the highest commit anywhere when the read began
  readsDone: number;
};

/** Raft Figure 3: election safety, log matching, state machine safety; commit monotonic. */
function checkSafety(net: TestNetwork, checker: Checker, seed: number): void {
  const leaders = new Map<number, NodeId>();
  for (const { term, id } of net.leadersSeen) {
    assert(leaders.get(term) ?? id === id, `seed ${seed}: two leaders in term ${term}`);
    leaders.set(term, id);
  }
  const histories = net.ids.map((id) => history(net.peer(id)));
  for (const [i, h] of histories.entries()) {
    const id = net.ids[i]!;
    const status = net.node(id).status();
    assert(
      h.length === status.applied,
      `seed ${seed}: ${id} applied ${status.applied}, has ${h.length}`,
    );
    assert(status.commit >= (checker.commits.get(id) ?? 0), `seed ${seed}: ${id} commit went back`);
    checker.commits.set(id, status.commit);
    for (const other of histories) {
      const n = Math.min(h.length, other.length);
      for (let k = 0; k < n; k++) {
        assert(h[k] === other[k], `seed ${seed}: applied histories differ at index ${k + 1}`);
      }
    }
  }
  checkLogMatching(net, seed);
  for (const id of net.ids) {
    const peer = net.peer(id);
    for (const read of peer.readStates.splice(0)) {
      const floor = checker.reads.get(read.context);
      assert(floor !== undefined, `seed ${seed}: unknown read ${read.context}`);
      assert(read.index >= floor, `seed ${seed}: read ${read.context} at ${read.index} < ${floor}`);
      checker.readsDone++;
    }
  }
}

/** Raft §5.3: entries with the same index and term hold the same data. */
function checkLogMatching(net: TestNetwork, seed: number): void {
  const byIndexTerm = new Map<string, string>();
  for (const id of net.ids) {
    const storage = net.peer(id).storage;
    for (const e of storage.entries(storage.firstIndex(), storage.lastIndex() + 1, Infinity)) {
      const key = `${e.index}/${e.term}`;
      const data = text(e.data);
      const seen = byIndexTerm.get(key);
      assert(seen === undefined || seen === data, `seed ${seed}: log mismatch at ${key}`);
      byIndexTerm.set(key, data);
    }
  }
}

function randomStep(net: TestNetwork, random: Random, checker: Checker, step: number): void {
  const ids = net.ids;
  const pick = () => ids[random.int(ids.length)]!;
  const r = random.int(100);
  if (r < 45) net.tick(1);
  else if (r < 65) {
    for (const id of net.leaders()) net.node(id).propose(bytes(`${id}:${step}`));
    net.stabilize();
  } else if (r < 70) net.isolate(pick());
  else if (r < 76) net.heal();
  else if (r < 80) net.restart(pick());
  else if (r < 86) snapshotAndCompact(net, pick(), random);
  else if (r < 88) {
    const leader = net.leaders()[0];
    if (leader !== undefined) net.node(leader).transferLeader(pick());
    net.stabilize();
  } else if (r < 94) {
    const context = step + 1;
    const highest = Math.max(...ids.map((id) => net.node(id).status().commit));
    checker.reads.set(context, highest);
    net.node(pick()).readIndex(context);
    net.stabilize();
  } else net.tick(1, [pick()]);
}

function snapshotAndCompact(net: TestNetwork, id: NodeId, random: Random): void {
  const peer = net.peer(id);
  const applied = peer.node.status().applied;
  if (applied <= peer.storage.snapshot().metadata.index) return;
  const state = history(peer);
  const created = peer.storage.createSnapshot(applied, net.ids, bytes(JSON.stringify(state)));
  expect(created.kind).toBe("ok");
  const through = applied - random.int(3);
  if (through >= peer.storage.firstIndex()) peer.storage.compact(through);
}

function run(seed: number, size: number): Checker {
  const ids = ["n1", "n2", "n3", "n4", "n5"].slice(0, size);
  const random = seededRandom(seed);
  const net = new TestNetwork(ids, {
    preVote: seed % 4 !== 1,
    checkQuorum: seed % 4 !== 2,
    inflightMessagesMax: 1 + random.int(4),
    entriesPerMessageMax: 1 + random.int(3),
    inflightBytesMax: 1 + random.int(64),
  }, seed);
  const dropPercent = random.int(25);
  net.dropIf = () => random.int(100) < dropPercent;
  // Odd seeds also reorder and duplicate messages.
  if (seed % 2 === 1) {
    net.reorder = seededRandom(seed + 1);
    net.duplicateIf = () => random.int(100) < 5;
  }
  const checker: Checker = { commits: new Map(), reads: new Map(), readsDone: 0 };
  for (let step = 0; step < 300; step++) {
    randomStep(net, random, checker, step);
    checkSafety(net, checker, seed);
  }
  // Liveness: once the network is healed, a leader emerges and a write reaches everyone.
  net.heal();
  net.dropIf = () => false;
  net.duplicateIf = () => false;
  for (let i = 0; i < 100 && net.leaders().length !== 1; i++) net.tick(1);
  const leader = net.leaders()[0];
  assert(leader !== undefined, `seed ${seed}: no leader after healing`);
  // A proposal may still be lost to a last leader change (a transfer in flight, a node
  // without PreVote rejoining with a higher term): retry, a bounded number of times.
  const everywhere = () => ids.every((id) => history(net.peer(id)).includes("final"));
  for (let i = 0; i < 20 && !everywhere(); i++) {
    const current = net.leaders()[0];
    if (current !== undefined) net.node(current).propose(bytes("final"));
    net.tick(3);
  }
  checkSafety(net, checker, seed);
  expect({ seed, everywhere: everywhere() }).toEqual({ seed, everywhere: true });
  return checker;
}

test("random faults never break election safety, log matching or applied histories (Raft Figure 3)", () => {
  let reads = 0;
  for (let seed = 1; seed <= 40; seed++) reads += run(seed, seed % 2 === 0 ? 3 : 5).readsDone;
  // The reads check ran on many answers, not vacuously.
  expect(reads).toBeGreaterThan(50);
});

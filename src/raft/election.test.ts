import { expect, test } from "bun:test";
import { MemoryStorage } from "./memory-storage.ts";
import { RawNode } from "./raw-node.ts";
import { drain, seededRandom, testConfig, TestNetwork } from "./test-network.ts";
import { MessageType } from "./types.ts";
import type { Message } from "./types.ts";

const abc = ["a", "b", "c"];

test("a three-node group elects one leader that all follow (Raft §5.2)", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  expect(net.leaders()).toEqual(["a"]);
  for (const id of abc) expect(net.node(id).status()).toMatchObject({ term: 1, leader: "a" });
  // The no-op of term 1 is committed and applied everywhere (Raft §5.4.2, §8).
  net.tick(2);
  for (const id of abc) expect(net.node(id).status()).toMatchObject({ commit: 1, applied: 1 });
});

test("elections from timeouts alone produce at most one leader per term (Raft §5.2)", () => {
  for (let seed = 0; seed < 20; seed++) {
    const net = new TestNetwork(["a", "b", "c", "d", "e"], { preVote: seed % 3 !== 0 }, seed);
    const random = seededRandom(seed);
    net.dropIf = () => random.int(10) === 0;
    // Each node draws its own timeout; elections happen only by ticking.
    for (let t = 0; t < 80; t++) {
      net.tick(1);
      if (seed % 2 === 0 && t === 30) net.isolate(net.leaders()[0] ?? "a");
    }
    const leadersByTerm = new Map<number, Set<string>>();
    for (const { term, id } of net.leadersSeen) {
      leadersByTerm.set(term, (leadersByTerm.get(term) ?? new Set<string>()).add(id));
    }
    expect(leadersByTerm.size).toBeGreaterThan(seed % 2 === 0 ? 1 : 0);
    for (const set of leadersByTerm.values()) expect(set.size).toBe(1);
  }
});

test("election timeouts are drawn from [electionTicks, 2*electionTicks) (Raft §5.2)", () => {
  const seen = new Set<number>();
  for (let seed = 1; seed < 60; seed++) {
    const node = new RawNode(testConfig("a", seed), new MemoryStorage(["a", "b", "c"]));
    let ticks = 0;
    while (node.status().role === "follower" && ticks < 100) {
      node.tick();
      ticks++;
    }
    expect(ticks).toBeGreaterThanOrEqual(10);
    expect(ticks).toBeLessThan(20);
    seen.add(ticks);
  }
  expect(seen.size).toBeGreaterThan(3);
});

test("a node votes only for a candidate whose log is as up-to-date as its own (Raft §5.4.1)", () => {
  // b has an entry of term 2; a has only term 1 entries, but more of them.
  const storageB = new MemoryStorage(abc);
  storageB.append([{ term: 1, index: 1, data: new Uint8Array(0) }, {
    term: 2,
    index: 2,
    data: new Uint8Array(0),
  }]);
  storageB.setHardState({ term: 2, vote: "", commit: 1 });
  const b = new RawNode(testConfig("b", 1, { preVote: false, checkQuorum: false }), storageB);
  const vote = (from: string, term: number, index: number, logTerm: number): Message => ({
    type: MessageType.Vote,
    from,
    to: "b",
    term,
    logTerm,
    index,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: 0,
  });
  // A longer log of an older last term is less up-to-date.
  b.step(vote("a", 3, 5, 1));
  expect(drain(b, storageB).messages).toMatchObject([
    { type: "voteResp", to: "a", term: 3, reject: true },
  ]);
  // A shorter log with the same last term is less up-to-date too.
  b.step(vote("c", 3, 1, 2));
  expect(drain(b, storageB).messages).toMatchObject([{ type: "voteResp", to: "c", reject: true }]);
  // Same last term and index: granted, and the vote is persisted with the term.
  b.step(vote("c", 3, 2, 2));
  const ready = drain(b, storageB);
  expect(ready.messages).toMatchObject([{ type: "voteResp", to: "c", term: 3, reject: false }]);
  expect(ready.hardState).toMatchObject({ term: 3, vote: "c" });
  expect(ready.mustSync).toBe(true);
  // One vote per term: a's later, better request in term 3 is refused.
  b.step(vote("a", 3, 9, 2));
  expect(drain(b, storageB).messages).toMatchObject([{ type: "voteResp", to: "a", reject: true }]);
});

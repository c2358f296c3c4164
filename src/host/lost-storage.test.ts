/**
 * A node that lost its storage (docs/reliability.md): its peers know its data directory by a
 * random id, so when it comes back empty they hear none of its Raft messages and tell it to
 * recover; it then neither votes nor campaigns until a leader elected without it has
 * re-seeded it. Scripted on the in-memory TestCluster.
 */
import { expect, test } from "bun:test";
import { MemoryLogStore } from "../adapters/memory/memory-log-store.ts";
import { type LockRequest, ResponseType } from "../locks/types.ts";
import { decodePeerFrame, encodePeerFrame } from "../multiraft/peer-frame.ts";
import { MessageType, type NodeId, Role } from "../raft/types.ts";
import { NodeHost } from "./node-host.ts";
import { type Frame, persistentLock as lock, TestCluster } from "./test-cluster.ts";

const get = (resource: string): LockRequest => ({ op: "get", resource, durability: 1 });

/** Votes granted, as "voter/term/candidate", from every frame sent. */
function votesGranted(frame: Frame, into: string[]): void {
  const decoded = decodePeerFrame(frame.frame, 1);
  if (!("envelopes" in decoded)) return;
  for (const { message } of decoded.envelopes) {
    if (message.type === MessageType.VoteResp && !message.reject) {
      into.push(`${frame.from}/${message.term}/${frame.to}`);
    }
  }
}

function wipe(cluster: TestCluster, id: NodeId): void {
  cluster.crash(id);
  cluster.stores.set(id, new MemoryLogStore());
  cluster.start(id);
}

const status = (cluster: TestCluster, id: NodeId) => cluster.hosts.get(id)!.groupStatuses()[0]!;

// Regression: a wiped follower voted as the voter it was. Entries committed by the leader and
// the follower only (the third node's appends held back) were lost when the leader died and
// the other two elected the one without them.
test("a wiped node does not help elect a leader that lacks what it had acknowledged", () => {
  let holdTo: NodeId | undefined;
  const votes: string[] = [];
  const cluster = new TestCluster({
    groups: 1,
    route: (frame) => {
      votesGranted(frame, votes);
      return frame.to === holdTo ? "drop" : "deliver";
    },
  });
  cluster.runUntil(() => cluster.healthy());
  const leader = cluster.leaderOf(0);
  const [behind, acker] = ["a", "b", "c"].filter((id) => id !== leader) as [NodeId, NodeId];
  holdTo = behind; // the leader commits with `acker` alone
  expect(cluster.request(leader, lock("orders/1", "w"))).toEqual({
    type: ResponseType.Locked,
    fencingToken: 0,
  });
  cluster.crash(leader);
  const votesBeforeWipe = votes.length;
  wipe(cluster, acker);
  holdTo = undefined;
  // With only `behind` and the wiped node up, nobody may lead: `behind` lacks the lock.
  for (let i = 0; i < 4_000; i++) cluster.step(); // 20 s
  expect(status(cluster, behind).role).not.toBe(Role.Leader);
  expect(status(cluster, acker).recovering).toBe(true);
  // It granted no vote since it came back empty (only its own, were it a candidate: never).
  expect(votes.slice(votesBeforeWipe).filter((v) => v.startsWith(`${acker}/`))).toEqual([]);
  // The old leader returns: a leader with the lock is elected, and re-seeds the wiped node.
  cluster.start(leader);
  cluster.runUntil(() => cluster.healthy(), 40_000);
  cluster.runUntil(() => status(cluster, acker).recovering === undefined, 40_000);
  expect(cluster.request(acker, get("orders/1"))).toMatchObject({
    type: ResponseType.Got,
    owner: "w",
    fencingToken: 0,
  });
});

test("a wiped node never votes twice in a term, and recovers under a live leader", () => {
  const votes: string[] = [];
  const cluster = new TestCluster({
    groups: 1,
    route: (frame) => {
      votesGranted(frame, votes);
      return "deliver";
    },
  });
  cluster.runUntil(() => cluster.healthy());
  for (let i = 0; i < 20; i++) cluster.request("a", lock(`r${i}`, "w"));
  const leader = cluster.leaderOf(0);
  const follower = ["a", "b", "c"].find((id) => id !== leader)!;
  wipe(cluster, follower);
  cluster.runUntil(() => status(cluster, follower).recovering === true);
  cluster.runUntil(() => status(cluster, follower).recovering === undefined, 40_000);
  expect(status(cluster, follower).applied).toBeGreaterThanOrEqual(status(cluster, leader).commit);
  // Then it votes again: kill the leader; the two others elect one of themselves.
  cluster.crash(leader);
  cluster.runUntil(() => {
    const now = status(cluster, follower).leader;
    return now !== leader && now !== "" && cluster.hosts.get(now)?.health().ok === true;
  }, 40_000);
  for (let i = 0; i < 20; i++) {
    expect(cluster.request(follower, get(`r${i}`))).toMatchObject({ type: ResponseType.Got });
  }
  // One vote per voter per term, across the wipe.
  const byVoterTerm = new Map<string, Set<string>>();
  for (const v of votes) {
    const [voter, term, candidate] = v.split("/");
    const key = `${voter}/${term}`;
    byVoterTerm.set(key, (byVoterTerm.get(key) ?? new Set()).add(candidate!));
  }
  for (const [key, candidates] of byVoterTerm) {
    expect({ key, n: candidates.size }).toEqual({ key, n: 1 });
  }
});

test("a restart in the middle of a recovery goes on recovering", () => {
  const cluster = new TestCluster({ groups: 2 });
  cluster.runUntil(() => cluster.healthy());
  wipe(cluster, "c");
  cluster.runUntil(() => cluster.hosts.get("c")!.groupStatuses().some((g) => g.recovering));
  cluster.crash("c");
  expect(cluster.stores.get("c")!.nodeState().recovering).toEqual([0, 1]);
  cluster.start("c");
  expect(cluster.hosts.get("c")!.groupStatuses().every((g) => g.recovering)).toBe(true);
  cluster.runUntil(
    () => cluster.hosts.get("c")!.groupStatuses().every((g) => !g.recovering),
    40_000,
  );
  // The stored list shrinks once each group's vote for its leader is on disk.
  cluster.runUntil(() => cluster.stores.get("c")!.nodeState().recovering.length === 0);
});

test("a cluster starting from empty data directories forms without any recovery", () => {
  const cluster = new TestCluster({ groups: 4 });
  cluster.runUntil(() => cluster.healthy());
  for (const host of cluster.hosts.values()) {
    expect(host.groupStatuses().some((g) => g.recovering)).toBe(false);
  }
});

// Regression (simulator seed 104962): a node wiped after another had recovered took the other's
// old store id from a frame sent before the recovery, told it to recover again, and with both
// recovering the third node could elect no one. Records now carry a generation: an older one
// neither replaces a newer one nor makes a node recover, and a recovering node passes none on.
test("a record of an older generation neither replaces a newer one nor starts a recovery", () => {
  const store = new MemoryLogStore();
  store.setNodeState({
    storeId: "00000000000000bb",
    storeGen: 1,
    peerStores: { a: "0/00000000000000aa", c: "0/00000000000000cc" },
    recovering: [],
  });
  const host = new NodeHost({
    nodeId: "b",
    voters: ["a", "b", "c"],
    groups: 1,
    logStore: store,
    transport: { send: () => {} },
    clock: { nowMs: () => 0, wallMs: () => 0 },
    random: { int: () => 0 },
  });
  const frame = (stores: Record<string, string>) =>
    encodePeerFrame({
      from: "a",
      store: "00000000000000aa",
      envelopes: [],
      forwards: [],
      answers: [],
      stores,
    });
  // a's stale view: b's store before it was replaced, and c's under an old generation.
  expect(host.receive(frame({ b: "0/0000000000000old", c: "0/0000000000000old" }))).toBeUndefined();
  expect(host.groupStatuses()[0]!.recovering).toBeUndefined();
  expect(store.nodeState().peerStores["c"]).toBe("0/00000000000000cc");
  // A newer generation is news: c's store was accepted anew elsewhere; and b's own store is
  // one no one knows any more: b recovers.
  host.receive(frame({ c: "1/00000000000000c2" }));
  expect(store.nodeState().peerStores["c"]).toBe("1/00000000000000c2");
  host.receive(frame({ b: "2/0000000000000new" }));
  expect(host.groupStatuses()[0]!.recovering).toBe(true);
  expect(store.nodeState().recovering).toEqual([0]);
});

/**
 * Three NodeHosts wired by an in-memory network: leaders are elected for every group, any
 * node answers any request (forwarding to the leader), and a failover keeps persistent locks
 * and raises the next token. The deterministic simulator (test/sim) covers faults at scale.
 */
import { expect, test } from "bun:test";
import { Durability, type LockRequest, ResponseType } from "../locks/types.ts";
import { MessageType, Role } from "../raft/types.ts";
import { encodePeerFrame } from "../multiraft/peer-frame.ts";
import { ids, TestCluster } from "./test-cluster.ts";

const lock = (resource: string, owner: string): LockRequest => ({
  op: "tryLock",
  resource,
  owner,
  expiresMs: 60_000,
  durability: Durability.Persistent,
});

test("three nodes elect a leader for every group and any node answers any request", () => {
  const cluster = new TestCluster({ groups: 4 });
  cluster.runUntil(() => cluster.healthy());
  for (const [i, via] of ids.entries()) {
    expect(cluster.request(via, lock(`r${i}`, "o"))).toEqual({
      type: ResponseType.Locked,
      fencingToken: 0,
    });
  }
  for (const via of ids) {
    for (let i = 0; i < 3; i++) {
      expect(cluster.request(via, { op: "get", resource: `r${i}`, durability: 1 })).toMatchObject({
        type: ResponseType.Got,
        owner: "o",
        fencingToken: 0,
      });
    }
  }
});

test("after the leader crashes, a new leader keeps persistent locks and tokens go up", () => {
  const cluster = new TestCluster({ groups: 1 });
  cluster.runUntil(() => cluster.healthy());
  const leaderOf = () => cluster.hosts.values().next().value!.groupStatuses()[0]!.leader;
  expect(cluster.request("a", lock("x", "o1")).type).toBe(ResponseType.Locked);
  expect(cluster.request("a", { op: "unlock", resource: "x", owner: "o1", durability: 1 }).type)
    .toBe(ResponseType.Unlocked);
  expect(cluster.request("a", lock("x", "o2"))).toEqual({
    type: ResponseType.Locked,
    fencingToken: 1,
  });
  const old = leaderOf();
  cluster.crash(old);
  const survivor = ids.find((id) => id !== old)!;
  cluster.runUntil(() => {
    const status = cluster.hosts.get(survivor)!.groupStatuses()[0]!;
    return status.leader !== "" && status.leader !== old &&
      cluster.hosts.get(status.leader)?.groupStatuses()[0]?.role === Role.Leader;
  });
  cluster.runUntil(() => [...cluster.hosts.values()].every((h) => h.health().ok));
  expect(cluster.request(survivor, { op: "get", resource: "x", durability: 1 })).toMatchObject({
    type: ResponseType.Got,
    owner: "o2",
    fencingToken: 1,
  });
  expect(cluster.request(survivor, lock("x", "o3")).type).toBe(ResponseType.Busy);
  cluster.ms += 61_000 * 2;
  const regrant = cluster.request(survivor, lock("x", "o3"));
  expect(regrant).toEqual({ type: ResponseType.Locked, fencingToken: 2 });
  cluster.start(old);
  cluster.runUntil(() => cluster.healthy());
  expect(cluster.request(old, { op: "get", resource: "x", durability: 1 })).toMatchObject({
    owner: "o3",
  });
});

test("leaders spread over the nodes: group g settles on voter g mod n", () => {
  const cluster = new TestCluster({ groups: 6 });
  const settled = () =>
    cluster.healthy() &&
    [...cluster.hosts.values()].every((host) =>
      host.groupStatuses().every((s) => s.leader === ids[s.group % ids.length])
    );
  cluster.runUntil(settled, 40_000);
  // A failover moves groups away; the returning node gets them back.
  cluster.crash("b");
  cluster.runUntil(() =>
    [...cluster.hosts.values()].every((h) =>
      h.groupStatuses().every((s) => s.leader !== "" && s.leader !== "b")
    )
  );
  cluster.start("b");
  cluster.runUntil(settled, 40_000);
});

test("a node that was down past the compacted log catches up from a snapshot", () => {
  const cluster = new TestCluster({ groups: 1, snapshots: { every: 20, keep: 5 } });
  cluster.runUntil(() => cluster.healthy());
  const leader = cluster.hosts.get("a")!.groupStatuses()[0]!.leader;
  const lagging = ids.find((id) => id !== leader)!;
  cluster.crash(lagging);
  for (let i = 0; i < 200; i++) {
    expect(cluster.request(leader, lock(`s${i}`, "o")).type).toBe(ResponseType.Locked);
  }
  expect(cluster.stores.get(leader)!.load(0).snapshot).toBeDefined();
  cluster.start(lagging);
  const leaderCommit = () => cluster.hosts.get(leader)!.groupStatuses()[0]!.commit;
  cluster.runUntil(() => cluster.hosts.get(lagging)!.groupStatuses()[0]!.applied >= leaderCommit());
  expect(cluster.stores.get(lagging)!.load(0).snapshot).toBeDefined();
  cluster.crash(leader);
  cluster.runUntil(() => {
    const status = cluster.hosts.get(lagging)!.groupStatuses()[0]!;
    return status.leader !== "" && status.leader !== leader && cluster.healthy();
  });
  for (let i = 0; i < 200; i += 17) {
    expect(cluster.request(lagging, { op: "get", resource: `s${i}`, durability: 1 })).toMatchObject(
      { owner: "o" },
    );
  }
});

test("a frame from a node that is not a voter is refused whole", () => {
  const cluster = new TestCluster({ groups: 1 });
  cluster.runUntil(() => cluster.healthy());
  const host = cluster.hosts.get("a")!;
  const statusBefore = host.groupStatuses()[0]!;
  const forged = encodePeerFrame({
    from: "z",
    envelopes: [{
      group: 0,
      message: {
        type: MessageType.Vote,
        from: "z",
        to: "a",
        term: statusBefore.term + 100,
        logTerm: 1_000,
        index: 1_000,
        entries: [],
        commit: 0,
        reject: false,
        rejectHint: 0,
        context: 0,
      },
    }],
    forwards: [],
    answers: [],
  });
  expect(host.receive(forged)).toEqual({ error: 'peer frame from "z", who is not a voter' });
  expect(host.groupStatuses()[0]!.term).toBe(statusBefore.term);
  const fromSelf = encodePeerFrame({ from: "a", envelopes: [], forwards: [], answers: [] });
  expect(host.receive(fromSelf)).toEqual({ error: 'peer frame from "a", who is not a voter' });
});

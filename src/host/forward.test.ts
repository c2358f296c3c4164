/**
 * Requests a node forwarded to a leader that then crashed (simulator seed 300914, profile
 * partial): their clients hear back as soon as the forwarding node knows another leader, not
 * after the forward's own timeout (proposalTimeoutTicks, 5 s), which held one partition's
 * requests past the simulator's liveness bound. But not sooner (fault run seed 1203): a node
 * that only lost sight of the leader keeps waiting, since its forward may still run there.
 */
import { expect, test } from "bun:test";
import { ResponseType } from "../locks/types.ts";
import { ids, persistentLock, TestCluster } from "./test-cluster.ts";

test("a forward to a leader that crashed is answered once a new leader is known", () => {
  let dropToLeader: string | undefined;
  const cluster = new TestCluster({
    groups: 1,
    route: (frame) => (frame.to === dropToLeader ? "drop" : "deliver"),
  });
  cluster.runUntil(() => cluster.healthy());
  const leader = cluster.leaderOf(0);
  const via = ids.find((id) => id !== leader)!;
  dropToLeader = leader; // the forward never arrives: the leader is as good as dead
  const answer = cluster.submit(via, persistentLock("r", "w"));
  for (let i = 0; i < 10; i++) cluster.step();
  cluster.crash(leader);
  const startMs = cluster.ms;
  cluster.runUntil(() => answer() !== undefined);
  expect(answer()!.type).toBe(ResponseType.Indeterminate);
  expect(answer()!.error).toContain(`changed leader from ${leader}`);
  // Within an election (0.5 to 1 s) and a little, far below the 5 s forward timeout.
  expect(cluster.ms - startMs).toBeLessThan(2_000);
  // And the retry with the same owner is granted by the new leader, once it serves.
  cluster.runUntil(() => cluster.healthy());
  expect(cluster.request(via, persistentLock("r", "w")).type).toBe(ResponseType.Locked);
});

test("a forward is not given up while the leader it went to may still lead", () => {
  let hold: string | undefined;
  let cut: string | undefined;
  const cluster = new TestCluster({
    groups: 1,
    route: (frame) => {
      if (cut !== undefined && (frame.from === cut || frame.to === cut)) return "drop";
      return frame.from === hold && frame.to !== hold ? "hold" : "deliver";
    },
  });
  cluster.runUntil(() => cluster.healthy());
  const leader = cluster.leaderOf(0);
  const via = ids.find((id) => id !== leader)!;
  const termBefore = cluster.hosts.get(leader)!.groupStatuses()[0]!.term;
  hold = via; // the forward, and all else the node sends, waits on the way
  const answer = cluster.submit(via, persistentLock("r", "w"));
  for (let i = 0; i < 10; i++) cluster.step();
  // The node hears nothing for longer than an election timeout: it pre-votes, and its leader
  // becomes unknown. Its pre-votes are held too, so the leader keeps its term.
  cut = via;
  const lostSight = cluster.ms;
  cluster.runUntil(() => cluster.hosts.get(via)!.groupStatuses()[0]!.leader === "");
  cluster.runUntil(() => cluster.ms > lostSight + 1_500);
  expect(answer()).toBeUndefined();
  // The link comes back and the held forward lands at the leader, still in its term: it runs
  // there, and its client gets that answer, not an unknown one it would retry behind.
  cut = undefined;
  hold = undefined;
  cluster.held = cluster.held.filter((frame) => frame.to === leader);
  cluster.release();
  cluster.runUntil(() => answer() !== undefined);
  expect(answer()!.type).toBe(ResponseType.Locked);
  expect(cluster.hosts.get(leader)!.groupStatuses()[0]!.term).toBe(termBefore);
});

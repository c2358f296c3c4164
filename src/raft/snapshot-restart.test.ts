import { expect, test } from "bun:test";
import { bytes, TestNetwork, text } from "./test-network.ts";
import { MessageType } from "./types.ts";

const abc = ["a", "b", "c"];

test("a lagging follower gets the leader's snapshot, restores it and catches up (Raft §7)", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  net.isolate("c");
  for (let i = 0; i < 20; i++) net.node("a").propose(bytes(`p${i}`));
  net.stabilize();
  net.tick(1);
  // The host snapshots its state machine at the applied index and compacts the log.
  const a = net.peer("a");
  expect(a.node.status().applied).toBe(21);
  const created = a.storage.createSnapshot(15, abc, bytes("state@15"));
  expect(created.kind).toBe("ok");
  expect(a.storage.compact(15)).toEqual({ kind: "ok" });
  expect(a.storage.firstIndex()).toBe(16);

  net.heal();
  net.tick(3);
  const snaps = net.delivered.filter((m) => m.type === MessageType.Snap);
  expect(snaps.map((m) => [m.to, m.snapshot?.metadata.index])).toEqual([["c", 15]]);
  const c = net.peer("c");
  expect(c.snapshotData && text(c.snapshotData)).toBe("state@15");
  expect(c.storage.snapshot().metadata).toEqual({ index: 15, term: 1, voters: abc });
  expect(c.applied.map((e) => e.index)).toEqual([16, 17, 18, 19, 20, 21]);
  expect(c.node.status()).toMatchObject({ commit: 21, applied: 21, lastIndex: 21 });
  // The leader reports the snapshot as sent; replication goes on normally afterwards.
  a.node.reportSnapshot("c", true);
  a.node.propose(bytes("later"));
  net.stabilize();
  net.tick(1);
  expect(text(c.applied[c.applied.length - 1]!.data)).toBe("later");
});

test("a failed snapshot send is retried after the host reports it", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  net.isolate("c");
  for (let i = 0; i < 5; i++) net.node("a").propose(bytes(`p${i}`));
  net.tick(1);
  const a = net.peer("a");
  a.storage.createSnapshot(6, abc, bytes("state@6"));
  a.storage.compact(6);
  net.heal();
  let lost = 0;
  net.dropIf = (m) => m.type === MessageType.Snap && lost++ === 0;
  net.tick(3);
  expect(net.peer("c").snapshotData).toBeUndefined();
  a.node.reportSnapshot("c", false);
  net.tick(3);
  expect(text(net.peer("c").snapshotData!)).toBe("state@6");
  expect(net.node("c").status().commit).toBe(6);
});

test("restart from storage keeps term, vote and log (Raft Figure 2: persistent state)", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  for (let i = 0; i < 3; i++) net.node("a").propose(bytes(`p${i}`));
  net.stabilize();
  net.tick(1);
  const before = net.node("b").status();
  const logBefore = net.log("b");
  net.restart("b");
  const after = net.node("b").status();
  expect(after).toMatchObject({ term: before.term, commit: before.commit, lastIndex: 4 });
  expect(net.peer("b").storage.initialState().hardState).toMatchObject({ term: 1, vote: "a" });
  expect(net.log("b")).toEqual(logBefore);
  // The restarted node still refuses a second vote in term 1 (Raft §5.2).
  net.node("b").step({
    type: MessageType.Vote,
    from: "c",
    to: "b",
    term: 1,
    logTerm: 1,
    index: 4,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: 0,
  });
  net.stabilize();
  const answer = net.delivered.filter((m) => m.type === MessageType.VoteResp && m.to === "c");
  expect(answer.map((m) => [m.to, m.term, m.reject])).toEqual([["c", 1, true]]);
  // And it follows the leader again.
  net.node("a").propose(bytes("p3"));
  net.stabilize();
  net.tick(1);
  expect(net.node("b").status()).toMatchObject({ leader: "a", commit: 5 });
});

test("a whole group restarts and keeps every committed entry (Raft §5.4)", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  for (let i = 0; i < 4; i++) net.node("a").propose(bytes(`p${i}`));
  net.stabilize();
  net.tick(1);
  for (const id of abc) net.restart(id);
  for (let i = 0; i < 40 && net.leaders().length === 0; i++) net.tick(1);
  const leader = net.leaders()[0]!;
  expect(net.node(leader).status().term).toBe(2);
  net.node(leader).propose(bytes("p4"));
  net.stabilize();
  net.tick(1);
  for (const id of abc) {
    const data = net.peer(id).applied.map((e) => text(e.data)).filter((d) => d !== "");
    expect(data).toEqual(["p0", "p1", "p2", "p3", "p4"]);
  }
});

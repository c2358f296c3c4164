import { expect, test } from "bun:test";
import { bytes, TestNetwork } from "./test-network.ts";
import { MessageType } from "./types.ts";

const abc = ["a", "b", "c"];

test("CheckQuorum: a leader that hears from no majority within an election timeout steps down (thesis §6.2)", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  net.isolate("a");
  net.tick(9, ["a"]);
  expect(net.node("a").status().role).toBe("leader");
  net.tick(11, ["a"]);
  expect(net.node("a").status()).toMatchObject({ role: "follower", term: 1, leader: "" });
});

test("without CheckQuorum an isolated leader keeps believing it leads", () => {
  const net = new TestNetwork(abc, { checkQuorum: false });
  net.campaign("a");
  net.isolate("a");
  net.tick(40, ["a"]);
  expect(net.node("a").status().role).toBe("leader");
});

test("a leader that hears from a majority keeps leading under CheckQuorum", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  net.isolate("c");
  net.tick(50);
  expect(net.node("a").status()).toMatchObject({ role: "leader", term: 1 });
});

test("PreVote keeps a rejoining partitioned node from raising the term (thesis §9.6)", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  net.isolate("c");
  net.tick(100);
  // c campaigned in pre-vote rounds many times but never entered a new term.
  expect(net.node("c").status()).toMatchObject({ term: 1, role: "preCandidate" });
  expect(net.node("a").status()).toMatchObject({ term: 1, role: "leader" });
  net.heal();
  net.tick(3);
  for (const id of abc) expect(net.node(id).status()).toMatchObject({ term: 1, leader: "a" });
  expect(net.node("c").status().role).toBe("follower");
});

test("without PreVote a rejoining partitioned node disrupts the leader with its higher term", () => {
  const net = new TestNetwork(abc, { preVote: false, checkQuorum: false });
  net.campaign("a");
  net.isolate("c");
  net.tick(100);
  const cTerm = net.node("c").status().term;
  expect(cTerm).toBeGreaterThan(3);
  net.heal();
  net.tick(30);
  expect(net.node("a").status().term).toBeGreaterThanOrEqual(cTerm);
});

test("PreVote and CheckQuorum: a node still hearing its leader refuses pre-votes (thesis §4.2.3)", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  net.node("c").campaign();
  net.stabilize();
  expect(net.node("a").status()).toMatchObject({ term: 1, role: "leader" });
  expect(net.node("c").status().term).toBe(1);
});

test("leadership transfer: the target campaigns at once on MsgTimeoutNow (thesis §3.10)", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  net.node("a").transferLeader("b");
  net.stabilize();
  expect(net.leaders()).toEqual(["b"]);
  for (const id of abc) expect(net.node(id).status()).toMatchObject({ term: 2, leader: "b" });
  expect(net.delivered.some((m) => m.type === MessageType.TimeoutNow && m.to === "b")).toBe(true);
  expect(net.node("b").propose(bytes("after transfer"))).toMatchObject({ kind: "proposed" });
});

test("leadership transfer first brings a lagging target up to date, refusing proposals", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  net.isolate("c");
  for (let i = 0; i < 5; i++) net.node("a").propose(bytes(`p${i}`));
  net.stabilize();
  net.node("a").transferLeader("c");
  expect(net.node("a").propose(bytes("during"))).toMatchObject({ kind: "dropped" });
  net.stabilize();
  expect(net.leaders()).toEqual(["a"]);
  net.heal();
  net.tick(2);
  expect(net.leaders()).toEqual(["c"]);
  expect(net.log("c").slice(0, 6)).toEqual(net.log("a").slice(0, 6));
});

test("a follower may ask the leader to hand leadership to it", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  net.node("c").transferLeader("c");
  net.stabilize();
  expect(net.leaders()).toEqual(["c"]);
});

test("a transfer to an unreachable node is abandoned after an election timeout", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  net.isolate("c");
  net.node("a").transferLeader("c");
  expect(net.node("a").propose(bytes("x"))).toMatchObject({ kind: "dropped" });
  net.tick(12);
  expect(net.node("a").propose(bytes("y"))).toMatchObject({ kind: "proposed" });
});

test("a stale leader steps down when answered with a higher term (Raft §5.1, thesis §9.6)", () => {
  // Without CheckQuorum a cut-off leader keeps leading; with PreVote it never hears a vote
  // request, so the others' answer to its stale heartbeat is what tells it.
  const net = new TestNetwork(abc, { checkQuorum: false });
  net.campaign("a");
  net.isolate("a");
  for (let i = 0; i < 40 && !net.leaders().some((id) => id !== "a"); i++) net.tick(1, ["b", "c"]);
  const newLeader = net.leaders().find((id) => id !== "a")!;
  expect(net.node(newLeader).status().term).toBe(2);
  expect(net.node("a").status()).toMatchObject({ role: "leader", term: 1 });
  net.heal();
  net.tick(1, ["a"]);
  expect(net.node("a").status()).toMatchObject({ role: "follower", term: 2 });
  net.tick(2);
  expect(net.node("a").status().leader).toBe(newLeader);
});

test("a candidate that hears an append from a leader of its term follows it (Raft §5.2)", () => {
  const net = new TestNetwork(abc, { preVote: false });
  net.isolate("c");
  net.node("c").campaign(); // c: candidate in term 1, cut off
  net.stabilize();
  expect(net.node("c").status()).toMatchObject({ role: "candidate", term: 1 });
  net.heal();
  net.isolate("c");
  net.campaign("a"); // a: leader in term 1 with b's vote
  expect(net.node("a").status()).toMatchObject({ role: "leader", term: 1 });
  net.heal();
  net.tick(1, ["a"]);
  expect(net.node("c").status()).toMatchObject({ role: "follower", term: 1, leader: "a" });
});

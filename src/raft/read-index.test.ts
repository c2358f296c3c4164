import { expect, test } from "bun:test";
import { bytes, TestNetwork } from "./test-network.ts";
import { MessageType } from "./types.ts";

const abc = ["a", "b", "c"];

function elected(): TestNetwork {
  const net = new TestNetwork(abc);
  net.campaign("a");
  net.node("a").propose(bytes("x"));
  net.stabilize();
  return net;
}

test("a leader answers ReadIndex only after a heartbeat round confirms it (thesis §6.4)", () => {
  const net = elected();
  const before = net.delivered.length;
  net.node("a").readIndex(7);
  net.stabilize();
  expect(net.peer("a").readStates).toEqual([{ index: 2, context: 7 }]);
  const round = net.delivered.slice(before);
  expect(round.filter((m) => m.type === MessageType.Heartbeat).length).toBe(2);
  expect(round.some((m) => m.type === MessageType.HeartbeatResp && m.context > 0)).toBe(true);
});

test("a ReadIndex without a quorum of heartbeat answers is not answered (thesis §6.4)", () => {
  const net = elected();
  net.dropIf = (m) => m.type === MessageType.HeartbeatResp;
  net.node("a").readIndex(8);
  net.stabilize();
  expect(net.peer("a").readStates).toEqual([]);
  // One answer from b is enough with a's own: a majority of three.
  net.dropIf = (m) => m.type === MessageType.HeartbeatResp && m.from === "c";
  net.tick(1);
  expect(net.peer("a").readStates).toEqual([{ index: 2, context: 8 }]);
});

test("a follower's ReadIndex is forwarded to the leader and answered to the follower", () => {
  const net = elected();
  net.node("c").readIndex(99);
  net.stabilize();
  expect(net.peer("c").readStates).toEqual([{ index: 2, context: 99 }]);
  expect(net.peer("a").readStates).toEqual([]);
});

test("contexts from different nodes do not collide at the leader", () => {
  const net = elected();
  net.node("a").readIndex(1);
  net.node("b").readIndex(1);
  net.node("c").readIndex(1);
  net.stabilize();
  for (const id of abc) expect(net.peer(id).readStates).toEqual([{ index: 2, context: 1 }]);
});

test("a new leader defers reads until it commits an entry of its term (thesis §6.4)", () => {
  const net = new TestNetwork(abc);
  // Appends are lost: a wins the election but cannot commit its no-op yet.
  net.dropIf = (m) => m.type === MessageType.App;
  net.campaign("a");
  expect(net.node("a").status()).toMatchObject({ role: "leader", commit: 0 });
  net.node("a").readIndex(5);
  net.stabilize();
  expect(net.peer("a").readStates).toEqual([]);
  net.dropIf = () => false;
  net.tick(1);
  expect(net.node("a").status().commit).toBe(1);
  expect(net.peer("a").readStates).toEqual([{ index: 1, context: 5 }]);
});

test("a deposed leader cannot answer a ReadIndex read (thesis §6.4)", () => {
  const net = elected();
  net.isolate("a");
  // b and c elect a new leader once they stop hearing from a, and commit a new write.
  for (let i = 0; i < 40 && net.leaders().every((id) => id === "a"); i++) net.tick(1, ["b", "c"]);
  const newLeader = net.leaders().find((id) => id !== "a")!;
  expect(newLeader).toBeDefined();
  net.node(newLeader).propose(bytes("after"));
  net.stabilize();
  // a may still think it leads (no ticks yet), but its read cannot be confirmed.
  net.node("a").readIndex(3);
  net.tick(5, ["a"]);
  expect(net.peer("a").readStates).toEqual([]);
  net.heal();
  net.tick(3);
  expect(net.node("a").status().role).toBe("follower");
  expect(net.peer("a").readStates).toEqual([]);
});

test("in a group of five, a leader needs two heartbeat answers besides its own to read", () => {
  const net = new TestNetwork(["a", "b", "c", "d", "e"]);
  net.campaign("a");
  net.dropIf = (m) => m.type === MessageType.HeartbeatResp && m.from !== "b";
  net.node("a").readIndex(4);
  net.stabilize();
  expect(net.peer("a").readStates).toEqual([]);
  net.dropIf = (m) => m.type === MessageType.HeartbeatResp && !["b", "e"].includes(m.from);
  net.tick(1);
  expect(net.peer("a").readStates).toEqual([{ index: 1, context: 4 }]);
});

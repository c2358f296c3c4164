import { expect, test } from "bun:test";
import { bytes, history, TestNetwork, text } from "./test-network.ts";
import { MessageType } from "./types.ts";

const abc = ["a", "b", "c"];

test("a leader replicates proposals and every node applies the same entries (Raft §5.3)", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  for (let i = 0; i < 5; i++) {
    expect(net.node("a").propose(bytes(`p${i}`))).toMatchObject({ kind: "proposed", term: 1 });
  }
  net.stabilize();
  net.tick(2);
  const expected = ["", "p0", "p1", "p2", "p3", "p4"];
  for (const id of abc) {
    expect(net.peer(id).applied.map((e) => text(e.data))).toEqual(expected);
    expect(net.log(id)).toEqual(net.log("a"));
  }
  expect(net.node("b").propose(bytes("x"))).toEqual({ kind: "notLeader", leader: "a" });
});

test("a follower's conflicting suffix is truncated to match the leader (Raft §5.3)", () => {
  const net = new TestNetwork(abc, {}, 1, (id, storage) => {
    if (id === "c") history(storage, [1, 1, 2, 2], 3, 1);
    else history(storage, [1, 1, 3], 3, 1);
  });
  net.campaign("a");
  expect(net.leaders()).toEqual(["a"]);
  net.tick(2);
  const leaderLog: [number, number][] = [[1, 1], [2, 1], [3, 3], [4, 4]];
  expect(net.log("a")).toEqual(leaderLog);
  expect(net.log("c")).toEqual(leaderLog);
  expect(net.node("c").status().commit).toBe(4);
});

test("a lagging follower is found by probing back and brought up to date (Raft §5.3)", () => {
  const net = new TestNetwork(abc, { entriesPerMessageMax: 2 }, 1, (id, storage) => {
    if (id === "c") history(storage, [1], 1, 1);
    else history(storage, [1, 1, 1, 1, 1, 1, 1], 1, 1);
  });
  net.campaign("a");
  net.tick(3);
  expect(net.log("c")).toEqual(net.log("a"));
  expect(net.log("c").length).toBe(8);
  expect(net.node("c").status().commit).toBe(8);
});

test("an old-term entry commits only through an entry of the current term (Raft §5.4.2, Figure 8)", () => {
  const ids = ["s1", "s2", "s3", "s4", "s5"];
  // Figure 8 (b): s1 led term 2 and put index 2 on s1 and s2; s5 led term 3 and put its own
  // index 2 on itself. Index 1 is committed everywhere.
  const setup = () =>
    new TestNetwork(
      ids,
      { preVote: false, checkQuorum: false, entriesPerMessageMax: 1 },
      8,
      (id, s) => {
        if (id === "s1" || id === "s2") history(s, [1, 2], 3, 1);
        else if (id === "s5") history(s, [1, 3], 3, 1);
        else history(s, [1], 3, 1);
      },
    );

  // (c): s1 leads term 4 and copies its term-2 entry to s3, so a majority (s1, s2, s3) holds
  // it (and s2, s3 acknowledge it); but the term-4 entry is lost on the way. Index 2 must not
  // be committed although a majority stores it.
  const net = setup();
  net.rewrite = (m) =>
    m.type === MessageType.App ? { ...m, entries: m.entries.filter((e) => e.term !== 4) } : m;
  net.isolate("s4", "s5");
  net.campaign("s1");
  expect(net.node("s1").status()).toMatchObject({ role: "leader", term: 4 });
  expect(net.log("s3")).toEqual([[1, 1], [2, 2]]);
  const acked = net.delivered.filter((m) => m.type === "appResp" && !m.reject && m.index === 2);
  expect([...new Set(acked.map((m) => m.from))].sort()).toEqual(["s2", "s3"]);
  for (const id of ids) expect(net.node(id).status().commit).toBe(1);
  // (d): s1 crashes; s5 is elected by s2, s3, s4 (its last term 3 beats their 2) and
  // overwrites index 2 everywhere. Had index 2 counted as committed, this would lose it.
  net.rewrite = (m) => m;
  net.heal();
  net.isolate("s1");
  net.campaign("s5"); // term 4: s2 and s3 already voted for s1 in term 4
  net.campaign("s5"); // term 5
  const granted = net.delivered.filter((m) =>
    m.type === "voteResp" && m.to === "s5" && m.term === 5 && !m.reject
  );
  expect(granted.map((m) => m.from).sort()).toEqual(["s2", "s3", "s4"]);
  expect(net.node("s5").status()).toMatchObject({ role: "leader", term: 5 });
  net.tick(2, ["s2", "s3", "s4", "s5"]);
  for (const id of ["s2", "s3", "s4", "s5"]) {
    expect(net.log(id).slice(0, 3)).toEqual([[1, 1], [2, 3], [3, 5]]);
    expect(net.peer(id).applied.find((e) => e.index === 2)?.term).toBe(3);
  }

  // (e): instead, s1 gets its term-4 entry onto a majority: that commits index 2 (term 2)
  // with it, and s5 can no longer be elected.
  const net2 = setup();
  net2.isolate("s4", "s5");
  net2.campaign("s1");
  expect(net2.node("s1").status()).toMatchObject({ role: "leader", term: 4, commit: 3 });
  net2.heal();
  net2.isolate("s1");
  net2.campaign("s5");
  net2.campaign("s5");
  expect(net2.node("s5").status().role).not.toBe("leader");
  expect(net2.peer("s1").applied.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 2], [3, 4]]);
  for (const id of ["s2", "s3"]) expect(net2.log(id)).toEqual([[1, 1], [2, 2], [3, 4]]);
});

test("a leader keeps at most inflightMessagesMax unacknowledged appends per follower", () => {
  const net = new TestNetwork(abc, { inflightMessagesMax: 3, entriesPerMessageMax: 1 });
  net.campaign("a");
  net.tick(1);
  // c's acknowledgements are lost from now on: the pipeline to c fills and then stops.
  net.dropIf = (m) => m.from === "c" && m.type === MessageType.AppResp;
  const before = net.delivered.length;
  for (let i = 0; i < 10; i++) net.node("a").propose(bytes(`p${i}`));
  net.stabilize();
  const appsToC = net.delivered.slice(before).filter((m) => m.to === "c" && m.type === "app");
  expect(appsToC.filter((m) => m.entries.length > 0).length).toBe(3);
  // b acknowledged everything: the entries commit with a majority (a, b).
  expect(net.node("a").status().commit).toBe(11);
  // Acknowledgements resume: c catches up, pipelined again.
  net.dropIf = () => false;
  net.tick(3);
  expect(net.log("c")).toEqual(net.log("a"));
  expect(net.node("c").status().commit).toBe(11);
});

test("a leader keeps at most inflightBytesMax bytes of unacknowledged entries per follower", () => {
  // Nine-byte entries, one per message, at most 25 bytes out: the third append still goes
  // (18 bytes are out, under the cap), the fourth waits.
  const net = new TestNetwork(abc, { inflightBytesMax: 25, entriesPerMessageMax: 1 });
  net.campaign("a");
  net.tick(1);
  net.dropIf = (m) => m.from === "c" && m.type === MessageType.AppResp;
  const before = net.delivered.length;
  for (let i = 0; i < 10; i++) net.node("a").propose(bytes(`proposal${i}`));
  net.stabilize();
  const appsToC = net.delivered.slice(before).filter((m) => m.to === "c" && m.type === "app");
  expect(appsToC.filter((m) => m.entries.length > 0).length).toBe(3);
  expect(net.node("a").status().commit).toBe(11);
  net.dropIf = () => false;
  net.tick(3);
  expect(net.log("c")).toEqual(net.log("a"));
});

test("an empty proposal is refused as a value: empty data is the leader's no-op", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  expect(net.node("a").propose(new Uint8Array(0))).toMatchObject({ kind: "dropped" });
});

test("proposals made between two Readys travel in one append per follower (group commit)", () => {
  const net = new TestNetwork(abc);
  net.campaign("a");
  net.tick(1);
  const before = net.delivered.length;
  for (let i = 0; i < 20; i++) net.node("a").propose(bytes(`p${i}`));
  net.stabilize();
  const appends = net.delivered.slice(before).filter((m) => m.type === MessageType.App);
  const withEntries = appends.filter((m) => m.entries.length > 0);
  expect(withEntries.map((m) => [m.to, m.entries.length])).toEqual([["b", 20], ["c", 20]]);
  expect(net.node("a").status().commit).toBe(21);
});

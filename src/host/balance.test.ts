/**
 * Leader balancing (NodeHost.balanceLeaders) against the two ways a transfer cannot succeed,
 * scripted on the in-memory TestCluster: regressions for an issue where a leader kept handing
 * a group to a node it could not reach, holding the group's proposals for an election timeout
 * each time (5% of writes answered MustRetry in a 60 s real-process test).
 */
import { expect, test } from "bun:test";
import { Durability, type LockRequest, type LockResponse, ResponseType } from "../locks/types.ts";
import { decodePeerFrame } from "../multiraft/peer-frame.ts";
import { MessageType, type NodeId } from "../raft/types.ts";
import { type Frame, TestCluster } from "./test-cluster.ts";

const lock = (resource: string): LockRequest => ({
  op: "tryLock",
  resource,
  owner: "o",
  expiresMs: 60_000,
  durability: Durability.Persistent,
});

/** Group 0 prefers node a (voters sorted, group 0 mod 3). Starts with a down, so b or c leads. */
function clusterWithout(route: (frame: Frame, leader: NodeId) => "deliver" | "drop") {
  let leader: NodeId = "";
  const cluster = new TestCluster({
    groups: 1,
    route: (frame) => (leader === "" ? "deliver" : route(frame, leader)),
  });
  cluster.crash("a");
  cluster.runUntil(() => cluster.healthy());
  leader = cluster.leaderOf(0);
  expect(leader).not.toBe("a");
  cluster.start("a");
  return { cluster, leader };
}

/** Runs `seconds` of simulated time, a write to the leader every 100 ms; counts the answers. */
function writeFor(cluster: TestCluster, leader: NodeId, seconds: number) {
  const answers: (() => LockResponse | undefined)[] = [];
  const endMs = cluster.ms + seconds * 1000;
  for (let i = 0; cluster.ms < endMs; i++) {
    if (cluster.ms % 100 === 0) answers.push(cluster.submit(leader, lock(`r${i}`)));
    // The node a keeps sending the leader something (requests it forwards), so it is heard.
    if (cluster.ms % 50 === 0) cluster.submit("a", lock(`via-a${i}`));
    cluster.step();
  }
  cluster.runUntil(() => answers.every((a) => a() !== undefined));
  const mustRetry = answers.filter((a) => a()!.type === ResponseType.MustRetry).length;
  return { answers: answers.length, mustRetry };
}

test("a node the leader cannot reach (one-way cut) never gets a transfer; writes never wait", () => {
  const { cluster, leader } = clusterWithout((frame, leader) =>
    frame.from === leader && frame.to === "a" ? "drop" : "deliver"
  );
  const { answers, mustRetry } = writeFor(cluster, leader, 60);
  expect(answers).toBe(600);
  expect(mustRetry).toBe(0);
  expect(cluster.leaderOf(0)).toBe(leader);
});

/** Whether the frame carries a Raft message of this type. */
function carries(frame: Frame, type: MessageType): boolean {
  const decoded = decodePeerFrame(frame.frame, 1);
  return "envelopes" in decoded && decoded.envelopes.some((e) => e.message.type === type);
}

test("a node that cannot catch up (the leader's appends to it are lost) never gets a transfer", () => {
  // It hears heartbeats, so it knows the leader, forwards to it and is heard from steadily.
  const { cluster, leader } = clusterWithout((frame, leader) =>
    frame.from === leader && frame.to === "a" && carries(frame, MessageType.App)
      ? "drop"
      : "deliver"
  );
  const { answers, mustRetry } = writeFor(cluster, leader, 60);
  expect(answers).toBe(600);
  expect(mustRetry).toBe(0);
  expect(cluster.leaderOf(0)).toBe(leader);
});

test("a transfer that keeps failing is tried less and less often", () => {
  let timeoutNows = 0;
  const { cluster, leader } = clusterWithout((frame, leader) => {
    if (frame.from !== leader || frame.to !== "a") return "deliver";
    if (!carries(frame, MessageType.TimeoutNow)) return "deliver";
    timeoutNows += 1;
    return "drop"; // a never hears it must campaign: every transfer is abandoned
  });
  const { mustRetry } = writeFor(cluster, leader, 120);
  // Once a second without backoff (about 110 tries); doubling from 1 s to 64 s: at most 8.
  expect(timeoutNows).toBeGreaterThan(0);
  expect(timeoutNows).toBeLessThanOrEqual(8);
  expect(mustRetry).toBeLessThanOrEqual(8 * 2); // an election timeout at 10 writes/s each
  expect(cluster.leaderOf(0)).toBe(leader);
});

test("the preferred node gets its group back once it is caught up and answering", () => {
  const { cluster } = clusterWithout(() => "deliver");
  cluster.runUntil(() => cluster.leaderOf(0) === "a", 40_000);
});

/**
 * A partition too big for one frame, on three in-memory hosts (test-cluster.ts): snapshots of
 * several chunks reach a follower through lost chunks and across a leader change, every frame
 * within the budget; and forwards are named so that they never repeat.
 */
import { expect, test } from "bun:test";
import { peerFrameBytesMax, snapshotChunkBytes } from "../constants.ts";
import { Durability, type LockRequest, type LockResponse, ResponseType } from "../locks/types.ts";
import { decodePeerFrame, type PeerFrame } from "../multiraft/peer-frame.ts";
import { Role } from "../raft/types.ts";
import { type Frame, ids, TestCluster } from "./test-cluster.ts";

const lock = (resource: string, owner: string): LockRequest => ({
  op: "tryLock",
  resource,
  owner,
  expiresMs: 60_000,
  durability: Durability.Persistent,
});

/** A cluster whose frames are measured, and decoded for `lose` to drop some on their way. */
function measuredCluster(options: { groups: number; snapshots?: { every: number; keep: number } }) {
  const seen = {
    frameBytesMax: 0,
    lose: undefined as ((from: string, to: string, frame: PeerFrame) => boolean) | undefined,
  };
  const route = ({ from, to, frame }: Frame) => {
    seen.frameBytesMax = Math.max(seen.frameBytesMax, frame.length);
    if (seen.lose === undefined) return "deliver";
    const decoded = decodePeerFrame(frame, options.groups);
    if ("error" in decoded) throw new Error(decoded.error);
    return seen.lose(from, to, decoded) ? "drop" : "deliver";
  };
  return { cluster: new TestCluster({ ...options, route }), seen };
}

/** Submits every request at once and runs until all are answered. */
function requestAll(
  cluster: TestCluster,
  via: string,
  requests: readonly LockRequest[],
): LockResponse[] {
  const answers = requests.map((request) => cluster.submit(via, request));
  cluster.runUntil(() => answers.every((answer) => answer() !== undefined));
  return answers.map((answer) => answer()!);
}

/** A name of 150 bytes, so a few thousand locks make a snapshot of several chunks. */
const longName = (i: number) => `${String(i).padStart(8, "0")}/${"x".repeat(141)}`;
const count = 20_000;

function loadLocks(cluster: TestCluster, via: string): void {
  for (let from = 0; from < count; from += 2_000) {
    const batch = Array.from({ length: 2_000 }, (_, i) => lock(longName(from + i), "owner"));
    for (const answer of requestAll(cluster, via, batch)) {
      expect(answer.type).toBe(ResponseType.Locked);
    }
  }
}

/** Forty of the locks answer through `via`; a leader moving meanwhile is retried. */
function sampleLocks(cluster: TestCluster, via: string): void {
  cluster.runUntil(() => cluster.healthy());
  for (let i = 0; i < 40; i++) {
    const get = {
      op: "get" as const,
      resource: longName((i * 7_919) % count),
      durability: 1 as const,
    };
    let answer = cluster.request(via, get);
    for (let retry = 0; retry < 5 && answer.type === ResponseType.MustRetry; retry++) {
      cluster.runUntil(() => cluster.healthy());
      answer = cluster.request(via, get);
    }
    expect(answer).toMatchObject({ type: ResponseType.Got, owner: "owner" });
  }
}

const status = (cluster: TestCluster, id: string) => cluster.hosts.get(id)!.groupStatuses()[0]!;

test("a snapshot of several chunks catches a follower up through lost chunks, frames in budget", () => {
  const { cluster, seen } = measuredCluster({ groups: 1, snapshots: { every: 1_000, keep: 100 } });
  const leader = cluster.leaderOf(0);
  const lagging = ids.find((id) => id !== leader)!;
  cluster.crash(lagging);
  loadLocks(cluster, leader);
  const snapshot = cluster.stores.get(leader)!.load(0).snapshot!;
  expect(snapshot.data.length).toBeGreaterThan(2 * snapshotChunkBytes);
  // Every third chunk to the returning follower is lost on the way.
  let chunks = 0;
  seen.lose = (_from, to, frame) => {
    if (to !== lagging || (frame.chunks ?? []).length === 0) return false;
    chunks += frame.chunks!.length;
    return chunks % 3 === 0;
  };
  cluster.start(lagging);
  cluster.runUntil(
    () => status(cluster, lagging).applied >= status(cluster, leader).commit,
    60_000,
  );
  expect(chunks).toBeGreaterThan(snapshot.data.length / snapshotChunkBytes);
  expect(seen.frameBytesMax).toBeLessThanOrEqual(peerFrameBytesMax);
  expect(status(cluster, lagging).records).toBe(count);
  sampleLocks(cluster, lagging);
});

test("a leader change in the middle of a snapshot transfer: the new leader's transfer wins", () => {
  const { cluster, seen } = measuredCluster({ groups: 1, snapshots: { every: 1_000, keep: 100 } });
  const leader = cluster.leaderOf(0);
  const [lagging, other] = ids.filter((id) => id !== leader) as [string, string];
  cluster.crash(lagging);
  loadLocks(cluster, leader);
  let fromOld = 0;
  let fromNew = 0;
  seen.lose = (from, to, frame) => {
    const chunks = (frame.chunks ?? []).length;
    if (to === lagging && from === leader) fromOld += chunks;
    if (to === lagging && from === other) fromNew += chunks;
    return false;
  };
  cluster.start(lagging);
  cluster.runUntil(() => fromOld >= 1);
  const snapshotBytes = cluster.stores.get(leader)!.load(0).snapshot!.data.length;
  expect(fromOld * snapshotChunkBytes).toBeLessThan(snapshotBytes);
  // The old leader dies with the transfer half done; the other node leads and sends its own.
  cluster.crash(leader);
  cluster.runUntil(() => status(cluster, other).role === Role.Leader, 40_000);
  cluster.runUntil(() => status(cluster, lagging).applied >= status(cluster, other).commit, 60_000);
  expect(fromNew).toBeGreaterThanOrEqual(snapshotBytes / snapshotChunkBytes);
  expect(status(cluster, lagging).records).toBe(count);
  expect(seen.frameBytesMax).toBeLessThanOrEqual(peerFrameBytesMax);
  sampleLocks(cluster, lagging);
});

test("forwards past the old 2^32 boundary and a restart that reuses sequences run once each", () => {
  const cluster = new TestCluster({ groups: 1 });
  const leader = cluster.leaderOf(0);
  const via = ids.find((id) => id !== leader)!;
  // Under the old scheme (incarnation · 2^32 + count) the last of these ids would be the next
  // incarnation's first ones: its requests would be taken for duplicates.
  const first = 2 ** 32 - 2;
  cluster.crash(via);
  cluster.start(via, { firstForwardSequence: first });
  cluster.runUntil(() => cluster.healthy());
  const before = requestAll(cluster, via, [0, 1, 2, 3, 4].map((i) => lock(`old${i}`, "o1")));
  expect(before.map((a) => a.type)).toEqual(Array(5).fill(ResponseType.Locked));
  // Restart (a new incarnation) with the same sequence numbers: every request runs anew.
  cluster.crash(via);
  cluster.start(via, { firstForwardSequence: first });
  cluster.runUntil(() => cluster.healthy());
  const after = requestAll(cluster, via, [0, 1, 2, 3, 4].map((i) => lock(`new${i}`, "o2")));
  expect(after.map((a) => a.type)).toEqual(Array(5).fill(ResponseType.Locked));
  for (let i = 0; i < 5; i++) {
    expect(cluster.request(leader, { op: "get", resource: `new${i}`, durability: 1 }))
      .toMatchObject({ type: ResponseType.Got, owner: "o2" });
  }
});

/**
 * Findings of the simulator, each as a scripted scenario on real NodeHosts (script.ts): the
 * steps that reproduce the bug class (which frame is held, delivered twice, which node
 * crashes), with no random draw of a run's seed. The seeds that first found them are named
 * for the record; both findings were fixed in f32b5c8.
 */
import { expect, test } from "bun:test";
import { Durability, type LockRequest, ResponseType } from "../../src/locks/types.ts";
import { type Frame, peerFrame, ScriptedCluster } from "./script.ts";

const P = Durability.Persistent;
const resource = "r";
const tryLock = (owner: string): LockRequest => ({
  op: "tryLock",
  resource,
  owner,
  expiresMs: 60_000,
  durability: P,
});
const unlock = (owner: string): LockRequest => ({ op: "unlock", resource, owner, durability: P });
const get: LockRequest = { op: "get", resource, durability: P };

/** A 3-node cluster with a leader and a follower that knows it. */
function cluster(): { c: ScriptedCluster; leader: string; follower: string } {
  const c = new ScriptedCluster(3);
  expect(c.runUntil(() => c.leaderOf() !== undefined)).toBe(true);
  const leader = c.leaderOf()!;
  const follower = c.ids.find((id) => id !== leader)!;
  expect(c.runUntil(() => c.knowsLeader(follower, leader))).toBe(true);
  return { c, leader, follower };
}

const carriesForward = (from: string) => (f: Frame) =>
  f.from === from && peerFrame(f).forwards.length > 0;
const carriesAnswer = (from: string, to: string) => (f: Frame) =>
  f.from === from && f.to === to && peerFrame(f).answers.length > 0;

/** Submits at `id` and runs until it is answered. */
function settle(c: ScriptedCluster, id: string, request: LockRequest) {
  const answers = c.submit(id, request);
  expect(c.runUntil(() => answers.length > 0)).toBe(true);
  return answers[0]!;
}

/*
 * A forwarded request ran once per delivered copy (src/host/node-host.ts). Seed 536: a
 * TryLock forwarded by a follower was answered Locked f0; its owner unlocked; the duplicate
 * then arrived and the leader granted the lock again to an owner that had let it go: a ghost
 * lease nobody knows of, and the next grant jumps a token. Over TCP this needs a transport
 * that resends frames after a reconnect. Fixed: the leader remembers the forwards it ran and
 * answers a duplicate from that memory.
 */
test("a forwarded TryLock delivered again after its owner unlocked grants nothing (seed 536)", () => {
  const { c, leader, follower } = cluster();
  c.hold(carriesForward(follower));
  const answers = c.submit(follower, tryLock("a"));
  const [forward] = c.runUntil(() => c.held.length > 0) ? c.take(() => true) : [];
  c.hold(() => false);
  c.deliver(forward!);
  expect(c.runUntil(() => answers.length > 0)).toBe(true);
  expect(answers[0]).toMatchObject({ type: ResponseType.Locked, fencingToken: 0 });
  expect(settle(c, leader, unlock("a")).type).toBe(ResponseType.Unlocked);

  c.deliver(forward!); // the duplicate, late
  c.run(200);
  expect(settle(c, leader, get).type).toBe(ResponseType.LockDoesNotExist);
  expect(settle(c, leader, tryLock("b"))).toMatchObject({
    type: ResponseType.Locked,
    fencingToken: 1,
  });
  expect(answers).toHaveLength(1);
});

/*
 * Seed 602, the same bug on an Unlock: it ran twice, and the second answer
 * (LockDoesNotExist) reached the forwarding node first, so the client was told its unlock
 * found no lock. Here the first answer is lost and the duplicate arrives after it.
 */
test("a forwarded Unlock delivered twice runs once and is answered Unlocked (seed 602)", () => {
  const { c, leader, follower } = cluster();
  expect(settle(c, leader, tryLock("a")).type).toBe(ResponseType.Locked);
  c.hold(carriesForward(follower));
  const answers = c.submit(follower, unlock("a"));
  const [forward] = c.runUntil(() => c.held.length > 0) ? c.take(() => true) : [];
  c.hold(carriesAnswer(leader, follower));
  c.deliver(forward!);
  expect(c.runUntil(() => c.held.length > 0)).toBe(true);
  c.take(() => true); // the first answer is lost
  c.hold(() => false);
  c.deliver(forward!);
  expect(c.runUntil(() => answers.length > 0)).toBe(true);
  c.run(200);
  expect(answers.map((a) => a.type)).toEqual([ResponseType.Unlocked]);
  expect(settle(c, leader, get).type).toBe(ResponseType.LockDoesNotExist);
});

/*
 * Forward ids restarted at 1 in every process, and the leader still sent answers to
 * forwards of a node's previous life, matched by id only. Seed 696 (and 52430): a node
 * forwarded a request, crashed before the answer came back and restarted; an Extend it then
 * forwarded was answered with the old request's answer (Busy, which no Extend can get).
 * Fixed: forward ids are incarnation · 2^32 + count, the incarnation a durable count of
 * starts.
 */
test("an answer to a forward from before a restart is not taken for a new one (seed 696)", () => {
  const { c, leader, follower } = cluster();
  expect(settle(c, leader, tryLock("a")).type).toBe(ResponseType.Locked);
  // The leader's answers to the follower are held back: the first forward gets Busy, later.
  c.hold(carriesAnswer(leader, follower));
  c.submit(follower, tryLock("b"));
  expect(c.runUntil(() => c.held.length > 0)).toBe(true);
  c.crash(follower);
  c.run(100);
  c.restart(follower);
  c.hold(() => false);
  expect(c.runUntil(() => c.knowsLeader(follower, leader))).toBe(true);
  c.hold(carriesAnswer(leader, follower));
  const answers = c.submit(follower, {
    op: "extend",
    resource,
    owner: "a",
    expiresMs: 60_000,
    durability: P,
  });
  expect(c.runUntil(() => c.held.length > 1)).toBe(true);
  c.hold(() => false);
  for (const frame of c.take(() => true)) c.deliver(frame); // the old answer first
  expect(c.runUntil(() => answers.length > 0)).toBe(true);
  expect(answers.map((a) => a.type)).toEqual([ResponseType.Extended]);
});

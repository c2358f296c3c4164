/**
 * The leader's sweep through Raft (docs/cluster.md, "Lock records and the sweep"), scripted on
 * the in-memory TestCluster: records free for the grace go on every replica, tokens continue
 * above them, and a partition whose records mostly went takes a small snapshot and drops the
 * log behind it (the sweep entries name every removed record).
 */
import { expect, test } from "bun:test";
import { ResponseType } from "../locks/types.ts";
import {
  ids,
  persistentLock as lock,
  persistentUnlock as unlock,
  TestCluster,
} from "./test-cluster.ts";

test("swept on every replica, tokens above the floor, a small snapshot and a short log", () => {
  const cluster = new TestCluster({ groups: 1, host: { sweepGraceMs: 1_000 } });
  cluster.runUntil(() => cluster.healthy());
  const leader = cluster.leaderOf(0);
  const answers = Array.from(
    { length: 2_000 },
    (_, i) => cluster.submit(leader, lock(`r${i}`, "w")),
  );
  cluster.runUntil(() => answers.every((a) => a()?.type === ResponseType.Locked));
  const released = Array.from(
    { length: 1_990 },
    (_, i) => cluster.submit(leader, unlock(`r${i}`, "w")),
  );
  cluster.runUntil(() => released.every((a) => a()?.type === ResponseType.Unlocked));
  const status = (id: string) => cluster.hosts.get(id)!.groupStatuses()[0]!;
  const store = cluster.stores.get(leader)!;
  const entriesBefore = store.load(0).entries.length;
  // Past the grace, every replica keeps only the 10 held locks.
  cluster.runUntil(() => ids.every((id) => status(id).records === 10), 4_000);
  expect(cluster.hosts.get(leader)!.groupStatuses({ locks: true })[0]!.locks).toBe(10);
  // The sweep shrank the partition by more than half: a snapshot of what is left, no log tail.
  cluster.runUntil(() => store.load(0).entries.length < 50);
  expect(entriesBefore).toBeGreaterThan(3_000);
  // (Taken once the records fell below half of the 2,000: 2,000 records would be ~36 KB.)
  expect(store.load(0).snapshot!.data.length).toBeLessThan(20_000);
  // A swept resource is granted above every removed token (each was 0).
  expect(cluster.request(leader, lock("r5", "x"))).toEqual({
    type: ResponseType.Locked,
    fencingToken: 1,
  });
  expect(cluster.request(leader, lock("r1995", "x")).type).toBe(ResponseType.Busy);
});

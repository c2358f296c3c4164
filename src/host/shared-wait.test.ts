/**
 * Shared locks in line (docs/spec.md §2.8), scripted on the in-memory TestCluster: a writer
 * waiting for readers is not passed by later readers, whether they wait or not; readers queued
 * together are granted together; a semaphore's waiters are let in as permits come free.
 */
import { expect, test } from "bun:test";
import { sharedLimitMax } from "../constants.ts";
import { Durability, type LockRequest, type LockResponse, ResponseType } from "../locks/types.ts";
import type { NodeId } from "../raft/types.ts";
import { TestCluster } from "./test-cluster.ts";

type Answers = { readonly all: LockResponse[]; last(): LockResponse | undefined };

function send(cluster: TestCluster, via: NodeId, request: LockRequest): Answers {
  const all: LockResponse[] = [];
  cluster.hosts.get(via)!.submit(request, (response) => all.push(response));
  return { all, last: () => all[all.length - 1] };
}

function lock(
  owner: string,
  durability: Durability,
  options: { waitMs?: number; limit?: number } = {},
): LockRequest {
  return { op: "tryLock", resource: "r", owner, expiresMs: 600_000, durability, ...options };
}

function unlock(owner: string, durability: Durability): LockRequest {
  return { op: "unlock", resource: "r", owner, durability };
}

const reader = { limit: sharedLimitMax };

for (const durability of [Durability.Persistent, Durability.Ephemeral]) {
  const kind = durability === Durability.Persistent ? "persistent" : "ephemeral";

  test(`${kind}: a waiting writer is not passed by later readers, and readers follow it together`, () => {
    const cluster = new TestCluster({ groups: 1 });
    cluster.runUntil(() => cluster.healthy());
    const leader = cluster.leaderOf(0);
    const host = cluster.hosts.get(leader)!;
    const settle = (answers: Answers) => cluster.runUntil(() => answers.last() !== undefined);

    const r1 = send(cluster, leader, lock("r1", durability, reader));
    settle(r1);
    const r2 = send(cluster, leader, lock("r2", durability, reader));
    settle(r2);
    expect([r1.last()!.type, r2.last()!.type]).toEqual([ResponseType.Locked, ResponseType.Locked]);

    const writer = send(cluster, leader, lock("w", durability, { waitMs: 60_000 }));
    cluster.runUntil(() => host.waiters() === 1);
    // A reader that does not wait would pass the writer: Busy. One that waits queues behind it.
    const late = send(cluster, leader, lock("r3", durability, reader));
    settle(late);
    expect(late.last()).toEqual({ type: ResponseType.Busy, fencingToken: 0 });
    const queued = ["q1", "q2"].map((owner) =>
      send(cluster, leader, lock(owner, durability, { ...reader, waitMs: 60_000 }))
    );
    cluster.runUntil(() => host.waiters() === 3);
    // A reader already holding it asks again (a retry): its own grant, not Busy.
    const retry = send(cluster, leader, lock("r1", durability, reader));
    settle(retry);
    expect(retry.last()).toEqual(r1.last());

    send(cluster, leader, unlock("r1", durability));
    for (let s = 0; s < 40; s++) cluster.step();
    expect(writer.all).toEqual([]);
    send(cluster, leader, unlock("r2", durability));
    settle(writer);
    expect(writer.last()!.type).toBe(ResponseType.Locked);
    expect(writer.last()!.fencingToken).toBeGreaterThan(r2.last()!.fencingToken);
    for (let s = 0; s < 40; s++) cluster.step();
    expect(queued.map((q) => q.all.length)).toEqual([0, 0]);

    send(cluster, leader, unlock("w", durability));
    cluster.runUntil(() => queued.every((q) => q.last() !== undefined));
    const tokens = queued.map((q) => q.last()!);
    expect(tokens.map((t) => t.type)).toEqual([ResponseType.Locked, ResponseType.Locked]);
    expect(tokens[0]!.fencingToken).toBeGreaterThan(writer.last()!.fencingToken);
    expect(tokens[1]!.fencingToken).toBeGreaterThan(tokens[0]!.fencingToken);
    expect(host.waiters()).toBe(0);
  });

  test(`${kind}: a semaphore's waiters come in one by one as permits come free`, () => {
    const cluster = new TestCluster({ groups: 1 });
    cluster.runUntil(() => cluster.healthy());
    const leader = cluster.leaderOf(0);
    const host = cluster.hosts.get(leader)!;
    const permits = { limit: 2 };
    const holders = ["a", "b"].map((owner) =>
      send(cluster, leader, lock(owner, durability, permits))
    );
    cluster.runUntil(() => holders.every((h) => h.last() !== undefined));
    const waiting = ["c", "d", "e"].map((owner) => {
      const answers = send(
        cluster,
        leader,
        lock(owner, durability, { ...permits, waitMs: 60_000 }),
      );
      cluster.runUntil(() => host.waiters() > 0 && answers.all.length === 0);
      for (let s = 0; s < 4; s++) cluster.step();
      return answers;
    });
    cluster.runUntil(() => host.waiters() === 3);
    send(cluster, leader, unlock("a", durability));
    cluster.runUntil(() => waiting[0]!.last() !== undefined);
    for (let s = 0; s < 40; s++) cluster.step();
    expect(waiting.map((w) => w.last()?.type)).toEqual([ResponseType.Locked, undefined, undefined]);
    send(cluster, leader, unlock("b", durability));
    send(cluster, leader, unlock("c", durability));
    cluster.runUntil(() => waiting.every((w) => w.last() !== undefined));
    expect(waiting.map((w) => w.last()!.type)).toEqual(Array(3).fill(ResponseType.Locked));
    expect(host.waiters()).toBe(0);
  });
}

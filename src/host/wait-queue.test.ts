/**
 * Fair waiting (docs/spec.md §2.5), scripted on the in-memory TestCluster: TryLocks with
 * waitMs stand in line and are granted in arrival order after releases and expiries, each
 * once, each with a higher token; time-outs, cancels, retries of the same owner, leader
 * changes and the bounds behave as documented.
 */
import { expect, test } from "bun:test";
import { proposalTimeoutTicks, tickMs, waitersPerResourceMax } from "../constants.ts";
import { Durability, type LockRequest, type LockResponse, ResponseType } from "../locks/types.ts";
import { type NodeId, Role } from "../raft/types.ts";
import { ids, TestCluster } from "./test-cluster.ts";

type Answers = { readonly all: LockResponse[]; last(): LockResponse | undefined };

function waitLock(
  resource: string,
  owner: string,
  durability: Durability,
  waitMs: number,
  expiresMs = 600_000,
): LockRequest {
  return { op: "tryLock", resource, owner, expiresMs, durability, waitMs };
}

function unlock(resource: string, owner: string, durability: Durability): LockRequest {
  return { op: "unlock", resource, owner, durability };
}

/** Submits and records every answer, to check each request is answered exactly once. */
function send(cluster: TestCluster, via: NodeId, request: LockRequest): Answers {
  const all: LockResponse[] = [];
  cluster.hosts.get(via)!.submit(request, (response) => all.push(response));
  return { all, last: () => all[all.length - 1] };
}

function started(groups = 1): { cluster: TestCluster; leader: NodeId } {
  const cluster = new TestCluster({ groups });
  cluster.runUntil(() => cluster.healthy());
  return { cluster, leader: cluster.leaderOf(0) };
}

for (const durability of [Durability.Persistent, Durability.Ephemeral]) {
  const kind = durability === Durability.Persistent ? "persistent" : "ephemeral";

  test(`${kind}: 20 waiters are granted in arrival order, each once, each with a higher token`, () => {
    const { cluster, leader } = started();
    const first = send(cluster, leader, waitLock("r", "holder", durability, 60_000));
    cluster.runUntil(() => first.last() !== undefined);
    expect(first.last()!.type).toBe(ResponseType.Locked);
    const waiters = Array.from({ length: 20 }, (_, i) => {
      const answers = send(cluster, leader, waitLock("r", `w${i}`, durability, 60_000));
      // Each arrives after the one before was judged Busy: arrival order is submission order.
      cluster.runUntil(() => cluster.hosts.get(leader)!.groupStatuses()[0] !== undefined);
      for (let s = 0; s < 4; s++) cluster.step();
      return answers;
    });
    cluster.runUntil(() => cluster.hosts.get(leader)!.waiters() === 20);
    expect(waiters.every((w) => w.all.length === 0)).toBe(true);

    const granted: string[] = [];
    let token = first.last()!.fencingToken;
    let holder = "holder";
    for (let turn = 0; turn < 20; turn++) {
      const released = send(cluster, leader, unlock("r", holder, durability));
      cluster.runUntil(() =>
        waiters.some((w, i) => !granted.includes(`w${i}`) && w.all.length > 0)
      );
      expect(released.last()?.type).toBe(ResponseType.Unlocked);
      const next = waiters.findIndex((w, i) => !granted.includes(`w${i}`) && w.all.length > 0);
      expect(next).toBe(turn);
      const answer = waiters[next]!.last()!;
      expect(answer.type).toBe(ResponseType.Locked);
      expect(answer.fencingToken).toBeGreaterThan(token);
      token = answer.fencingToken;
      holder = `w${next}`;
      granted.push(holder);
    }
    for (let s = 0; s < 200; s++) cluster.step();
    expect(waiters.map((w) => w.all.length)).toEqual(Array(20).fill(1));
    expect(cluster.hosts.get(leader)!.waiters()).toBe(0);
  });

  test(`${kind}: an expired lease hands the lock to the first waiter without an unlock`, () => {
    const { cluster, leader } = started();
    const holder = send(cluster, leader, waitLock("r", "holder", durability, 1_000, 500));
    cluster.runUntil(() => holder.last() !== undefined);
    expect(holder.last()!.type).toBe(ResponseType.Locked);
    const grantedAt: number[] = [];
    const waiter = send(cluster, leader, waitLock("r", "w", durability, 60_000));
    const sentAt = cluster.ms;
    cluster.runUntil(() => {
      if (waiter.last() !== undefined && grantedAt.length === 0) grantedAt.push(cluster.ms);
      return waiter.last() !== undefined;
    });
    expect(waiter.last()!.type).toBe(ResponseType.Locked);
    // Not before the lease ended, and within a tick (plus a commit) after it.
    expect(grantedAt[0]! - sentAt).toBeGreaterThanOrEqual(490);
    expect(grantedAt[0]! - sentAt).toBeLessThan(500 + 2 * tickMs + 100);
  });

  test(`${kind}: a waiter whose time is up gets Busy, not before`, () => {
    const { cluster, leader } = started();
    const holder = send(cluster, leader, waitLock("r", "holder", durability, 1_000));
    cluster.runUntil(() => holder.last() !== undefined);
    const waiter = send(cluster, leader, waitLock("r", "w", durability, 700));
    const sentAt = cluster.ms;
    cluster.runUntil(() => waiter.last() !== undefined);
    expect(waiter.last()).toEqual({ type: ResponseType.Busy, fencingToken: 0 });
    expect(cluster.ms - sentAt).toBeGreaterThanOrEqual(700);
    expect(cluster.ms - sentAt).toBeLessThan(700 + 2 * tickMs);
    expect(cluster.hosts.get(leader)!.waiters()).toBe(0);
  });

  test(`${kind}: a cancelled waiter leaves the line and is never answered`, () => {
    const { cluster, leader } = started();
    const holder = send(cluster, leader, waitLock("r", "holder", durability, 1_000));
    cluster.runUntil(() => holder.last() !== undefined);
    const host = cluster.hosts.get(leader)!;
    const gone: LockResponse[] = [];
    const goneReply = (response: LockResponse) => gone.push(response);
    host.submit(waitLock("r", "gone", durability, 60_000), goneReply);
    cluster.runUntil(() => host.waiters() === 1);
    const next = send(cluster, leader, waitLock("r", "next", durability, 60_000));
    cluster.runUntil(() => host.waiters() === 2);
    host.cancel(goneReply);
    expect(host.waiters()).toBe(1);
    send(cluster, leader, unlock("r", "holder", durability));
    cluster.runUntil(() => next.last() !== undefined);
    expect(next.last()!.type).toBe(ResponseType.Locked);
    for (let s = 0; s < 100; s++) cluster.step();
    expect(gone).toEqual([]);
  });

  test(`${kind}: the same owner sent again keeps its place; the earlier request must retry`, () => {
    const { cluster, leader } = started();
    const holder = send(cluster, leader, waitLock("r", "holder", durability, 1_000));
    cluster.runUntil(() => holder.last() !== undefined);
    const host = cluster.hosts.get(leader)!;
    const a1 = send(cluster, leader, waitLock("r", "a", durability, 60_000));
    cluster.runUntil(() => host.waiters() === 1);
    const b = send(cluster, leader, waitLock("r", "b", durability, 60_000));
    cluster.runUntil(() => host.waiters() === 2);
    const a2 = send(cluster, leader, waitLock("r", "a", durability, 60_000));
    cluster.runUntil(() => a1.last() !== undefined);
    expect(a1.last()!.type).toBe(ResponseType.MustRetry);
    expect(host.waiters()).toBe(2);
    send(cluster, leader, unlock("r", "holder", durability));
    cluster.runUntil(() => a2.last() !== undefined);
    expect(a2.last()!.type).toBe(ResponseType.Locked);
    expect(b.all).toEqual([]);
    expect(a1.all.length).toBe(1);
  });
}

test("a forwarded TryLock may wait longer than a forward's usual time-out", () => {
  const { cluster, leader } = started();
  const follower = ids.find((id) => id !== leader)!;
  const holder = send(cluster, leader, waitLock("r", "holder", Durability.Persistent, 1_000));
  cluster.runUntil(() => holder.last() !== undefined);
  const waitMs = proposalTimeoutTicks * tickMs * 2;
  const waiter = send(cluster, follower, waitLock("r", "w", Durability.Persistent, waitMs));
  const sentAt = cluster.ms;
  // Past a forward's usual time-out, the forwarder still waits for the leader's answer.
  cluster.runUntil(() => cluster.ms - sentAt > proposalTimeoutTicks * tickMs + 500, 100_000);
  expect(waiter.all).toEqual([]);
  send(cluster, leader, unlock("r", "holder", Durability.Persistent));
  cluster.runUntil(() => waiter.last() !== undefined);
  expect(waiter.last()!.type).toBe(ResponseType.Locked);
});

test("waiters get MustRetry when their leader is gone, and may queue again at the next", () => {
  const { cluster, leader } = started();
  const holder = send(cluster, leader, waitLock("r", "holder", Durability.Persistent, 1_000));
  cluster.runUntil(() => holder.last() !== undefined);
  const follower = ids.find((id) => id !== leader)!;
  const waiter = send(cluster, follower, waitLock("r", "w", Durability.Persistent, 60_000));
  cluster.runUntil(() => cluster.hosts.get(leader)!.waiters() === 1);
  cluster.crash(leader);
  cluster.runUntil(() => waiter.last() !== undefined, 100_000);
  // The forward's answer never comes: unknown outcome, retried with the same owner.
  expect([ResponseType.MustRetry, ResponseType.Indeterminate] as number[]).toContain(
    waiter.last()!.type,
  );
  const next = cluster.leaderOf(0);
  const again = send(cluster, next, waitLock("r", "w", Durability.Persistent, 60_000));
  cluster.runUntil(() => cluster.hosts.get(next)!.waiters() === 1);
  send(cluster, next, unlock("r", "holder", Durability.Persistent));
  cluster.runUntil(() => again.last() !== undefined);
  expect(again.last()!.type).toBe(ResponseType.Locked);
});

test("a deposed leader tells its waiters to retry", () => {
  const cut = new Set<NodeId>();
  const cluster = new TestCluster({
    groups: 1,
    route: ({ from, to }) => (cut.has(from) || cut.has(to) ? "drop" : "deliver"),
  });
  cluster.runUntil(() => cluster.healthy());
  const leader = cluster.leaderOf(0);
  const host = cluster.hosts.get(leader)!;
  const holder = send(cluster, leader, waitLock("r", "holder", Durability.Ephemeral, 60_000));
  cluster.runUntil(() => holder.last() !== undefined);
  const waiters = Array.from(
    { length: 3 },
    (_, i) => send(cluster, leader, waitLock("r", `w${i}`, Durability.Ephemeral, 60_000)),
  );
  cluster.runUntil(() => host.waiters() === 3);
  // Cut off, the old leader is deposed (by its quorum check, or by the new term once healed).
  cut.add(leader);
  const others = ids.filter((id) => id !== leader);
  cluster.runUntil(
    () => others.some((id) => cluster.hosts.get(id)!.groupStatuses()[0]!.role === Role.Leader),
    100_000,
  );
  cut.clear();
  cluster.runUntil(() => waiters.every((w) => w.last() !== undefined), 100_000);
  for (const w of waiters) expect(w.all.map((a) => a.type)).toEqual([ResponseType.MustRetry]);
  expect(host.waiters()).toBe(0);
});

test("a full line, and a full node, answer MustRetry", () => {
  const { cluster, leader } = started();
  const host = cluster.hosts.get(leader)!;
  const holder = send(cluster, leader, waitLock("r", "holder", Durability.Ephemeral, 1_000));
  cluster.runUntil(() => holder.last() !== undefined);
  const waiters = Array.from(
    { length: waitersPerResourceMax + 1 },
    (_, i) => send(cluster, leader, waitLock("r", `w${i}`, Durability.Ephemeral, 60_000)),
  );
  cluster.runUntil(() => waiters[waitersPerResourceMax]!.last() !== undefined);
  const full = waiters[waitersPerResourceMax]!.last()!;
  expect(full.type).toBe(ResponseType.MustRetry);
  expect(full.error).toContain("too many waiters");
  expect(host.waiters()).toBe(waitersPerResourceMax);
  expect(waiters.slice(0, waitersPerResourceMax).every((w) => w.all.length === 0)).toBe(true);

  const small = new TestCluster({ groups: 1, host: { waitersMax: 3 } });
  small.runUntil(() => small.healthy());
  const smallLeader = small.leaderOf(0);
  const locks = ["p", "q"].map((r) =>
    send(small, smallLeader, waitLock(r, "holder", Durability.Persistent, 1_000))
  );
  small.runUntil(() => locks.every((l) => l.last() !== undefined));
  const queued = [["p", "a"], ["q", "b"], ["p", "c"], ["q", "d"]].map(([r, o]) =>
    send(small, smallLeader, waitLock(r!, o!, Durability.Persistent, 60_000))
  );
  small.runUntil(() => queued[3]!.last() !== undefined);
  expect(queued[3]!.last()!.type).toBe(ResponseType.MustRetry);
  expect(small.hosts.get(smallLeader)!.waiters()).toBe(3);
});

test("a retry that queues while the owner's first try is still being judged keeps one place", () => {
  // Found by simulator seed 5000260: the first try's Busy came back after the retry had
  // joined the line, and queued the same owner twice (an assertion stopped the node).
  const { cluster, leader } = started();
  const host = cluster.hosts.get(leader)!;
  const holder = send(cluster, leader, waitLock("r", "holder", Durability.Persistent, 1_000));
  cluster.runUntil(() => holder.last() !== undefined);
  // y and x are both tried (no line yet); x's try is proposed a round after y's.
  send(cluster, leader, waitLock("r", "y", Durability.Persistent, 60_000));
  cluster.step();
  const first = send(cluster, leader, waitLock("r", "x", Durability.Persistent, 60_000));
  // y's Busy made the line; x's is not judged yet when x's retry comes and joins the line.
  cluster.runUntil(() => host.waiters() === 1);
  expect(first.all).toEqual([]);
  const retry = send(cluster, leader, waitLock("r", "x", Durability.Persistent, 60_000));
  expect(host.waiters()).toBe(2);
  cluster.runUntil(() => first.last() !== undefined);
  expect(first.all.map((a) => a.type)).toEqual([ResponseType.MustRetry]);
  expect(host.waiters()).toBe(2);
  expect(retry.all).toEqual([]);
});

test("a forwarded waiter cancelled where it was sent leaves the leader's line too", () => {
  const { cluster, leader } = started();
  const follower = ids.find((id) => id !== leader)!;
  const holder = send(cluster, leader, waitLock("r", "holder", Durability.Persistent, 1_000));
  cluster.runUntil(() => holder.last() !== undefined);
  const gone: LockResponse[] = [];
  const goneReply = (response: LockResponse) => gone.push(response);
  cluster.hosts.get(follower)!.submit(
    waitLock("r", "gone", Durability.Persistent, 60_000),
    goneReply,
  );
  const leaderHost = cluster.hosts.get(leader)!;
  cluster.runUntil(() => leaderHost.waiters() === 1);
  cluster.hosts.get(follower)!.cancel(goneReply);
  cluster.runUntil(() => leaderHost.waiters() === 0);
  send(cluster, leader, unlock("r", "holder", Durability.Persistent));
  for (let s = 0; s < 200; s++) cluster.step();
  expect(gone).toEqual([]);
  expect(cluster.request(leader, { op: "get", resource: "r", durability: Durability.Persistent }))
    .toMatchObject({ type: ResponseType.LockDoesNotExist });
});

/**
 * FIFO under a stable leader, over random histories: waiters arrive one at a time (each stands
 * in line before the next is sent), holders release or let their lease run out, and some
 * waiters are cancelled. Every grant goes to the oldest waiter still in line, once, with a higher
 * token than the grant before. (A waiter whose time runs out without the rules having answered
 * it Busy makes a last plain TryLock, outside the line: the time-out tests cover that.)
 */
for (const durability of [Durability.Persistent, Durability.Ephemeral]) {
  test(`durability ${durability}: random histories grant in arrival order`, () => {
    for (let seed = 1; seed <= 12; seed++) {
      let state = seed * 7919;
      const random = (n: number) => {
        state = (state * 1103515245 + 12345) % 2 ** 31;
        return state % n;
      };
      const { cluster, leader } = started();
      const host = cluster.hosts.get(leader)!;
      type Waiting = { owner: string; answers: LockResponse[]; reply: (r: LockResponse) => void };
      const line: Waiting[] = [];
      let holder: string | undefined;
      let token = -1;
      let next = 0;
      const check = () => {
        for (const w of [...line]) {
          if (w.answers.length === 0) continue;
          expect(w.answers.length).toBe(1);
          const answer = w.answers[0]!;
          if (answer.type === ResponseType.Locked) {
            // The oldest waiter still in line is the one granted.
            expect({ seed, owner: line[0]!.owner }).toEqual({ seed, owner: w.owner });
            expect(answer.fencingToken).toBeGreaterThan(token);
            token = answer.fencingToken;
            holder = w.owner;
          } else {
            expect(answer.type).toBe(ResponseType.Busy);
          }
          line.splice(line.indexOf(w), 1);
        }
      };
      for (let action = 0; action < 60; action++) {
        const roll = random(10);
        if (roll < 5 || holder === undefined) {
          const owner = `o${next++}`;
          const w: Waiting = { owner, answers: [], reply: () => {} };
          w.reply = (response) => w.answers.push(response);
          // Short leases now and then, so expiries hand the lock on too.
          const expiresMs = random(4) === 0 ? 200 + random(300) : 600_000;
          const waitMs = 60_000;
          host.submit(
            { op: "tryLock", resource: "r", owner, expiresMs, durability, waitMs },
            w.reply,
          );
          line.push(w);
          // Answered at once, or standing in line, before the next one comes.
          const waiting = () => line.filter((x) => x.answers.length === 0).length;
          cluster.runUntil(() => w.answers.length > 0 || host.waiters() >= waiting());
        } else if (roll < 8) {
          send(cluster, leader, unlock("r", holder, durability));
          holder = undefined;
        } else if (roll < 9 && line.length > 1) {
          const w = line[1 + random(line.length - 1)]!;
          if (w.answers.length === 0) {
            host.cancel(w.reply);
            line.splice(line.indexOf(w), 1);
          }
        } else {
          for (let s = 0; s < 40 + random(100); s++) cluster.step();
        }
        for (let s = 0; s < 10; s++) cluster.step();
        check();
      }
    }
  });
}

/**
 * Watches (docs/spec.md §2.6), scripted on the in-memory TestCluster: a watcher that sends each
 * answer's cursor back sees every change of holder (acquired, released, expired) in order and
 * once, also the changes between its requests, through a follower too; an expiry is not
 * declared while an Extend judged before the lease's end may still commit; a new leader tells
 * a watcher what it cannot account for; the bounds answer MustRetry.
 */
import { expect, test } from "bun:test";
import {
  tickMs,
  watchHistoryMax,
  watchIdleMs,
  watchPollsPerResourceMax,
  watchRecentChangesMax,
} from "../constants.ts";
import {
  Durability,
  type LockRequest,
  type LockResponse,
  ResponseType,
  type WatchAnswer,
  type WatchEvent,
} from "../locks/types.ts";
import { type NodeId } from "../raft/types.ts";
import { ids, TestCluster } from "./test-cluster.ts";

function lock(resource: string, owner: string, durability: Durability, expiresMs = 600_000) {
  return { op: "tryLock", resource, owner, expiresMs, durability } as const;
}

function unlock(resource: string, owner: string, durability: Durability) {
  return { op: "unlock", resource, owner, durability } as const;
}

function watch(resource: string, durability: Durability, after?: string, waitMs?: number) {
  return {
    op: "watch",
    resource,
    durability,
    ...(after === undefined ? {} : { after }),
    ...(waitMs === undefined ? {} : { waitMs }),
  } as const;
}

function started(): { cluster: TestCluster; leader: NodeId; follower: NodeId } {
  const cluster = new TestCluster({ groups: 1 });
  cluster.runUntil(() => cluster.healthy());
  const leader = cluster.leaderOf(0);
  return { cluster, leader, follower: ids.find((id) => id !== leader)! };
}

function watched(response: LockResponse): WatchAnswer {
  expect(response.type).toBe(ResponseType.Watched);
  expect(response.watch).toBeDefined();
  return response.watch!;
}

/** The events as "kind owner token", to compare whole histories at a glance. */
function brief(events: readonly WatchEvent[]): string[] {
  return events.map((e) => `${e.kind} ${e.owner} ${e.fencingToken}`);
}

/**
 * A watcher that keeps one request waiting (as the client library does), collecting every
 * event and answer.
 */
class Watcher {
  readonly events: WatchEvent[] = [];
  readonly answers: WatchAnswer[] = [];
  cursor: string;
  private waiting = false;

  constructor(
    private readonly cluster: TestCluster,
    private readonly via: NodeId,
    readonly resource: string,
    readonly durability: Durability,
  ) {
    const first = watched(cluster.request(via, watch(resource, durability)));
    this.answers.push(first);
    this.events.push(...first.events);
    this.cursor = first.cursor;
  }

  /** Sends the next request when none waits; call between steps. */
  pump(): void {
    if (this.waiting) return;
    this.waiting = true;
    const request = watch(this.resource, this.durability, this.cursor, 60_000);
    this.cluster.hosts.get(this.via)!.submit(request, (response) => {
      this.waiting = false;
      if (response.type !== ResponseType.Watched) return;
      const answer = watched(response);
      this.answers.push(answer);
      this.events.push(...answer.events);
      this.cursor = answer.cursor;
    });
  }

  run(cluster: TestCluster, done: () => boolean, stepsMax = 20_000): void {
    for (let i = 0; i < stepsMax && !done(); i++) {
      this.pump();
      cluster.step();
    }
    expect(done()).toBe(true);
  }
}

for (const durability of [Durability.Persistent, Durability.Ephemeral]) {
  const kind = durability === Durability.Persistent ? "persistent" : "ephemeral";

  for (const through of ["leader", "follower"] as const) {
    test(`${kind}, through the ${through}: acquired, released and expired, in order, once`, () => {
      const { cluster, leader, follower } = started();
      const via = through === "leader" ? leader : follower;
      const w = new Watcher(cluster, via, "r", durability);
      expect(w.events.map((e) => e.kind)).toEqual(["state"]);
      expect(w.events[0]!.owner).toBe("");

      const a = cluster.request(via, lock("r", "A", durability));
      w.run(cluster, () => w.events.length === 2);
      expect(cluster.request(via, unlock("r", "A", durability)).type).toBe(ResponseType.Unlocked);
      w.run(cluster, () => w.events.length === 3);
      const grantedAt = cluster.ms;
      const b = cluster.request(via, lock("r", "B", durability, 500));
      w.run(cluster, () => w.events.length === 5);
      const expiredAt = cluster.ms;

      expect(brief(w.events.slice(1))).toEqual([
        `acquired A ${a.fencingToken}`,
        `released A ${a.fencingToken}`,
        `acquired B ${b.fencingToken}`,
        `expired B ${b.fencingToken}`,
      ]);
      expect(w.events[1]!.expiresMs).toBe(600_000);
      expect(w.events[3]!.expiresMs).toBe(500);
      // Declared once the lease is over on the leader's clock, within a tick or so after.
      expect(expiredAt - grantedAt).toBeGreaterThanOrEqual(500);
      expect(expiredAt - grantedAt).toBeLessThan(500 + 4 * tickMs);
      // Each answer's cursor is its last event's, and cursors only grow.
      for (const answer of w.answers) {
        if (answer.events.length > 0) expect(answer.cursor).toBe(answer.events.at(-1)!.cursor);
      }
      const positions = w.events.map((e) => e.cursor.split(".").map(Number) as [number, number]);
      for (let i = 1; i < positions.length; i++) {
        const [token, phase] = positions[i]!;
        const [lastToken, lastPhase] = positions[i - 1]!;
        expect(token > lastToken || (token === lastToken && phase > lastPhase)).toBe(true);
      }
    });
  }

  test(`${kind}: changes between two requests of a watcher are all in the next answer`, () => {
    const { cluster, leader } = started();
    const first = watched(cluster.request(leader, watch("r", durability)));
    const tokens: number[] = [];
    for (const owner of ["A", "B", "C"]) {
      tokens.push(cluster.request(leader, lock("r", owner, durability)).fencingToken);
      if (owner !== "C") cluster.request(leader, unlock("r", owner, durability));
    }
    const next = watched(cluster.request(leader, watch("r", durability, first.cursor, 1_000)));
    expect(next.missed).toBe(false);
    expect(brief(next.events)).toEqual([
      `acquired A ${tokens[0]}`,
      `released A ${tokens[0]}`,
      `acquired B ${tokens[1]}`,
      `released B ${tokens[1]}`,
      `acquired C ${tokens[2]}`,
    ]);
    // The same cursor again gives the same answer: a lost answer costs nothing.
    const again = watched(cluster.request(leader, watch("r", durability, first.cursor, 1_000)));
    expect(again).toEqual(next);
  });

  test(
    `${kind}: more changes than the history keeps: ${
      durability === Durability.Persistent
        ? "all of them, from the partition's recent changes, a history's worth per answer"
        : "the state, missed"
    }`,
    () => {
      const { cluster, leader } = started();
      const first = watched(cluster.request(leader, watch("r", durability)));
      const expected: string[] = [];
      let token = 0;
      for (let i = 0; i <= watchHistoryMax / 2; i++) {
        token = cluster.request(leader, lock("r", `o${i}`, durability)).fencingToken;
        cluster.request(leader, unlock("r", `o${i}`, durability));
        expected.push(`acquired o${i} ${token}`, `released o${i} ${token}`);
      }
      const next = watched(cluster.request(leader, watch("r", durability, first.cursor, 1_000)));
      if (durability === Durability.Ephemeral) {
        expect(next.missed).toBe(true);
        expect(brief(next.events)).toEqual([`state  ${token}`]);
        expect(next.cursor).toBe(`${token}.2`);
        return;
      }
      expect(next.missed).toBe(false);
      expect(next.events.length).toBe(watchHistoryMax);
      const rest = watched(cluster.request(leader, watch("r", durability, next.cursor, 1_000)));
      expect(brief([...next.events, ...rest.events])).toEqual(expected);
    },
  );

  if (durability === Durability.Persistent) {
    test("persistent: more changes than the partition keeps answer the state, missed", () => {
      const { cluster, leader } = started();
      const first = watched(cluster.request(leader, watch("r", durability)));
      const token = cluster.request(leader, lock("r", "A", durability)).fencingToken;
      // Other locks' changes push r's out of the partition's recent changes; r's own watch is
      // forgotten after watchIdleMs.
      const answers: (() => LockResponse | undefined)[] = [];
      for (let i = 0; i < watchRecentChangesMax; i++) {
        answers.push(cluster.submit(leader, lock(`other${i}`, "B", durability)));
      }
      cluster.runUntil(() => answers.every((a) => a() !== undefined), 100_000);
      const idleUntil = cluster.ms + watchIdleMs + 2 * tickMs;
      cluster.runUntil(() => cluster.ms >= idleUntil, 100_000);
      const next = watched(cluster.request(leader, watch("r", durability, first.cursor, 1_000)));
      expect(next.missed).toBe(true);
      expect(brief(next.events)).toEqual([`state A ${token}`]);
    });
  }

  test(`${kind}: a watch with no change before its waitMs is answered with none`, () => {
    const { cluster, leader } = started();
    const first = watched(cluster.request(leader, watch("r", durability)));
    const sentAt = cluster.ms;
    const next = watched(cluster.request(leader, watch("r", durability, first.cursor, 300)));
    expect(next).toEqual({ cursor: first.cursor, missed: false, events: [] });
    expect(cluster.ms - sentAt).toBeGreaterThanOrEqual(300);
  });
}

for (const durability of [Durability.Persistent, Durability.Ephemeral]) {
  const kind = durability === Durability.Persistent ? "persistent" : "ephemeral";
  test(`${kind}: a lease that ran out and was swept unseen is reported expired (seed 112)`, () => {
    // Found by the simulator's watch checker: the record of an expired lease was swept before
    // its expiry was declared, and the watcher saw the next grant without the end of this one.
    const cluster = new TestCluster({ groups: 1, host: { sweepGraceMs: 1 } });
    cluster.runUntil(() => cluster.healthy());
    const leader = cluster.leaderOf(0);
    const first = watched(cluster.request(leader, watch("r", durability)));
    const granted = cluster.request(leader, lock("r", "A", durability, 200));
    const seen = watched(cluster.request(leader, watch("r", durability, first.cursor, 1_000)));
    expect(brief(seen.events)).toEqual([`acquired A ${granted.fencingToken}`]);
    // No watch request waits, and the lock's watch is forgotten: only the sweep sees the end.
    const forgetAt = cluster.ms + watchIdleMs + 2 * tickMs;
    cluster.runUntil(() => cluster.ms >= forgetAt, 100_000);
    const next = cluster.request(leader, lock("r", "B", durability));
    const after = watched(cluster.request(leader, watch("r", durability, seen.cursor, 1_000)));
    if (durability === Durability.Ephemeral) {
      // The leader's watch of r was forgotten and ephemeral changes are not kept for it.
      expect(after.missed).toBe(true);
      expect(brief(after.events)).toEqual([`state B ${next.fencingToken}`]);
      return;
    }
    expect(after.missed).toBe(false);
    expect(brief(after.events)).toEqual([
      `expired A ${granted.fencingToken}`,
      `acquired B ${next.fencingToken}`,
    ]);
  });
}

test("ephemeral: a watched lease swept in the tick it ran out in is reported expired", () => {
  // The leader sweeps before it declares expiries in a tick: with a short grace the record is
  // gone by the time it looks, so the sweep must report the end itself.
  const cluster = new TestCluster({ groups: 1, host: { sweepGraceMs: 1 } });
  cluster.runUntil(() => cluster.healthy());
  const leader = cluster.leaderOf(0);
  const e = Durability.Ephemeral;
  const w = new Watcher(cluster, leader, "r", e);
  const granted = cluster.request(leader, lock("r", "A", e, 200));
  w.run(cluster, () => w.events.length === 3);
  expect(brief(w.events.slice(1))).toEqual([
    `acquired A ${granted.fencingToken}`,
    `expired A ${granted.fencingToken}`,
  ]);
});

test("values: acquired carries it, a new one is proclaimed (once), a new leader places the cursor", () => {
  const { cluster, leader } = started();
  const p = Durability.Persistent;
  const other = ids.find((id) => id !== leader)!;
  const first = watched(cluster.request(other, watch("r", p)));
  const granted = cluster.request(other, { ...lock("r", "A", p), value: "host-a" });
  const extend = (value?: string) =>
    cluster.request(other, {
      op: "extend",
      resource: "r",
      owner: "A",
      expiresMs: 600_000,
      durability: p,
      ...(value === undefined ? {} : { value }),
    });
  expect(extend("host-a").type).toBe(ResponseType.Extended); // the same value: no change
  expect(extend("host-b").type).toBe(ResponseType.Extended);
  expect(extend().type).toBe(ResponseType.Extended); // none: it stays
  const seen = watched(cluster.request(other, watch("r", p, first.cursor, 1_000)));
  expect(seen.events.map((e) => [e.kind, e.value, e.cursor])).toEqual([
    ["acquired", "host-a", `${granted.fencingToken}.1`],
    ["proclaimed", "host-b", `${granted.fencingToken}.1.1`],
  ]);
  // The state says the value too, and a new leader goes on from a proclamation's cursor.
  const state = watched(cluster.request(other, watch("r", p)));
  expect(state.events[0]).toMatchObject({ kind: "state", owner: "A", value: "host-b" });
  cluster.crash(leader);
  cluster.leaderOf(0);
  expect(extend("host-c").type).toBe(ResponseType.Extended);
  const after = watched(cluster.request(other, watch("r", p, seen.cursor, 1_000)));
  expect(after.missed).toBe(false);
  expect(after.events.map((e) => [e.kind, e.value, e.cursor])).toEqual([
    ["proclaimed", "host-c", `${granted.fencingToken}.1.2`],
  ]);
});

test("an expiry is not declared while an Extend judged before the lease's end may commit", () => {
  // Hold every frame the leader sends, so an Extend it proposed cannot commit until the lease
  // it extends has ended on the leader's clock. The watcher must not be told "expired": the
  // Extend, judged in time, commits and the lock stays with its holder.
  let holding = false;
  let leader: NodeId = "";
  const cluster = new TestCluster({
    groups: 1,
    route: (frame) => (holding && frame.from === leader ? "hold" : "deliver"),
  });
  cluster.runUntil(() => cluster.healthy());
  leader = cluster.leaderOf(0);
  const p = Durability.Persistent;
  const w = new Watcher(cluster, leader, "r", p);
  const granted = cluster.request(leader, lock("r", "A", p, 1_000));
  w.run(cluster, () => w.events.length === 2);
  const grantedAt = cluster.ms;
  cluster.runUntil(() => cluster.ms >= grantedAt + 900);

  holding = true;
  const extended = cluster.submit(leader, { ...lock("r", "A", p, 2_000), op: "extend" });
  // Past the lease's end, and short of an election timeout (the followers hear nothing).
  for (let i = 0; cluster.ms < grantedAt + 1_250; i++) {
    w.pump();
    cluster.step();
  }
  expect(w.events.length).toBe(2);
  holding = false;
  cluster.release();
  w.run(cluster, () => extended() !== undefined);
  expect(extended()!.type).toBe(ResponseType.Extended);
  w.run(cluster, () => w.events.length === 3);
  expect(brief(w.events.slice(1))).toEqual([
    `acquired A ${granted.fencingToken}`,
    `expired A ${granted.fencingToken}`,
  ]);
  // The Extend was judged at about grantedAt + 900 for 2,000 ms.
  expect(cluster.ms).toBeGreaterThanOrEqual(grantedAt + 2_900);
});

test("an expiry a leader declared holds at the next leader: the holder's Extend is refused", () => {
  // The lease ran out on the leader's clock with nothing else in the log. Had the leader only
  // told its watcher so, the next leader (rebasing leases from the last clock reading in the
  // log) would still see time left and take the holder's Extend: "expired", then held again.
  const { cluster, leader } = started();
  const p = Durability.Persistent;
  const w = new Watcher(cluster, leader, "r", p);
  const granted = cluster.request(leader, lock("r", "A", p, 1_000));
  w.run(cluster, () => w.events.length === 3);
  expect(brief(w.events.slice(1))).toEqual([
    `acquired A ${granted.fencingToken}`,
    `expired A ${granted.fencingToken}`,
  ]);
  cluster.crash(leader);
  const next = cluster.leaderOf(0);
  const extended = cluster.request(next, { ...lock("r", "A", p, 60_000), op: "extend" });
  expect(extended.type).toBe(ResponseType.LockDoesNotExist);
});

test("a first watch of a lease over on the leader's clock but not in the log's says held (seed 8000087)", () => {
  // Found by the simulator's watch checker: the leader answered "free" because its own clock
  // had passed the lease's end, with no entry since the grant; the next leader, counting what
  // was left from the grant's clock reading, still held the lock for its owner.
  const { cluster, leader } = started();
  const p = Durability.Persistent;
  const granted = cluster.request(leader, lock("r", "A", p, 300));
  const grantedAt = cluster.ms;
  cluster.runUntil(() => cluster.ms >= grantedAt + 500);
  const state = watched(cluster.request(leader, watch("r", p)));
  expect(brief(state.events)).toEqual([`state A ${granted.fencingToken}`]);
  // It is then declared expired as any watched lease, once the log's clock is past its end.
  const w = watched(cluster.request(leader, watch("r", p, state.cursor, 1_000)));
  expect(brief(w.events)).toEqual([`expired A ${granted.fencingToken}`]);
  cluster.crash(leader);
  const next = cluster.leaderOf(0);
  const extended = cluster.request(next, { ...lock("r", "A", p, 60_000), op: "extend" });
  expect(extended.type).toBe(ResponseType.LockDoesNotExist);
});

test("after a leader change, a persistent watcher goes on from its cursor", () => {
  const { cluster, leader } = started();
  const p = Durability.Persistent;
  const other = ids.find((id) => id !== leader)!;
  const first = watched(cluster.request(other, watch("r", p)));
  const a = cluster.request(other, lock("r", "A", p));
  const seen = watched(cluster.request(other, watch("r", p, first.cursor, 1_000)));
  expect(brief(seen.events)).toEqual([`acquired A ${a.fencingToken}`]);

  cluster.crash(leader);
  const next = cluster.leaderOf(0);
  const via = next === other ? other : next;
  // Nothing changed: the new leader places the cursor and waits.
  const quiet = watched(cluster.request(via, watch("r", p, seen.cursor, 300)));
  expect(quiet).toEqual({ cursor: seen.cursor, missed: false, events: [] });
  cluster.request(via, unlock("r", "A", p));
  const after = watched(cluster.request(via, watch("r", p, seen.cursor, 1_000)));
  expect(after.missed).toBe(false);
  expect(brief(after.events)).toEqual([`released A ${a.fencingToken}`]);
});

test("changes made while no watcher asked a new leader come from its recent changes", () => {
  const { cluster, leader } = started();
  const p = Durability.Persistent;
  const other = ids.find((id) => id !== leader)!;
  const first = watched(cluster.request(other, watch("r", p)));
  const a = cluster.request(other, lock("r", "A", p));
  cluster.crash(leader);
  cluster.leaderOf(0);
  // The new leader never had a watch of r: only the changes it applied, as every replica did.
  cluster.request(other, unlock("r", "A", p));
  const b = cluster.request(other, lock("r", "B", p, 1_000));
  cluster.runUntil(() =>
    cluster.ms > 0 &&
    cluster.request(other, { op: "get", resource: "r", durability: p }).type ===
      ResponseType.LockDoesNotExist
  );
  const after = watched(cluster.request(other, watch("r", p, first.cursor, 1_000)));
  expect(after.missed).toBe(false);
  expect(brief(after.events)).toEqual([
    `acquired A ${a.fencingToken}`,
    `released A ${a.fencingToken}`,
    `acquired B ${b.fencingToken}`,
  ]);
  // B's lease is over on this leader's clock, not yet in the log's: declared once it is.
  const ended = watched(cluster.request(other, watch("r", p, after.cursor, 1_000)));
  expect(brief(ended.events)).toEqual([`expired B ${b.fencingToken}`]);
});

test("after a leader change, an ephemeral watcher is told it may have missed changes", () => {
  const { cluster, leader } = started();
  const e = Durability.Ephemeral;
  const other = ids.find((id) => id !== leader)!;
  cluster.request(other, lock("r", "A", e, 1_000));
  const seen = watched(cluster.request(other, watch("r", e)));
  expect(seen.events[0]!.owner).toBe("A");
  cluster.crash(leader);
  cluster.leaderOf(0);
  let answer: LockResponse | undefined;
  cluster.runUntil(() => {
    answer = cluster.request(other, watch("r", e, seen.cursor, 1_000));
    return answer.type === ResponseType.Watched;
  });
  const after = watched(answer!);
  expect(after.missed).toBe(true);
  expect(brief(after.events)).toEqual(["state  0"]);
});

test("a watch waiting when its leader steps down is told to retry", () => {
  const { cluster, leader } = started();
  const p = Durability.Persistent;
  const first = watched(cluster.request(leader, watch("r", p)));
  const waiting = cluster.submit(leader, watch("r", p, first.cursor, 60_000));
  for (let i = 0; i < 10; i++) cluster.step();
  expect(waiting()).toBeUndefined();
  for (const id of ids) if (id !== leader) cluster.crash(id);
  cluster.runUntil(() => waiting() !== undefined, 40_000);
  expect(waiting()!.type).toBe(ResponseType.MustRetry);
});

test("watch requests over the bound for one lock get MustRetry; a cancel frees a place", () => {
  const { cluster, leader } = started();
  const p = Durability.Persistent;
  const first = watched(cluster.request(leader, watch("r", p)));
  const host = cluster.hosts.get(leader)!;
  const replies: ((response: LockResponse) => void)[] = [];
  const answers: LockResponse[] = [];
  for (let i = 0; i < watchPollsPerResourceMax; i++) {
    const reply = (response: LockResponse) => answers.push(response);
    replies.push(reply);
    host.submit(watch("r", p, first.cursor, 60_000), reply);
  }
  host.flush();
  expect(answers).toEqual([]);
  expect(host.watching().polls).toBe(watchPollsPerResourceMax);
  const over = cluster.request(leader, watch("r", p, first.cursor, 60_000));
  expect(over.type).toBe(ResponseType.MustRetry);
  expect(over.error).toContain("too many watch requests");
  host.cancel(replies[0]!);
  expect(host.watching().polls).toBe(watchPollsPerResourceMax - 1);
  const inside = cluster.submit(leader, watch("r", p, first.cursor, 60_000));
  cluster.request(leader, lock("r", "A", p));
  cluster.runUntil(() => inside() !== undefined);
  expect(inside()!.type).toBe(ResponseType.Watched);
  cluster.runUntil(() => answers.length === watchPollsPerResourceMax - 1);
  expect(answers.every((a) => a.type === ResponseType.Watched && a.watch?.events.length === 1))
    .toBe(true);
  expect(host.watching().polls).toBe(0);
});

test("a watch's bad cursor never reaches the host: the boundary refuses it", async () => {
  const { parseLockRequest } = await import("../codec/lock-request.ts");
  for (const after of ["", "1", "1.3", "01.1", "-1.0", "9007199254740993.1", 5, null]) {
    const parsed = parseLockRequest("watch", { resource: "r", after });
    expect("error" in parsed && parsed.error.startsWith("after must be a cursor")).toBe(true);
  }
  const request: LockRequest | { error: string } = parseLockRequest("watch", {
    resource: "r",
    after: "12.1",
    waitMs: 0,
  });
  expect(request).toEqual({ op: "watch", resource: "r", durability: 1, after: "12.1" });
});

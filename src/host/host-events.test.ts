/**
 * The host's event port on three in-memory hosts (test-cluster.ts): elections won, leaders
 * changed and snapshots sent and received are reported as they happen, and the metrics count
 * the same leader changes and snapshots.
 */
import { expect, test } from "bun:test";
import { Durability, ResponseType } from "../locks/types.ts";
import { PrometheusText } from "../metrics/text-format.ts";
import type { NodeId } from "../raft/types.ts";
import type { HostEvent } from "./host-events.ts";
import { ids, TestCluster } from "./test-cluster.ts";

function recordedCluster(options: ConstructorParameters<typeof TestCluster>[0]) {
  const cluster = new TestCluster(options);
  const events = new Map<NodeId, HostEvent[]>(ids.map((id) => [id, []]));
  // Restarted before any step, so each node reports from its first election on.
  for (const id of ids) cluster.start(id, { events: (event) => events.get(id)!.push(event) });
  return { cluster, events };
}

const of = <K extends HostEvent["kind"]>(list: readonly HostEvent[], kind: K) =>
  list.filter((e): e is Extract<HostEvent, { kind: K }> => e.kind === kind);

test("each partition's election is won once and the others learn the leader", () => {
  const { cluster, events } = recordedCluster({ groups: 3 });
  cluster.runUntil(() => cluster.healthy());
  for (let group = 0; group < 3; group++) {
    const leader = cluster.leaderOf(group);
    const term = cluster.hosts.get(leader)!.groupStatuses()[group]!.term;
    const won = of(events.get(leader)!, "electionWon").filter((e) => e.group === group);
    expect(won.at(-1)).toEqual({ kind: "electionWon", group, term });
    for (const id of ids.filter((id) => id !== leader)) {
      const changed = of(events.get(id)!, "leaderChanged").filter((e) => e.group === group);
      expect(changed.at(-1)).toMatchObject({ group, term, leader });
    }
  }

  const victim = cluster.leaderOf(0);
  const termBefore = cluster.hosts.get(victim)!.groupStatuses()[0]!.term;
  cluster.crash(victim);
  cluster.runUntil(() =>
    [...cluster.hosts.values()].some((h) => h.groupStatuses()[0]!.role === "leader")
  );
  const next = cluster.leaderOf(0);
  const won = of(events.get(next)!, "electionWon").filter((e) => e.group === 0).at(-1)!;
  expect(won.term).toBeGreaterThan(termBefore);
  const other = ids.find((id) => id !== victim && id !== next)!;
  const changes = of(events.get(other)!, "leaderChanged").filter((e) => e.group === 0);
  expect(changes.at(-1)).toMatchObject({ leader: next, term: won.term });
  // The metric counts every leader this node learned of: the first one and the new one.
  const text = new PrometheusText();
  cluster.hosts.get(other)!.writeMetrics(text);
  const count = /kahuna_partition_leader_changes_total\{partition="0"\} (\d+)/.exec(text.text());
  expect(Number(count?.[1])).toBe(changes.filter((e) => e.leader !== "").length);
  expect(Number(count?.[1])).toBeGreaterThanOrEqual(2);
});

test("a follower too far behind gets a snapshot: sending, sent and received are reported", () => {
  const { cluster, events } = recordedCluster({ groups: 1, snapshots: { every: 20, keep: 5 } });
  const leader = cluster.leaderOf(0);
  const follower = ids.find((id) => id !== leader)!;
  cluster.crash(follower);
  for (let i = 0; i < 60; i++) {
    const answer = cluster.request(leader, {
      op: "tryLock",
      resource: `r${i}`,
      owner: "o",
      expiresMs: 60_000,
      durability: Durability.Persistent,
    });
    expect(answer.type).toBe(ResponseType.Locked);
  }
  cluster.start(follower, { events: (event) => events.get(follower)!.push(event) });
  cluster.runUntil(() => of(events.get(leader)!, "snapshotSent").length > 0);
  const sending = of(events.get(leader)!, "snapshotSending");
  expect(sending[0]).toMatchObject({ group: 0, to: follower });
  expect(sending[0]!.bytes).toBeGreaterThan(0);
  expect(of(events.get(leader)!, "snapshotTaken").length).toBeGreaterThan(0);
  const received = of(events.get(follower)!, "snapshotReceived");
  expect(received).toEqual([{
    kind: "snapshotReceived",
    group: 0,
    from: leader,
    index: sending[0]!.index,
    bytes: sending[0]!.bytes,
  }]);
  expect(of(events.get(leader)!, "snapshotSent")[0]).toEqual({
    kind: "snapshotSent",
    group: 0,
    to: follower,
    index: sending[0]!.index,
  });
  expect(cluster.hosts.get(leader)!.metrics.snapshotsSent).toBe(1);
  expect(cluster.hosts.get(follower)!.metrics.snapshotsReceived).toBe(1);
});

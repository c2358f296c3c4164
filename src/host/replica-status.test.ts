/**
 * The replication a leader reports for `/v1/cluster` (`groupStatuses({ replicas: true })`):
 * each voter's match index and lag, on the leader only, and only when asked for.
 */
import { expect, test } from "bun:test";
import { ResponseType } from "../locks/types.ts";
import { ids, persistentLock, TestCluster } from "./test-cluster.ts";

test("a leader reports every voter caught up, and a crashed one falling behind", () => {
  const cluster = new TestCluster({ groups: 1 });
  cluster.runUntil(() => cluster.healthy());
  const leader = cluster.leaderOf(0);
  const host = cluster.hosts.get(leader)!;
  expect(host.groupStatuses()[0]!.replicas).toBeUndefined();
  for (const id of ids.filter((id) => id !== leader)) {
    expect(cluster.hosts.get(id)!.groupStatuses({ replicas: true })[0]!.replicas)
      .toBeUndefined();
  }
  const caughtUp = () =>
    host.groupStatuses({ replicas: true })[0]!.replicas!.every((replica) => replica.lag === 0);
  cluster.runUntil(caughtUp);
  const status = host.groupStatuses({ replicas: true })[0]!;
  expect(status.replicas!.map((replica) => replica.id)).toEqual([...ids]);
  expect(status.replicas!.every((replica) => replica.match === status.commit)).toBe(true);

  const down = ids.find((id) => id !== leader)!;
  cluster.crash(down);
  for (let i = 0; i < 5; i++) {
    expect(cluster.request(leader, persistentLock(`r${i}`, "o")).type).toBe(ResponseType.Locked);
  }
  const after = host.groupStatuses({ replicas: true })[0]!;
  const lagging = after.replicas!.find((replica) => replica.id === down)!;
  expect(lagging.match).toBe(status.commit);
  expect(lagging.lag).toBeGreaterThanOrEqual(5);
  expect(after.replicas!.filter((replica) => replica.lag === 0)).toHaveLength(2);
});

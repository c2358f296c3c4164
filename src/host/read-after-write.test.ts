/**
 * A persistent Get is linearizable against writes its leader has already proposed. A write is
 * judged at the leader's clock when it is proposed (its entry carries that reading), so once
 * an Extend is proposed inside the lease, it will extend the lease whenever it commits. A Get
 * that only waited for the commit index of its ReadIndex round could answer in between, from
 * a state without the Extend, and see the old lease run out: "not held", and then the Extend
 * answers "extended" from before that Get. The Get must wait for what was proposed before it.
 */
import { expect, test } from "bun:test";
import { Durability, type LockResponse, ResponseType } from "../locks/types.ts";
import { decodePeerFrame } from "../multiraft/peer-frame.ts";
import { MessageType, type NodeId } from "../raft/types.ts";
import { TestCluster } from "./test-cluster.ts";

const persistent = Durability.Persistent;

test("a Get after a delayed Extend of its leader sees the Extend, not the lease running out", () => {
  let leader: NodeId = "";
  let holdAppends = false;
  const cluster = new TestCluster({
    groups: 1,
    // Hold back the leader's appends that carry entries; heartbeats (and ReadIndex) get through.
    route: ({ from, frame }) => {
      if (!holdAppends || from !== leader) return "deliver";
      const decoded = decodePeerFrame(frame, 1);
      if ("error" in decoded) throw new Error(decoded.error);
      const appends = decoded.envelopes.some(({ message }) =>
        message.type === MessageType.App && message.entries.length > 0
      );
      return appends ? "hold" : "deliver";
    },
  });
  leader = cluster.leaderOf(0);
  const lease = { resource: "x", owner: "o", durability: persistent };
  expect(cluster.request(leader, { op: "tryLock", ...lease, expiresMs: 1_000 }).type)
    .toBe(ResponseType.Locked);
  const grantedMs = cluster.ms;
  cluster.runUntil(() => cluster.ms >= grantedMs + 900);

  holdAppends = true;
  const extend = cluster.submit(leader, { op: "extend", ...lease, expiresMs: 60_000 });
  cluster.runUntil(() => cluster.ms >= grantedMs + 1_200);
  expect(extend()).toBeUndefined();
  const get = cluster.submit(leader, { op: "get", resource: "x", durability: persistent });
  for (let i = 0; i < 100 && get() === undefined; i++) cluster.step();
  // It may not answer yet: the Extend proposed before it has not committed.
  expect(get()).toBeUndefined();

  holdAppends = false;
  cluster.release();
  cluster.runUntil(() => extend() !== undefined && get() !== undefined);
  expect(extend()!.type).toBe(ResponseType.Extended);
  const got = get()! as LockResponse & { owner?: string };
  expect(got.type).toBe(ResponseType.Got);
  expect(got.owner).toBe("o");
});

/**
 * The Ready contract (raw-node.ts) checked from outside the host: three NodeHosts whose store
 * and transport write every save, every message sent and every client answer into one ordered
 * record. Replaying the record, nothing may leave before the write it speaks for:
 * - a granted vote only after the voter's disk holds that term and vote;
 * - an append acknowledgement only after the follower's disk holds the entries it acknowledges;
 * - a persistent write's answer only after its entry is on a majority of the disks.
 * A promise made in a term the node has durably left needs no more (the node can never vote in
 * that term again, and a newer leader may rewrite what it acknowledged then).
 */
import { expect, test } from "bun:test";
import { decodeCommand } from "../codec/lock-command.ts";
import { Durability, type LockRequest, type LockResponse, ResponseType } from "../locks/types.ts";
import { decodePeerFrame } from "../multiraft/peer-frame.ts";
import type { GroupWrite } from "../ports/log-store.ts";
import { type Message, MessageType, type NodeId } from "../raft/types.ts";
import { ids, TestCluster } from "./test-cluster.ts";

const groups = 2;

type Event =
  | { readonly kind: "save"; readonly node: NodeId; readonly writes: readonly GroupWrite[] }
  | {
    readonly kind: "send";
    readonly node: NodeId;
    readonly envelopes: readonly { group: number; message: Message }[];
  }
  | { readonly kind: "answer"; readonly request: LockRequest; readonly response: LockResponse };

/** What one node's disk holds of one group, rebuilt from the recorded saves. */
type Disk = { term: number; vote: NodeId; log: Map<number, { term: number; data: Uint8Array }> };

/** Three hosts whose stores and transport write into one ordered record of events. */
function recordingCluster(events: Event[]): TestCluster {
  const cluster = new TestCluster({
    groups,
    store: (id, store) => ({
      save: (writes) => {
        store.save(writes);
        events.push({ kind: "save", node: id, writes: structuredClone(writes) });
      },
      saveSnapshot: (group, snapshot) => store.saveSnapshot(group, snapshot),
      compact: (group, throughIndex) => store.compact(group, throughIndex),
      load: (group) => store.load(group),
      identity: () => store.identity(),
      setIdentity: (identity) => store.setIdentity(identity),
      nextIncarnation: () => store.nextIncarnation(),
      nodeState: () => store.nodeState(),
      setNodeState: (state) => store.setNodeState(state),
      close: () => store.close(),
    }),
    route: ({ from, frame }) => {
      const decoded = decodePeerFrame(frame, groups);
      if ("error" in decoded) throw new Error(decoded.error);
      events.push({ kind: "send", node: from, envelopes: decoded.envelopes });
      return "deliver";
    },
  });
  return cluster;
}

/** Sends a request and records its answer when it comes. */
function request(cluster: TestCluster, events: Event[], via: NodeId, request: LockRequest) {
  const answer = cluster.request(via, request);
  events.push({ kind: "answer", request, response: answer });
  return answer;
}

/** Replays the record and returns every broken promise, in words. */
function brokenPromises(events: readonly Event[]): string[] {
  const disks = new Map<string, Disk>();
  const disk = (node: NodeId, group: number): Disk => {
    const key = `${node}/${group}`;
    let found = disks.get(key);
    if (found === undefined) {
      found = { term: 0, vote: "", log: new Map() };
      disks.set(key, found);
    }
    return found;
  };
  const broken: string[] = [];
  for (const event of events) {
    if (event.kind === "save") {
      for (const write of event.writes) record(disk(event.node, write.group), write);
    } else if (event.kind === "send") {
      for (const { group, message } of event.envelopes) {
        const problem = unbacked(disk(event.node, group), message);
        if (problem !== undefined) broken.push(`${event.node} group ${group}: ${problem}`);
      }
    } else {
      const problem = answeredEarly(event, (node, group) => disk(node, group));
      if (problem !== undefined) broken.push(problem);
    }
  }
  return broken;
}

function record(disk: Disk, write: GroupWrite): void {
  if (write.snapshot !== undefined) {
    disk.log.clear();
    const { index, term } = write.snapshot.metadata;
    disk.log.set(index, { term, data: new Uint8Array() });
  }
  const first = write.entries[0];
  if (first !== undefined) {
    for (const index of [...disk.log.keys()]) if (index >= first.index) disk.log.delete(index);
    for (const entry of write.entries) {
      disk.log.set(entry.index, { term: entry.term, data: entry.data });
    }
  }
  if (write.hardState !== undefined) {
    disk.term = write.hardState.term;
    disk.vote = write.hardState.vote;
  }
}

function unbacked(disk: Disk, message: Message): string | undefined {
  if (message.reject || disk.term > message.term) return undefined;
  if (message.type === MessageType.VoteResp) {
    if (disk.term !== message.term || disk.vote !== message.to) {
      return `vote for ${message.to} in term ${message.term} sent before it was on disk`;
    }
  } else if (message.type === MessageType.AppResp && message.index > 0) {
    if (disk.log.get(message.index) === undefined) {
      return `acknowledged index ${message.index} in term ${message.term} before it was on disk`;
    }
  }
  return undefined;
}

/** A persistent write's answer: its entry must already be on a majority of the disks. */
function answeredEarly(
  event: Extract<Event, { kind: "answer" }>,
  disk: (node: NodeId, group: number) => Disk,
): string | undefined {
  const { request, response } = event;
  if (request.op === "get" || request.durability !== Durability.Persistent) return undefined;
  if (response.type === ResponseType.MustRetry || response.type === ResponseType.Indeterminate) {
    return undefined;
  }
  const holding = ids.filter((node) => {
    for (let group = 0; group < groups; group++) {
      for (const { data } of disk(node, group).log.values()) {
        if (data.length > 0 && carries(data, request)) return true;
      }
    }
    return false;
  });
  return holding.length >= 2
    ? undefined
    : `${request.op} ${request.resource} answered with its entry on ${holding.length} disk(s)`;
}

function carries(data: Uint8Array, request: LockRequest): boolean {
  const command = decodeCommand(data);
  return !("error" in command) && command.kind === request.op && "resource" in command &&
    command.resource === request.resource && command.owner === request.owner;
}

const lock = (resource: string, owner: string): LockRequest => ({
  op: "tryLock",
  resource,
  owner,
  expiresMs: 60_000,
  durability: Durability.Persistent,
});

test("no vote, acknowledgement or answer leaves before the write it speaks for", () => {
  const events: Event[] = [];
  const cluster = recordingCluster(events);
  for (let round = 0; round < 3; round++) {
    const leader = cluster.leaderOf(0);
    for (let i = 0; i < 12; i++) {
      const via = ids[i % ids.length]!;
      if (!cluster.hosts.has(via)) continue;
      const answer = request(cluster, events, via, lock(`r${round}-${i}`, `o${i}`));
      const expected: number[] = [ResponseType.Locked, ResponseType.MustRetry];
      expect(expected).toContain(answer.type);
    }
    // A failover makes votes, rejections, truncations and a new leader's appends.
    cluster.crash(leader);
    cluster.leaderOf(0);
    cluster.start(leader);
  }
  const sent = events.flatMap((e) => e.kind === "send" ? e.envelopes : []);
  const granted = (type: string) =>
    sent.filter(({ message }) => message.type === type && !message.reject).length;
  expect(granted(MessageType.VoteResp)).toBeGreaterThanOrEqual(3 * groups);
  expect(granted(MessageType.AppResp)).toBeGreaterThan(100);
  expect(events.filter((e) => e.kind === "answer").length).toBe(36);
  expect(brokenPromises(events)).toEqual([]);
});

test("the replay catches a vote, an acknowledgement and an answer that left too early", () => {
  const vote: Message = {
    type: MessageType.VoteResp,
    from: "b",
    to: "a",
    term: 2,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: 0,
  };
  const ack: Message = { ...vote, type: MessageType.AppResp, index: 1 };
  const request = lock("x", "o");
  const events: Event[] = [
    { kind: "send", node: "b", envelopes: [{ group: 0, message: vote }] },
    { kind: "send", node: "b", envelopes: [{ group: 0, message: ack }] },
    { kind: "answer", request, response: { type: ResponseType.Locked, fencingToken: 0 } },
  ];
  expect(brokenPromises(events)).toEqual([
    "b group 0: vote for a in term 2 sent before it was on disk",
    "b group 0: acknowledged index 1 in term 2 before it was on disk",
    "tryLock x answered with its entry on 0 disk(s)",
  ]);
});

/**
 * What the host measures for GET /metrics (docs/operations.md lists every name). Counters are
 * plain numbers and histograms typed arrays, all allocated when the host starts and updated on
 * the host's own thread: recording a request, a commit, an fsync or a frame allocates nothing
 * and costs a few array writes (test/bench/metrics-observe.ts measures it). Labels become
 * strings only when a scrape renders them.
 *
 * Invariants: every series exists from the start (a label set is an index, never a map key
 * made per request); per-peer series are the voters other than this node, in sorted order.
 */
import { assert } from "../assert.ts";
import { Durability, type LockRequest, type LockResponse, ResponseType } from "../locks/types.ts";
import { HistogramFamily, secondsBuckets } from "../metrics/histograms.ts";
import type { PrometheusText } from "../metrics/text-format.ts";
import type { NodeId } from "../raft/types.ts";

const ops: readonly LockRequest["op"][] = ["tryLock", "extend", "unlock", "get", "watch"];
const durabilities = ["ephemeral", "persistent"] as const;
const outcomes = Object.entries(ResponseType).sort(([, a], [, b]) => a - b);
/** ResponseType number → its position in `outcomes`; -1 for numbers that are no type. */
const outcomeIndex = new Int8Array(Math.max(...outcomes.map(([, v]) => v)) + 1).fill(-1);
outcomes.forEach(([, value], i) => (outcomeIndex[value] = i));

function opIndex(op: LockRequest["op"]): number {
  switch (op) {
    case "tryLock":
      return 0;
    case "extend":
      return 1;
    case "unlock":
      return 2;
    case "get":
      return 3;
    case "watch":
      return 4;
  }
}

/** The answers a state machine gives once it applied a command: the change committed. */
export function isCommitAnswer(response: LockResponse): boolean {
  return response.type !== ResponseType.MustRetry &&
    response.type !== ResponseType.Indeterminate && response.type !== ResponseType.Errored &&
    response.type !== ResponseType.InvalidInput;
}

export class HostMetrics {
  storageWrites = 0;
  entriesPersisted = 0;
  entriesApplied = 0;
  messagesSent = 0;
  badFrames = 0;
  snapshots = 0;
  snapshotsSent = 0;
  snapshotsReceived = 0;
  forwarded = 0;
  /** Request duration by op × durability × outcome, submit to answer. */
  readonly requests = new HistogramFamily(secondsBuckets, ops.length * 2 * outcomes.length);
  /** Persistent changes this node proposed as leader, from the proposal to their apply. */
  readonly commits = new HistogramFamily(secondsBuckets, 1);
  /** Storage transactions made durable (one per flush that writes; every partition in it). */
  readonly fsyncs = new HistogramFamily(secondsBuckets, 1);
  private readonly peers: readonly NodeId[];
  private readonly peerIndex = new Map<NodeId, number>();
  private readonly framesSent: Float64Array;
  private readonly bytesSent: Float64Array;
  private readonly framesReceived: Float64Array;
  private readonly bytesReceived: Float64Array;
  private readonly leaderChanges: Float64Array;

  constructor(nodeId: NodeId, voters: readonly NodeId[], groups: number) {
    this.peers = [...voters].filter((id) => id !== nodeId).sort();
    this.peers.forEach((peer, i) => this.peerIndex.set(peer, i));
    this.framesSent = new Float64Array(this.peers.length);
    this.bytesSent = new Float64Array(this.peers.length);
    this.framesReceived = new Float64Array(this.peers.length);
    this.bytesReceived = new Float64Array(this.peers.length);
    this.leaderChanges = new Float64Array(groups);
  }

  answered(request: LockRequest, response: LockResponse, seconds: number): void {
    const outcome = outcomeIndex[response.type] ?? -1;
    assert(outcome >= 0, `response type ${response.type} is a ResponseType`);
    const series = (opIndex(request.op) * 2 + request.durability) * outcomes.length + outcome;
    this.requests.observe(series, seconds);
  }

  committed(seconds: number): void {
    this.commits.observe(0, seconds);
  }

  fsynced(seconds: number): void {
    this.storageWrites += 1;
    this.fsyncs.observe(0, seconds);
  }

  frameSent(peer: NodeId, bytes: number): void {
    const i = this.peerIndex.get(peer);
    if (i === undefined) return;
    this.framesSent[i]! += 1;
    this.bytesSent[i]! += bytes;
  }

  frameReceived(peer: NodeId, bytes: number): void {
    const i = this.peerIndex.get(peer);
    if (i === undefined) return;
    this.framesReceived[i]! += 1;
    this.bytesReceived[i]! += bytes;
  }

  leaderChanged(group: number): void {
    this.leaderChanges[group]! += 1;
  }

  /** Writes every family this object keeps. */
  write(out: PrometheusText): void {
    out.family(
      "kahuna_request_duration_seconds",
      "histogram",
      "Lock requests answered by this node, from arrival to answer, by op, durability and outcome.",
    );
    for (let op = 0; op < ops.length; op++) {
      for (const durability of [Durability.Ephemeral, Durability.Persistent]) {
        for (let o = 0; o < outcomes.length; o++) {
          const series = (op * 2 + durability) * outcomes.length + o;
          if (this.requests.count(series) === 0) continue;
          out.histogram(this.requests, series, {
            op: ops[op]!,
            durability: durabilities[durability],
            outcome: outcomes[o]![0],
          });
        }
      }
    }
    out.family(
      "kahuna_commit_duration_seconds",
      "histogram",
      "Persistent changes this node proposed as leader, from proposal to apply (committed and durable).",
    ).histogram(this.commits, 0);
    out.family(
      "kahuna_storage_fsync_duration_seconds",
      "histogram",
      "Durable storage transactions (one fsync for every partition's writes of a flush).",
    ).histogram(this.fsyncs, 0);
    const counter = (name: string, help: string, value: number) => {
      out.family(name, "counter", help).sample(value);
    };
    counter("kahuna_requests_forwarded_total", "Requests forwarded to a leader.", this.forwarded);
    counter(
      "kahuna_storage_writes_total",
      "Storage transactions (group commits).",
      this.storageWrites,
    );
    counter("kahuna_entries_persisted_total", "Raft entries written.", this.entriesPersisted);
    counter("kahuna_entries_applied_total", "Raft entries applied.", this.entriesApplied);
    counter("kahuna_raft_messages_sent_total", "Raft messages sent to peers.", this.messagesSent);
    counter("kahuna_peer_frames_rejected_total", "Malformed peer frames refused.", this.badFrames);
    counter("kahuna_snapshots_total", "Snapshots this node took of a partition.", this.snapshots);
    counter(
      "kahuna_snapshots_sent_total",
      "Snapshots this node streamed to a follower in full.",
      this.snapshotsSent,
    );
    counter(
      "kahuna_snapshots_received_total",
      "Snapshots this node received in full from a leader.",
      this.snapshotsReceived,
    );
    const perPeer = (name: string, help: string, values: Float64Array) => {
      out.family(name, "counter", help);
      this.peers.forEach((peer, i) => out.sample(values[i]!, { peer }));
    };
    perPeer("kahuna_peer_frames_sent_total", "Frames sent to a peer.", this.framesSent);
    perPeer("kahuna_peer_sent_bytes_total", "Frame bytes sent to a peer.", this.bytesSent);
    perPeer(
      "kahuna_peer_frames_received_total",
      "Frames received from a peer (well formed).",
      this.framesReceived,
    );
    perPeer(
      "kahuna_peer_received_bytes_total",
      "Frame bytes received from a peer (well formed).",
      this.bytesReceived,
    );
    out.family(
      "kahuna_partition_leader_changes_total",
      "counter",
      "Times this node learned of a new leader of the partition (after another one, or none).",
    );
    this.leaderChanges.forEach((count, group) => out.sample(count, { partition: String(group) }));
  }
}

/**
 * ReadIndex requests waiting for a heartbeat round (Raft thesis §6.4, etcd's readOnly with
 * ReadOnlySafe). Each request gets a sequence number from this leader; heartbeats carry the
 * newest one as their context, and a quorum of answers to a heartbeat carrying `seq` confirms
 * every request up to `seq` (they were all registered before that heartbeat was sent).
 * Sequence numbers, not callers' contexts, key the requests, so contexts from different
 * nodes never collide.
 */
import { assert } from "../assert.ts";
import type { NodeId } from "./types.ts";

export type ReadRequest = {
  readonly seq: number;
  /** The commit index when the request arrived: the read is safe once it is applied. */
  readonly index: number;
  readonly from: NodeId;
  readonly context: number;
  readonly acks: Set<NodeId>;
};

export class ReadOnly {
  private queue: ReadRequest[] = [];
  private seqLast = 0;

  get pendingCount(): number {
    return this.queue.length;
  }

  add(index: number, from: NodeId, context: number): ReadRequest {
    this.seqLast += 1;
    const request = { seq: this.seqLast, index, from, context, acks: new Set<NodeId>() };
    this.queue.push(request);
    return request;
  }

  /** The newest pending sequence number, for the next heartbeat; 0 if none. */
  lastPendingSeq(): number {
    return this.queue[this.queue.length - 1]?.seq ?? 0;
  }

  /** Records that `from` answered a heartbeat carrying `seq`; returns who has, if pending. */
  recvAck(from: NodeId, seq: number): ReadonlySet<NodeId> | undefined {
    const request = this.queue.find((r) => r.seq === seq);
    if (request === undefined) return undefined;
    request.acks.add(from);
    return request.acks;
  }

  /** Removes and returns every request up to and including `seq`, oldest first. */
  advance(seq: number): ReadRequest[] {
    const n = this.queue.findIndex((r) => r.seq === seq);
    assert(n >= 0, () => `advance to read ${seq}, which is not pending`);
    return this.queue.splice(0, n + 1);
  }

  /** Leadership ends: pending reads are dropped (the callers time out and retry). */
  reset(): void {
    this.queue = [];
  }
}

/**
 * Snapshots on the wire, in chunks (docs/architecture.md, "Snapshot transfer"). The Raft core
 * still sends and receives one Snap message holding the whole snapshot; the host turns it into
 * a stream of chunks of at most snapshotChunkBytes, each acknowledged, and the receiver steps
 * one Snap message into Raft only once every byte has arrived.
 *
 * Sender, per follower and group: at most snapshotChunksInflightMax chunks unacknowledged;
 * after snapshotChunkRetryTicks without an acknowledgement it resends from the last
 * acknowledged offset (go-back-N: a lost chunk or a reconnect costs a few chunks, not the
 * transfer); after snapshotTransferIdleTicks without an answer it gives the transfer up and
 * reports it to Raft, which probes the follower and sends a snapshot again. A transfer ends
 * when the leader's term moves on.
 *
 * Receiver: one snapshot in progress per group, keyed by (sender, term, index). A chunk that
 * continues it at the byte it holds is kept; any other chunk of it is answered with what it
 * holds, so the sender resumes there. A chunk of an older transfer (lower term, or lower index
 * in the same term, or older than the group's term) is dropped; a newer one replaces the
 * transfer in progress. Memory is what the chunks carried, never what a peer claims: at most
 * snapshotBytesMax per snapshot and snapshotBytesMax in progress over all groups.
 */
import { assert } from "../assert.ts";
import {
  snapshotBytesMax,
  snapshotChunkBytes,
  snapshotChunkRetryTicks,
  snapshotChunksInflightMax,
  snapshotTransferIdleTicks,
} from "../constants.ts";
import type { ChunkAck, SnapshotChunk } from "../multiraft/peer-frame.ts";
import { type Message, MessageType, type NodeId, type Snapshot } from "../raft/types.ts";

type Outgoing = {
  readonly to: NodeId;
  readonly group: number;
  readonly term: number;
  readonly snapshot: Snapshot;
  /** Bytes the follower acknowledged holding, and bytes sent (acked ≤ sent ≤ total). */
  acked: number;
  sent: number;
  /** When the follower last acknowledged more bytes, and when it last answered at all. */
  progressTick: number;
  heardTick: number;
};

export class SnapshotSender {
  private readonly transfers = new Map<string, Outgoing>();

  get size(): number {
    return this.transfers.size;
  }

  /**
   * Raft sent a snapshot: stream it. The same snapshot again (Raft retrying) continues the
   * transfer from what the follower holds; another one replaces it.
   */
  start(group: number, message: Message, tick: number): void {
    const snapshot = message.snapshot;
    assert(snapshot !== undefined, "a Snap message carries a snapshot");
    const key = `${message.to}/${group}`;
    const current = this.transfers.get(key);
    if (
      current !== undefined && current.term === message.term &&
      current.snapshot.metadata.index === snapshot.metadata.index
    ) {
      current.sent = current.acked;
      return;
    }
    this.transfers.set(key, {
      to: message.to,
      group,
      term: message.term,
      snapshot,
      acked: 0,
      sent: 0,
      progressTick: tick,
      heardTick: tick,
    });
  }

  /** What a follower says it holds of a snapshot we stream to it; true once it holds all. */
  acknowledged(from: NodeId, ack: ChunkAck, tick: number): boolean {
    const key = `${from}/${ack.group}`;
    const transfer = this.transfers.get(key);
    if (
      transfer === undefined || transfer.term !== ack.term ||
      transfer.snapshot.metadata.index !== ack.index
    ) {
      return false;
    }
    const total = transfer.snapshot.data.length;
    if (ack.received >= total) {
      this.transfers.delete(key);
      return true;
    }
    transfer.heardTick = tick;
    if (ack.received > transfer.acked) transfer.progressTick = tick;
    // Less than it held before: the follower started over (restart, or a dropped transfer).
    if (ack.received < transfer.acked || transfer.sent < ack.received) transfer.sent = ack.received;
    transfer.acked = ack.received;
    return false;
  }

  /**
   * The chunks to send now, within each transfer's window. `leads(group, term)` says whether
   * this node still leads the group in that term; a transfer of an older term is dropped. A
   * transfer the follower stopped answering is given up and reported through `abandon`, so
   * Raft probes the follower again.
   */
  pump(
    tick: number,
    leads: (group: number, term: number) => boolean,
    emit: (to: NodeId, chunk: SnapshotChunk) => void,
    abandon: (to: NodeId, group: number) => void,
  ): void {
    for (const [key, t] of this.transfers) {
      if (!leads(t.group, t.term)) {
        this.transfers.delete(key);
        continue;
      }
      if (tick - t.heardTick >= snapshotTransferIdleTicks) {
        this.transfers.delete(key);
        abandon(t.to, t.group);
        continue;
      }
      if (t.sent > t.acked && tick - t.progressTick >= snapshotChunkRetryTicks) {
        t.sent = t.acked;
        t.progressTick = tick;
      }
      const total = t.snapshot.data.length;
      const windowEnd = Math.min(total, t.acked + snapshotChunksInflightMax * snapshotChunkBytes);
      while (t.sent < windowEnd) {
        const end = Math.min(t.sent + snapshotChunkBytes, windowEnd);
        emit(t.to, {
          group: t.group,
          term: t.term,
          index: t.snapshot.metadata.index,
          snapshotTerm: t.snapshot.metadata.term,
          voters: t.snapshot.metadata.voters,
          totalBytes: total,
          offset: t.sent,
          data: t.snapshot.data.subarray(t.sent, end),
        });
        t.sent = end;
      }
    }
  }
}

type Incoming = {
  readonly from: NodeId;
  readonly term: number;
  readonly index: number;
  readonly snapshotTerm: number;
  readonly voters: readonly NodeId[];
  readonly totalBytes: number;
  readonly pieces: Uint8Array[];
  received: number;
  heardTick: number;
};

export type SnapshotProgress = {
  readonly from: NodeId;
  readonly index: number;
  readonly receivedBytes: number;
  readonly totalBytes: number;
};

/** What a chunk led to: an acknowledgement to send back, and a whole snapshot to step. */
export type ChunkOutcome = {
  readonly ack?: ChunkAck;
  readonly snap?: Message;
};

export class SnapshotReceiver {
  private readonly transfers = new Map<number, Incoming>();
  private bytesHeld = 0;

  constructor(private readonly nodeId: NodeId) {}

  /** Bytes held in snapshots in progress, over all groups. */
  get bytesInProgress(): number {
    return this.bytesHeld;
  }

  /** The snapshot a group is receiving, if any: from whom, and how far it has come. */
  progress(group: number): SnapshotProgress | undefined {
    const transfer = this.transfers.get(group);
    if (transfer === undefined) return undefined;
    return {
      from: transfer.from,
      index: transfer.index,
      receivedBytes: transfer.received,
      totalBytes: transfer.totalBytes,
    };
  }

  /**
   * Takes a chunk from `from` for a group whose Raft term is `groupTerm` and whose commit
   * index is `committed`.
   */
  receive(
    from: NodeId,
    chunk: SnapshotChunk,
    group: { term: number; committed: number },
    tick: number,
  ): ChunkOutcome {
    if (chunk.term < group.term) return {};
    if (chunk.index <= group.committed) {
      // The follower already has everything the snapshot holds: the sender may stop.
      return { ack: ackOf(chunk, chunk.totalBytes) };
    }
    const transfer = this.transferFor(from, chunk, tick);
    if (transfer === undefined) return {};
    transfer.heardTick = tick;
    if (
      chunk.offset === transfer.received &&
      this.bytesHeld + chunk.data.length <= snapshotBytesMax
    ) {
      transfer.pieces.push(chunk.data);
      transfer.received += chunk.data.length;
      this.bytesHeld += chunk.data.length;
    }
    const ack = ackOf(chunk, transfer.received);
    if (transfer.received < transfer.totalBytes) return { ack };
    this.drop(chunk.group);
    return { ack, snap: this.snapMessage(transfer) };
  }

  /** Drops transfers no chunk has continued for snapshotTransferIdleTicks. */
  tick(tick: number): void {
    for (const [group, transfer] of this.transfers) {
      if (tick - transfer.heardTick >= snapshotTransferIdleTicks) this.drop(group);
    }
  }

  /** The transfer this chunk belongs to, started or replaced if it is newer; none if stale. */
  private transferFor(from: NodeId, chunk: SnapshotChunk, tick: number): Incoming | undefined {
    const current = this.transfers.get(chunk.group);
    if (current !== undefined) {
      if (
        current.from === from && current.term === chunk.term && current.index === chunk.index &&
        current.snapshotTerm === chunk.snapshotTerm && current.totalBytes === chunk.totalBytes
      ) {
        return current;
      }
      const older = chunk.term < current.term ||
        (chunk.term === current.term && chunk.index < current.index);
      if (older) return undefined;
      this.drop(chunk.group);
    }
    const transfer: Incoming = {
      from,
      term: chunk.term,
      index: chunk.index,
      snapshotTerm: chunk.snapshotTerm,
      voters: chunk.voters,
      totalBytes: chunk.totalBytes,
      pieces: [],
      received: 0,
      heardTick: tick,
    };
    this.transfers.set(chunk.group, transfer);
    return transfer;
  }

  private drop(group: number): void {
    const transfer = this.transfers.get(group);
    if (transfer === undefined) return;
    this.bytesHeld -= transfer.received;
    this.transfers.delete(group);
  }

  private snapMessage(transfer: Incoming): Message {
    const data = new Uint8Array(transfer.totalBytes);
    let at = 0;
    for (const piece of transfer.pieces) {
      data.set(piece, at);
      at += piece.length;
    }
    assert(at === transfer.totalBytes, "a whole snapshot has every byte");
    return {
      type: MessageType.Snap,
      from: transfer.from,
      to: this.nodeId,
      term: transfer.term,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      context: 0,
      snapshot: {
        metadata: { index: transfer.index, term: transfer.snapshotTerm, voters: transfer.voters },
        data,
      },
    };
  }
}

function ackOf(chunk: SnapshotChunk, received: number): ChunkAck {
  return { group: chunk.group, term: chunk.term, index: chunk.index, received };
}

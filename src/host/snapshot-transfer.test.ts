import { expect, test } from "bun:test";
import {
  snapshotBytesMax,
  snapshotChunkBytes,
  snapshotChunkRetryTicks,
  snapshotChunksInflightMax,
  snapshotTransferIdleTicks,
} from "../constants.ts";
import type { SnapshotChunk } from "../multiraft/peer-frame.ts";
import { type Message, MessageType } from "../raft/types.ts";
import { SnapshotReceiver, SnapshotSender } from "./snapshot-transfer.ts";

function snap(term: number, index: number, bytes: number): Message {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 7 + index) % 256;
  return {
    type: MessageType.Snap,
    from: "a",
    to: "b",
    term,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: 0,
    snapshot: { metadata: { index, term, voters: ["a", "b", "c"] }, data },
  };
}

const leads = () => true;

const abandoned: [string, number][] = [];

function pump(sender: SnapshotSender, tick: number): SnapshotChunk[] {
  const chunks: SnapshotChunk[] = [];
  sender.pump(tick, leads, (to, chunk) => {
    expect(to).toBe("b");
    chunks.push(chunk);
  }, (to, group) => abandoned.push([to, group]));
  return chunks;
}

test("a snapshot of several chunks arrives whole, a window at a time, and steps once", () => {
  const message = snap(3, 500, 5 * snapshotChunkBytes + 17);
  const sender = new SnapshotSender();
  const receiver = new SnapshotReceiver("b");
  sender.start(0, message, 0);
  let whole: Message | undefined;
  let rounds = 0;
  for (let tick = 1; sender.size > 0 && tick < 100; tick++) {
    const chunks = pump(sender, tick);
    expect(chunks.length).toBeLessThanOrEqual(snapshotChunksInflightMax);
    for (const chunk of chunks) {
      expect(chunk.data.length).toBeLessThanOrEqual(snapshotChunkBytes);
      const outcome = receiver.receive("a", chunk, { term: 3, committed: 10 }, tick);
      sender.acknowledged("b", outcome.ack!, tick);
      if (outcome.snap !== undefined) whole = outcome.snap;
    }
    rounds += 1;
  }
  expect(sender.size).toBe(0);
  expect(rounds).toBe(3);
  expect(whole?.snapshot?.metadata).toEqual(message.snapshot!.metadata);
  expect(whole?.snapshot?.data).toEqual(message.snapshot!.data);
  expect(whole).toMatchObject({ type: MessageType.Snap, from: "a", to: "b", term: 3 });
  expect(receiver.bytesInProgress).toBe(0);
});

test("a lost chunk is resent from the last acknowledged byte after the retry ticks", () => {
  const sender = new SnapshotSender();
  const receiver = new SnapshotReceiver("b");
  sender.start(0, snap(3, 500, 3 * snapshotChunkBytes), 0);
  const [first, second] = pump(sender, 1);
  expect([first?.offset, second?.offset]).toEqual([0, snapshotChunkBytes]);
  // The first chunk is lost; the second arrives out of place and is answered with 0 held.
  const out = receiver.receive("a", second!, { term: 3, committed: 0 }, 1);
  expect(out.ack?.received).toBe(0);
  sender.acknowledged("b", out.ack!, 1);
  // The window is full of chunks not acknowledged: nothing until the retry timer (a receiver
  // that is out of memory answers the same way, and must not be flooded), then the window
  // again from the last byte the receiver holds.
  expect(pump(sender, 2)).toEqual([]);
  const resent = pump(sender, 1 + snapshotChunkRetryTicks);
  expect(resent.map((c) => c.offset)).toEqual([0, snapshotChunkBytes]);
  for (const chunk of resent) receiver.receive("a", chunk, { term: 3, committed: 0 }, 30);
  expect(receiver.bytesInProgress).toBe(2 * snapshotChunkBytes);
});

test("Raft sending the same snapshot again continues the transfer; a newer one restarts it", () => {
  const sender = new SnapshotSender();
  sender.start(0, snap(3, 500, 3 * snapshotChunkBytes), 0);
  const first = pump(sender, 1);
  sender.acknowledged("b", { group: 0, term: 3, index: 500, received: 2 * snapshotChunkBytes }, 1);
  sender.start(0, snap(3, 500, 3 * snapshotChunkBytes), 2);
  expect(pump(sender, 2).map((c) => c.offset)).toEqual([2 * snapshotChunkBytes]);
  sender.start(0, snap(3, 900, 3 * snapshotChunkBytes), 3);
  const restarted = pump(sender, 3);
  expect(restarted.map((c) => [c.index, c.offset])).toEqual([[900, 0], [900, snapshotChunkBytes]]);
  expect(first.length).toBe(2);
});

test("the receiver drops a stale transfer and replaces its transfer with a newer one", () => {
  const receiver = new SnapshotReceiver("b");
  const chunk = (from: string, term: number, index: number, offset = 0): SnapshotChunk => ({
    group: 0,
    term,
    index,
    snapshotTerm: 1,
    voters: ["a", "b", "c"],
    totalBytes: 300,
    offset,
    data: new Uint8Array(100),
  });
  const group = { term: 4, committed: 50 };
  expect(receiver.receive("a", chunk("a", 4, 100), group, 0).ack?.received).toBe(100);
  // Older term than the group's, older index in the transfer's term: dropped, no answer.
  expect(receiver.receive("c", chunk("c", 3, 200), group, 1)).toEqual({});
  expect(receiver.receive("a", chunk("a", 4, 90), group, 1)).toEqual({});
  expect(receiver.bytesInProgress).toBe(100);
  // Already committed past it: nothing to do, and the sender may stop.
  expect(receiver.receive("a", chunk("a", 4, 40), group, 1).ack?.received).toBe(300);
  // A new leader's transfer replaces the old one, from its start.
  expect(receiver.receive("c", chunk("c", 5, 100, 100), group, 2).ack?.received).toBe(0);
  expect(receiver.bytesInProgress).toBe(0);
  expect(receiver.receive("c", chunk("c", 5, 100, 0), group, 2).ack?.received).toBe(100);
  // The old leader's chunks are stale now.
  expect(receiver.receive("a", chunk("a", 4, 100, 100), group, 3)).toEqual({});
  // Nothing for snapshotTransferIdleTicks: the memory is freed.
  receiver.tick(2 + snapshotTransferIdleTicks);
  expect(receiver.bytesInProgress).toBe(0);
});

test("a peer claiming huge snapshots makes the receiver hold only what it sent, within the limit", () => {
  const receiver = new SnapshotReceiver("b");
  const piece = new Uint8Array(snapshotChunkBytes);
  const groups = 4;
  const perGroup = snapshotBytesMax / snapshotChunkBytes / 2;
  let refused = 0;
  for (let group = 0; group < groups; group++) {
    for (let i = 0; i < perGroup; i++) {
      const outcome = receiver.receive(
        "a",
        {
          group,
          term: 1,
          index: 10,
          snapshotTerm: 1,
          voters: ["a"],
          totalBytes: snapshotBytesMax,
          offset: i * snapshotChunkBytes,
          data: piece,
        },
        { term: 1, committed: 0 },
        0,
      );
      if (outcome.ack!.received !== (i + 1) * snapshotChunkBytes) refused += 1;
      expect(receiver.bytesInProgress).toBeLessThanOrEqual(snapshotBytesMax);
    }
  }
  // Two groups' worth fit in the node-wide limit; the rest was refused, not stored.
  expect(receiver.bytesInProgress).toBe(snapshotBytesMax);
  expect(refused).toBe(2 * perGroup);
});

test("a receiver that starts over is resumed from what it holds; a silent one is given up", () => {
  const sender = new SnapshotSender();
  sender.start(2, snap(3, 500, 5 * snapshotChunkBytes), 0);
  pump(sender, 1);
  sender.acknowledged("b", { group: 2, term: 3, index: 500, received: 2 * snapshotChunkBytes }, 1);
  expect(pump(sender, 2).map((c) => c.offset)).toEqual([
    2 * snapshotChunkBytes,
    3 * snapshotChunkBytes,
  ]);
  // The follower restarted and holds nothing: the next window starts at 0.
  sender.acknowledged("b", { group: 2, term: 3, index: 500, received: 0 }, 3);
  expect(pump(sender, 3).map((c) => c.offset)).toEqual([0, snapshotChunkBytes]);
  // An acknowledgement for another snapshot or term changes nothing.
  sender.acknowledged("b", { group: 2, term: 4, index: 500, received: 5 * snapshotChunkBytes }, 4);
  sender.acknowledged("b", { group: 2, term: 3, index: 499, received: 5 * snapshotChunkBytes }, 4);
  expect(sender.size).toBe(1);
  abandoned.length = 0;
  pump(sender, 3 + snapshotTransferIdleTicks);
  expect(sender.size).toBe(0);
  expect(abandoned).toEqual([["b", 2]]);
});

test("a transfer ends without a report when this node no longer leads in its term", () => {
  const sender = new SnapshotSender();
  sender.start(0, snap(3, 500, 3 * snapshotChunkBytes), 0);
  abandoned.length = 0;
  sender.pump(1, () => false, () => {
    throw new Error("no chunk after leadership is lost");
  }, (to, group) => abandoned.push([to, group]));
  expect(sender.size).toBe(0);
  expect(abandoned).toEqual([]);
});

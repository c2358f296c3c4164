/**
 * Builds the peer frames of one flush for one peer, each within a byte budget
 * (peerFrameBytesMax): items go into the current frame while its size bound allows, and a new
 * frame starts when the next item would not fit. A frame's size is bounded before it is
 * encoded (msgpackBytesBound), so the encoder's limit can never be hit. A single item always
 * fits in an empty frame: the constants bound an append message and a snapshot chunk, and the
 * builder asserts it for every item.
 */
import { assert } from "../assert.ts";
import { msgpackBytesBound } from "../codec/msgpack.ts";
import { MessageType } from "../raft/types.ts";
import {
  type Answer,
  type Cancel,
  type ChunkAck,
  encodeAck,
  encodeAnswer,
  encodeCancel,
  encodeChunk,
  encodeEnvelope,
  encodeForward,
  encodeFrameItems,
  type Envelope,
  type Forward,
  type FrameHeader,
  type SnapshotChunk,
} from "./peer-frame.ts";

type Items = {
  envelopes: unknown[];
  forwards: unknown[];
  answers: unknown[];
  chunks: unknown[];
  acks: unknown[];
  cancels: unknown[];
};

export class FrameBuilder {
  private readonly frames: Uint8Array[] = [];
  private items: Items = emptyItems();
  private itemCount = 0;
  private readonly emptyBytes: number;
  private bytes: number;
  /** Raft messages in the frames built so far. */
  envelopeCount = 0;

  constructor(private readonly header: FrameHeader, private readonly bytesMax: number) {
    const { from, store, recovering, stores } = header;
    // With room for the cancels list, which is left out when empty.
    this.emptyBytes = msgpackBytesBound([
      0,
      from,
      store,
      recovering,
      stores,
      [],
      [],
      [],
      [],
      [],
      [],
    ]);
    this.bytes = this.emptyBytes;
  }

  envelope(e: Envelope): void {
    assert(e.message.type !== MessageType.Snap, "snapshots go to peers as chunks");
    this.add("envelopes", encodeEnvelope(e));
    this.envelopeCount += 1;
  }

  forward(f: Forward): void {
    this.add("forwards", encodeForward(f));
  }

  answer(a: Answer): void {
    this.add("answers", encodeAnswer(a));
  }

  cancel(c: Cancel): void {
    this.add("cancels", encodeCancel(c));
  }

  chunk(c: SnapshotChunk): void {
    this.add("chunks", encodeChunk(c));
  }

  ack(a: ChunkAck): void {
    this.add("acks", encodeAck(a));
  }

  /** The frames built, in order; the builder is empty afterwards. */
  finish(): Uint8Array[] {
    this.cut();
    return this.frames.splice(0);
  }

  private add(list: keyof Items, value: unknown): void {
    const bytes = msgpackBytesBound(value);
    assert(
      this.emptyBytes + bytes <= this.bytesMax,
      () => `a peer frame item of up to ${bytes} bytes exceeds the frame budget ${this.bytesMax}`,
    );
    if (this.bytes + bytes > this.bytesMax) this.cut();
    this.items[list].push(value);
    this.itemCount += 1;
    this.bytes += bytes;
  }

  private cut(): void {
    if (this.itemCount === 0) return;
    const frame = encodeFrameItems(this.header, this.items);
    assert(frame.length <= this.bytesMax, "a frame stays within its size bound");
    this.frames.push(frame);
    this.items = emptyItems();
    this.itemCount = 0;
    this.bytes = this.emptyBytes;
  }
}

function emptyItems(): Items {
  return { envelopes: [], forwards: [], answers: [], chunks: [], acks: [], cancels: [] };
}

/**
 * Length-prefixed frames, for the peer protocol and the client binary protocol (docs/architecture.md
 * §7): a 4-byte big-endian length, then that many bytes of payload. The reader accepts bytes
 * as they arrive on a stream and yields whole frames; a length over the limit is an error
 * value (the caller closes that connection), never an allocation of what a peer claims.
 */
import { assert } from "../assert.ts";

const headerBytes = 4;

export function encodeFrame(payload: Uint8Array, frameBytesMax: number): Uint8Array {
  assert(
    payload.length <= frameBytesMax,
    `frame of ${payload.length} bytes exceeds ${frameBytesMax}`,
  );
  const frame = new Uint8Array(headerBytes + payload.length);
  const size = payload.length;
  frame[0] = size >>> 24;
  frame[1] = (size >>> 16) & 0xff;
  frame[2] = (size >>> 8) & 0xff;
  frame[3] = size & 0xff;
  frame.set(payload, headerBytes);
  return frame;
}

export class FrameReader {
  private buffer = new Uint8Array(0);
  private length = 0;

  constructor(private readonly frameBytesMax: number) {}

  /** Adds received bytes; returns the frames now complete, or an error for a bad length. */
  push(chunk: Uint8Array): Uint8Array[] | { error: string } {
    this.append(chunk);
    const frames: Uint8Array[] = [];
    let offset = 0;
    while (this.length - offset >= headerBytes) {
      const view = new DataView(this.buffer.buffer, this.buffer.byteOffset + offset, headerBytes);
      const size = view.getUint32(0);
      if (size > this.frameBytesMax) {
        return { error: `frame of ${size} bytes exceeds the limit of ${this.frameBytesMax}` };
      }
      if (this.length - offset - headerBytes < size) break;
      const start = offset + headerBytes;
      frames.push(this.buffer.slice(start, start + size));
      offset = start + size;
    }
    if (offset > 0) {
      this.buffer.copyWithin(0, offset, this.length);
      this.length -= offset;
    }
    return frames;
  }

  private append(chunk: Uint8Array): void {
    if (this.length + chunk.length > this.buffer.length) {
      const grown = new Uint8Array(
        Math.max(this.buffer.length * 2, this.length + chunk.length, 4096),
      );
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    this.buffer.set(chunk, this.length);
    this.length += chunk.length;
  }
}

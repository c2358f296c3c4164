import { expect, test } from "bun:test";
import { encodeFrame, FrameReader } from "./frame.ts";

const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);

test("frames split at any byte boundary come out whole and in order", () => {
  const payloads = [bytes(0), bytes(1, 1), bytes(300, 2), bytes(5000, 3)];
  const stream = new Uint8Array(payloads.reduce((n, p) => n + p.length + 4, 0));
  let at = 0;
  for (const p of payloads) {
    const frame = encodeFrame(p, 1 << 20);
    stream.set(frame, at);
    at += frame.length;
  }
  for (const step of [1, 3, 7, 4096, stream.length]) {
    const reader = new FrameReader(1 << 20);
    const out: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += step) {
      const frames = reader.push(stream.subarray(i, i + step));
      if (!Array.isArray(frames)) throw new Error(frames.error);
      out.push(...frames);
    }
    expect(out.map((f) => [f.length, f[0]])).toEqual(payloads.map((p) => [p.length, p[0]]));
  }
});

test("a length over the limit is an error, not an allocation", () => {
  const reader = new FrameReader(1024);
  expect(reader.push(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toEqual({
    error: "frame of 4294967295 bytes exceeds the limit of 1024",
  });
});

test("random bytes never throw", () => {
  let seed = 12345;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < 2000; i++) {
    const reader = new FrameReader(4096);
    const chunk = new Uint8Array(next() % 64).map(() => next() & 0xff);
    expect(() => reader.push(chunk)).not.toThrow();
  }
});

import { expect, test } from "bun:test";
import { encodeMsgpack } from "../codec/msgpack.ts";
import { encodePeerFrame } from "../multiraft/peer-frame.ts";
import { peerFrameSender } from "./peer-sender.ts";

test("reads the sender of peer frames, short and long node ids alike", () => {
  for (const from of ["1", "node-b", "x".repeat(31), "y".repeat(32), "z".repeat(64)]) {
    const frame = encodePeerFrame({ from, envelopes: [], forwards: [], answers: [] });
    expect(peerFrameSender(frame)).toBe(from);
  }
});

test("a frame that does not start like a peer frame has no sender", () => {
  expect(peerFrameSender(new Uint8Array())).toBeUndefined();
  expect(peerFrameSender(encodeMsgpack([3, "1"]))).toBeUndefined();
  expect(peerFrameSender(encodeMsgpack([3, 2, 0, 0, 0, 0, 0, 0, 0, 0]))).toBeUndefined();
  // A string longer than the bytes there are.
  expect(peerFrameSender(new Uint8Array([0x9a, 3, 0xa5, 0x31]))).toBeUndefined();
});

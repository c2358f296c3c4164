import { expect, test } from "bun:test";
import { peerFrameBytesMax, snapshotChunkBytes } from "../constants.ts";
import { Durability } from "../locks/types.ts";
import { type Message, MessageType } from "../raft/types.ts";
import { FrameBuilder } from "./frame-builder.ts";
import { decodePeerFrame, encodePeerFrame } from "./peer-frame.ts";

const header = { from: "a", store: "0123456789abcdef", recovering: false, stores: { b: "ff" } };

function append(group: number, entries: number, bytes: number): Message {
  return {
    type: MessageType.App,
    from: "a",
    to: "b",
    term: 3,
    logTerm: 3,
    index: group * 1_000,
    entries: Array.from({ length: entries }, (_, i) => ({
      term: 3,
      index: group * 1_000 + 1 + i,
      data: new Uint8Array(bytes).fill(i % 251),
    })),
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: 0,
  };
}

test("envelopes over the budget go in several frames, each within it, in order", () => {
  const builder = new FrameBuilder(header, peerFrameBytesMax);
  // 16 groups with 512 entries of 1,000 bytes each: about 8 MiB, twice the budget.
  for (let group = 0; group < 16; group++) {
    builder.envelope({ group, message: append(group, 512, 1_000) });
  }
  builder.forward({
    incarnation: 7,
    id: 2 ** 40,
    request: { op: "get", resource: "r", durability: Durability.Persistent },
  });
  const frames = builder.finish();
  expect(frames.length).toBeGreaterThanOrEqual(2);
  const groups: number[] = [];
  let forwards = 0;
  for (const frame of frames) {
    expect(frame.length).toBeLessThanOrEqual(peerFrameBytesMax);
    const decoded = decodePeerFrame(frame, 16);
    if ("error" in decoded) throw new Error(decoded.error);
    groups.push(...decoded.envelopes.map((e) => e.group));
    forwards += decoded.forwards.length;
    expect(decoded.envelopes.every((e) => e.message.entries.length === 512)).toBe(true);
  }
  expect(groups).toEqual(Array.from({ length: 16 }, (_, g) => g));
  expect(forwards).toBe(1);
  expect(builder.finish()).toEqual([]);
});

test("small items share one frame, and a budget-sized chunk gets a frame of its own", () => {
  const builder = new FrameBuilder(header, peerFrameBytesMax);
  for (let group = 0; group < 4; group++) {
    builder.envelope({ group, message: append(group, 2, 10) });
  }
  expect(builder.finish().length).toBe(1);
  const chunk = {
    group: 0,
    term: 3,
    index: 10,
    snapshotTerm: 2,
    voters: ["a", "b", "c"],
    totalBytes: 4 * snapshotChunkBytes,
    offset: 0,
    data: new Uint8Array(snapshotChunkBytes),
  };
  for (let i = 0; i < 4; i++) builder.chunk({ ...chunk, offset: i * snapshotChunkBytes });
  const frames = builder.finish();
  expect(frames.length).toBe(2);
  for (const frame of frames) expect(frame.length).toBeLessThanOrEqual(peerFrameBytesMax);
});

test("a Snap message is never put in a frame whole, and a frame carrying one is refused", () => {
  const snap: Message = {
    ...append(0, 0, 0),
    type: MessageType.Snap,
    snapshot: { metadata: { index: 5, term: 3, voters: ["a", "b"] }, data: new Uint8Array(10) },
  };
  expect(() => new FrameBuilder(header, peerFrameBytesMax).envelope({ group: 0, message: snap }))
    .toThrow("snapshots go to peers as chunks");
  const frame = encodePeerFrame({
    from: "a",
    envelopes: [{ group: 0, message: snap }],
    forwards: [],
    answers: [],
  });
  expect(decodePeerFrame(frame, 1)).toEqual({
    error: "envelope for group 0: a snapshot travels in chunks, not whole",
  });
});

import { expect, test } from "bun:test";

import { snapshotBytesMax, snapshotChunkBytes } from "../constants.ts";
import { Durability, ResponseType } from "../locks/types.ts";
import { decodeMsgpack, encodeMsgpack } from "../codec/msgpack.ts";
import { decodePeerFrame, encodePeerFrame, type SnapshotChunk } from "./peer-frame.ts";

const chunk: SnapshotChunk = {
  group: 1,
  term: 9,
  index: 40_000,
  snapshotTerm: 8,
  voters: ["a", "b", "c"],
  totalBytes: 3 * snapshotChunkBytes,
  offset: snapshotChunkBytes,
  data: new Uint8Array([1, 2, 3]),
};

test("forwards and answers are named by incarnation and a sequence past 2^32, both kept whole", () => {
  const forward = {
    incarnation: 2 ** 30,
    id: 2 ** 32 + 5,
    request: { op: "get" as const, resource: "r", durability: Durability.Persistent },
  };
  const answer = {
    incarnation: 3,
    id: 2 ** 52,
    response: { type: ResponseType.Locked, fencingToken: 4 },
  };
  const ack = { group: 1, term: 9, index: 40_000, received: 2 * snapshotChunkBytes };
  const frame = encodePeerFrame({
    from: "a",
    envelopes: [],
    forwards: [forward],
    answers: [answer],
    chunks: [chunk],
    acks: [ack],
    cancels: [{ incarnation: 3, id: 2 ** 40 }],
  });
  expect(decodePeerFrame(frame, 2)).toEqual({
    from: "a",
    store: "",
    recovering: false,
    stores: {},
    envelopes: [],
    forwards: [forward],
    answers: [answer],
    chunks: [chunk],
    acks: [ack],
    cancels: [{ incarnation: 3, id: 2 ** 40 }],
  });
});

test("a frame without cancels leaves the list out; a bad cancel is an error", () => {
  const empty = { from: "a", envelopes: [], forwards: [], answers: [] };
  expect((decodeMsgpack(encodePeerFrame(empty)) as unknown[]).length).toBe(10);
  expect(decodePeerFrame(encodePeerFrame(empty), 1)).toMatchObject({ cancels: [] });
  for (const bad of [[1], [1, -1], ["x", 1], [1, 1.5], 7]) {
    const bytes = encodeMsgpack([3, "a", "", false, {}, [], [], [], [], [], [bad]]);
    expect(decodePeerFrame(bytes, 1)).toEqual({ error: "cancel is not [incarnation, id]" });
  }
});

test("a malformed forward, chunk or ack is an error naming what is wrong", () => {
  const frame = (field: number, item: unknown) => {
    const lists: unknown[][] = [[], [], [], [], []];
    lists[field]!.push(item);
    return encodeMsgpack([3, "a", "", false, {}, ...lists]);
  };
  const request = [1, "get", { resource: "r", durability: 1 }];
  const rawChunk = (changes: Partial<Record<number, unknown>>) => {
    const item: unknown[] = [1, 9, 40_000, 8, ["a"], 100, 0, new Uint8Array(10)];
    for (const [at, value] of Object.entries(changes)) item[Number(at)] = value;
    return frame(3, item);
  };
  const cases: [Uint8Array, string][] = [
    [frame(1, request), "forwarded request is not [incarnation, request]"],
    [frame(1, [0, request]), "forwarded request is not [incarnation, request]"],
    [frame(2, [1, [1, 200, 0, null, null, null]]), "forwarded answer: answer type is unknown"],
    [rawChunk({ 0: 2 }), "snapshot chunk group must be an integer from 0 to 1"],
    [rawChunk({ 3: 10 }), "snapshot chunk snapshotTerm must be from 1 to 9"],
    [rawChunk({ 4: [] }), "snapshot chunk voters must be a list of 1 to 64 node ids"],
    [
      rawChunk({ 5: snapshotBytesMax + 1 }),
      `snapshot chunk total must be from 1 to ${snapshotBytesMax} bytes`,
    ],
    [rawChunk({ 6: 95 }), "snapshot chunk must lie within its snapshot's total"],
    [
      rawChunk({ 5: snapshotBytesMax, 7: new Uint8Array(snapshotChunkBytes + 1) }),
      `snapshot chunk data must be 1 to ${snapshotChunkBytes} bytes`,
    ],
    [frame(4, [1, 9, 40_000]), "snapshot chunk ack is not [group, term, index, received]"],
    [
      frame(4, [0, 9, 40_000, snapshotBytesMax + 1]),
      `snapshot chunk ack fields must be integers, received at most ${snapshotBytesMax}`,
    ],
  ];
  for (const [bytes, error] of cases) expect(decodePeerFrame(bytes, 2)).toEqual({ error });
  expect(decodePeerFrame(encodeMsgpack([1, "a", [], [], []]), 2)).toEqual({
    error: "peer frame is not [version, from, store, recovering, stores, envelopes, " +
      "forwards, answers, chunks, acks, cancels?]",
  });
  const header = (store: unknown, recovering: unknown, stores: unknown) =>
    decodePeerFrame(encodeMsgpack([3, "a", store, recovering, stores, [], [], [], [], []]), 2);
  const storeError = "peer frame store must be a string of at most 64 characters";
  expect(header(7, false, {})).toEqual({ error: storeError });
  expect(header("x".repeat(65), false, {})).toEqual({ error: storeError });
  expect(header("s", 1, {})).toEqual({ error: "peer frame recovering must be a boolean" });
  const storesError = "peer frame stores must map at most 64 node ids to store ids";
  for (const bad of [[], { b: 7 }, { "": "s" }, { b: "x".repeat(65) }, null]) {
    expect(header("s", false, bad)).toEqual({ error: storesError });
  }
  expect(header("s", true, { b: "t" })).toMatchObject({
    store: "s",
    recovering: true,
    stores: { b: "t" },
  });
});

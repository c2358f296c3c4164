import { decode, encode } from "@msgpack/msgpack";
import { expect, test } from "bun:test";
import { entryDataBytesMax } from "../constants.ts";
import { seededRandom } from "../raft/test-network.ts";
import { MessageType } from "../raft/types.ts";
import type { Message } from "../raft/types.ts";
import type { Random } from "../ports/random.ts";
import { decodeMessage, encodeMessage } from "./raft-message.ts";

const base: Message = {
  type: MessageType.Heartbeat,
  from: "n1",
  to: "n2",
  term: 3,
  logTerm: 0,
  index: 0,
  entries: [],
  commit: 7,
  reject: false,
  rejectHint: 0,
  context: 12,
};

function wire(m: Message): unknown {
  return decode(encode(encodeMessage(m)));
}

const samples: Message[] = [
  base,
  {
    ...base,
    type: MessageType.App,
    index: 10,
    logTerm: 2,
    entries: [
      { term: 2, index: 11, data: new Uint8Array([1, 2, 3]) },
      { term: 3, index: 12, data: new Uint8Array(0) },
    ],
  },
  { ...base, type: MessageType.AppResp, index: 9, reject: true, rejectHint: 4, logTerm: 1 },
  { ...base, type: MessageType.Vote, index: 12, logTerm: 3, context: 1 },
  { ...base, type: MessageType.PreVoteResp, term: 4, reject: false },
  {
    ...base,
    type: MessageType.Snap,
    snapshot: {
      metadata: { index: 100, term: 2, voters: ["n1", "n2", "n3"] },
      data: new Uint8Array([9]),
    },
  },
  { ...base, type: MessageType.ReadIndexResp, index: 55, context: 2 ** 40 },
  { ...base, type: MessageType.TimeoutNow },
  { ...base, type: MessageType.TransferLeader, from: "ñode-é" },
];

test("every message type survives an encode, msgpack and decode round trip", () => {
  for (const m of samples) expect(decodeMessage(wire(m))).toEqual(m);
  const types = new Set(Object.values(MessageType));
  for (const type of types) {
    const m = {
      ...base,
      type,
      ...(type === MessageType.Snap ? { snapshot: samples[5]!.snapshot! } : {}),
    };
    expect(decodeMessage(wire(m))).toEqual(m);
  }
});

function errorOf(x: unknown): string {
  const result = decodeMessage(x);
  if (!("error" in result)) throw new Error(`expected an error for ${JSON.stringify(x)}`);
  return result.error;
}

test("a frame with wrong types, ranges or tags is rejected with the field named", () => {
  const good = encodeMessage(base) as unknown[];
  const withField = (i: number, v: unknown) => good.map((x, j) => (j === i ? v : x));
  expect(errorOf(withField(0, 99))).toContain("type 99 is unknown");
  expect(errorOf(withField(1, ""))).toContain("from/to");
  expect(errorOf(withField(2, "x".repeat(300)))).toContain("from/to");
  expect(errorOf(withField(3, -1))).toContain("term");
  expect(errorOf(withField(5, 1.5))).toContain("index");
  expect(errorOf(withField(6, 2 ** 60))).toContain("commit");
  expect(errorOf(withField(7, 1))).toContain("reject");
  expect(errorOf(withField(10, [[1, new Uint8Array(0)]]))).toContain("must not carry entries");
  expect(errorOf(withField(11, [1, 1, ["a"], new Uint8Array(0)]))).toContain("carries a snapshot");
  expect(errorOf(good.slice(0, 11))).toContain("12 fields");
  expect(errorOf({ type: 1 })).toContain("list");
});

test("append entries must be bytes with non-decreasing terms within the sender's term", () => {
  const app = encodeMessage(samples[1]!) as unknown[];
  const withEntries = (entries: unknown) => app.map((x, j) => (j === 10 ? entries : x));
  expect(errorOf(withEntries([[3, "text"]]))).toContain("bytes");
  expect(errorOf(withEntries([[3, new Uint8Array(0)], [2, new Uint8Array(0)]]))).toContain("term");
  expect(errorOf(withEntries([[1, new Uint8Array(0)]]))).toContain("term"); // below logTerm 2
  expect(errorOf(withEntries([[4, new Uint8Array(0)]]))).toContain("term"); // above term 3
  expect(errorOf(withEntries([[3]]))).toContain("[term, data]");
  const many = Array.from({ length: 10_000 }, () => [3, new Uint8Array(0)]);
  expect(errorOf(withEntries(many))).toContain("at most");
  // An entry is a lock command: one longer than entryDataBytesMax could never be sent on.
  expect(errorOf(withEntries([[3, new Uint8Array(entryDataBytesMax + 1)]]))).toBe(
    `entry data must be at most ${entryDataBytesMax} bytes`,
  );
  expect(decodeMessage(withEntries([[3, new Uint8Array(entryDataBytesMax)]]))).not.toHaveProperty(
    "error",
  );
});

test("a snap message without a valid snapshot is rejected", () => {
  const snap = encodeMessage(samples[5]!) as unknown[];
  const withSnapshot = (s: unknown) => snap.map((x, j) => (j === 11 ? s : x));
  expect(errorOf(withSnapshot(null))).toContain("must carry a snapshot");
  expect(errorOf(withSnapshot([0, 1, ["a"], new Uint8Array(0)]))).toContain("index");
  expect(errorOf(withSnapshot([5, 9, ["a"], new Uint8Array(0)]))).toContain("term");
  expect(errorOf(withSnapshot([5, 1, [], new Uint8Array(0)]))).toContain("voters");
  expect(errorOf(withSnapshot([5, 1, [""], new Uint8Array(0)]))).toContain("node ids");
  expect(errorOf(withSnapshot([5, 1, ["a"], "data"]))).toContain("bytes");
});

function randomValue(random: Random, depth: number): unknown {
  const pick = random.int(depth > 2 ? 9 : 12);
  switch (pick) {
    case 0:
      return random.int(20);
    case 1:
      return random.int(2 ** 31) - 2 ** 30;
    case 2:
      return random.int(1000) / 7;
    case 3:
      return [Number.NaN, Infinity, -Infinity, 2 ** 53, -0][random.int(5)];
    case 4:
      return ["", "n1", "x".repeat(random.int(400)), "\u0000", "é"][random.int(5)];
    case 5:
      return random.int(2) === 0;
    case 6:
      return [null, undefined][random.int(2)];
    case 7:
      return new Uint8Array(random.int(8));
    case 8:
      return BigInt(random.int(100));
    case 9:
    case 10:
      return Array.from({ length: random.int(14) }, () => randomValue(random, depth + 1));
    default:
      return { type: randomValue(random, depth + 1), term: randomValue(random, depth + 1) };
  }
}

function check(x: unknown): void {
  const result = decodeMessage(x);
  expect(typeof result).toBe("object");
  if ("error" in result) expect(typeof result.error).toBe("string");
  else expect(decodeMessage(wire(result))).toEqual(result);
}

test("random garbage never throws: every value decodes to a message or an error", () => {
  const random = seededRandom(20261126);
  for (let i = 0; i < 5000; i++) check(randomValue(random, 0));
});

test("valid frames with one field corrupted never throw", () => {
  const random = seededRandom(7);
  let decoded = 0;
  for (let i = 0; i < 5000; i++) {
    const fields = [...(encodeMessage(samples[random.int(samples.length)]!) as unknown[])];
    const k = random.int(fields.length);
    const sub = fields[k];
    if (Array.isArray(sub) && sub.length > 0 && random.int(2) === 0) {
      const copy = [...sub];
      copy[random.int(copy.length)] = randomValue(random, 1);
      fields[k] = copy;
    } else {
      fields[k] = randomValue(random, 1);
    }
    check(fields);
    if (!("error" in decodeMessage(fields))) decoded++;
  }
  // Some corruptions are still valid messages (a different term, say): both paths are run.
  expect(decoded).toBeGreaterThan(100);
  expect(decoded).toBeLessThan(4900);
});

test("random bytes through msgpack and the validator never crash the decoder", () => {
  const random = seededRandom(99);
  const valid = samples.map((m) => encode(encodeMessage(m)));
  let checked = 0;
  for (let i = 0; i < 1000; i++) {
    // Flip a few bytes of a valid frame, or make one up.
    const source = valid[random.int(valid.length)]!;
    const frame = random.int(4) === 0
      ? Uint8Array.from({ length: random.int(64) }, () => random.int(256))
      : source.map((b) => (random.int(source.length) < 2 ? random.int(256) : b));
    let value: unknown;
    try {
      value = decode(frame);
    } catch {
      continue; // not msgpack at all: the frame decoder rejects it before us
    }
    check(value);
    checked++;
  }
  expect(checked).toBeGreaterThan(150);
});

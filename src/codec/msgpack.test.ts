/**
 * The wire codec against a reference implementation (@msgpack/msgpack, a dev dependency
 * kept for this): the same bytes for the same value, and each reads the other's output; then
 * every way a hostile or corrupt input is refused.
 */
import { decode as referenceDecode, encode as referenceEncode } from "@msgpack/msgpack";
import { expect, test } from "bun:test";
import {
  decodeMsgpack,
  depthMax,
  encodeMsgpack,
  msgpackBytesBound,
  MsgpackError,
} from "./msgpack.ts";

function prng(seed: number) {
  let state = seed >>> 0;
  return (n: number) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % n;
  };
}

const edgeNumbers = [
  0,
  1,
  127,
  128,
  255,
  256,
  65_535,
  65_536,
  2 ** 32 - 1,
  2 ** 32,
  Number.MAX_SAFE_INTEGER,
  -1,
  -32,
  -33,
  -128,
  -129,
  -32_768,
  -32_769,
  -(2 ** 31),
  -(2 ** 31) - 1,
  Number.MIN_SAFE_INTEGER,
  0.5,
  -1.25,
  1e300,
  2 ** 60,
  Number.POSITIVE_INFINITY,
];

function randomString(next: (n: number) => number): string {
  const length = [0, 5, 31, 32, 200, 255, 256, 300][next(8)]!;
  let text = "";
  for (let i = 0; i < length; i++) {
    const kind = next(10);
    text += kind < 7
      ? String.fromCharCode(32 + next(95))
      : kind < 8
      ? String.fromCharCode(0x80 + next(0x700))
      : kind < 9
      ? "日"
      : "🔒";
  }
  return text;
}

function randomValue(next: (n: number) => number, depth: number): unknown {
  const kind = next(depth > 3 ? 6 : 9);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return next(2) === 0;
    case 2:
      return edgeNumbers[next(edgeNumbers.length)]!;
    case 3:
      return next(1_000_000) - 500_000;
    case 4:
      return randomString(next);
    case 5:
      return new Uint8Array(Array.from({ length: [0, 3, 255, 300][next(4)]! }, () => next(256)));
    case 6:
    case 7:
      return Array.from(
        { length: [0, 2, 15, 16, 40][next(5)]! },
        () => randomValue(next, depth + 1),
      );
    default: {
      const map: Record<string, unknown> = {};
      const size = [0, 1, 15, 16, 20][next(5)]!;
      for (let i = 0; i < size; i++) {
        map[`k${next(50)}${["", "é", "日", "🔒"][next(4)]}`] = randomValue(next, depth + 1);
      }
      return map;
    }
  }
}

test("the same bytes as the reference encoder, and each decodes the other's output", () => {
  const next = prng(7);
  for (let i = 0; i < 1_500; i++) {
    const value = randomValue(next, 0);
    const ours = encodeMsgpack(value);
    expect(ours).toEqual(referenceEncode(value));
    expect(decodeMsgpack(ours)).toEqual(referenceDecode(ours));
    expect(decodeMsgpack(ours)).toEqual(value);
  }
});

test("msgpackBytesBound is never below the encoded size, and near it for binary", () => {
  const next = prng(11);
  for (let i = 0; i < 1_500; i++) {
    const value = randomValue(next, 0);
    expect(msgpackBytesBound(value)).toBeGreaterThanOrEqual(encodeMsgpack(value).length);
  }
  const data = new Uint8Array(100_000);
  expect(msgpackBytesBound([1, data]) - encodeMsgpack([1, data]).length).toBeLessThan(16);
});

test("an unpaired surrogate is written as U+FFFD, as TextEncoder writes it", () => {
  // The reference writes the surrogate's own three bytes, which are not UTF-8.
  expect(encodeMsgpack("a\uD800")).toEqual(new Uint8Array([0xa4, 0x61, 0xef, 0xbf, 0xbd]));
  expect(decodeMsgpack(encodeMsgpack("\uDC00x"))).toBe("\uFFFDx");
});

test("a leading byte order mark is part of the string, not dropped", () => {
  for (const text of ["\uFEFFx", "\uFEFF", "\uFEFF" + "y".repeat(40)]) {
    expect(decodeMsgpack(encodeMsgpack(text))).toBe(text);
  }
});

test("values bigger than the encoder's first buffer come out whole", () => {
  const value = [
    new Uint8Array(10_000).fill(9),
    new Uint8Array(70_000).fill(8),
    "é".repeat(5_000),
    "x".repeat(70_000),
    Array(70_000).fill(70_000),
    Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i])),
  ];
  expect(encodeMsgpack(value)).toEqual(referenceEncode(value));
  expect(decodeMsgpack(encodeMsgpack(value))).toEqual(value);
  // The buffer is reused: a small value after a big one is still exact.
  expect(encodeMsgpack([1, "a"])).toEqual(referenceEncode([1, "a"]));
});

test("raw strings come back as their UTF-8 bytes", () => {
  const bytes = encodeMsgpack(["é", { k: "v" }]);
  expect(decodeMsgpack(bytes, { rawStrings: true })).toEqual([
    new Uint8Array([0xc3, 0xa9]),
    { k: new Uint8Array([0x76]) },
  ]);
});

test("short strings from the cache are the strings sent, even when slots collide", () => {
  const names = Array.from({ length: 5_000 }, (_, i) => `n${i}`);
  for (let round = 0; round < 2; round++) {
    for (const name of names) expect(decodeMsgpack(encodeMsgpack(name))).toBe(name);
  }
});

test("malformed input is a MsgpackError that says what is wrong", () => {
  const cases: [number[], RegExp][] = [
    [[], /ends inside a value/],
    [[0x92, 0x01], /2 elements declared, 1 bytes left/],
    [[0xdd, 0xff, 0xff, 0xff, 0xff], /elements declared/],
    [[0xdb, 0xff, 0xff, 0xff, 0xff, 0x61], /ends inside a value/],
    [[0x01, 0x02], /1 byte\(s\) after the value/],
    [[0xc1], /type 0xc1 at byte 0 is not allowed/],
    [[0xd4, 0x01, 0x02], /type 0xd4/],
    [[0xc7, 0x00, 0x01], /type 0xc7/],
    [[0xa2, 0xc3, 0x28], /not valid UTF-8/],
    [[0xa1, 0xff], /not valid UTF-8/],
    [[0xa3, 0xed, 0xa0, 0x80], /not valid UTF-8/], // a surrogate encoded in UTF-8
    [[0x81, 0x01, 0x02], /map key at byte 1 is not a string/],
    [[0x81, 0xa9, ...new TextEncoder().encode("__proto__"), 0xc0], /__proto__/],
    [[0xcf, 0x00, 0x20, 0, 0, 0, 0, 0, 0], /beyond 2\^53/],
    [[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0], /beyond 2\^53/],
    [[...Array(depthMax + 1).fill(0x91), 0x01], /nested deeper than 32/],
  ];
  for (const [bytes, message] of cases) {
    let error: unknown;
    try {
      decodeMsgpack(new Uint8Array(bytes));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MsgpackError);
    expect((error as Error).message).toMatch(message);
  }
});

test("random and mutated bytes either decode or throw MsgpackError, never anything else", () => {
  const next = prng(11);
  const seeds = Array.from({ length: 50 }, () => encodeMsgpack(randomValue(next, 2)));
  for (let i = 0; i < 20_000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = new Uint8Array(Array.from({ length: next(40) }, () => next(256)));
    } else {
      bytes = seeds[next(seeds.length)]!.slice(0, 200);
      for (let flips = next(4); flips >= 0; flips--) {
        if (bytes.length > 0) bytes[next(bytes.length)] = next(256);
      }
    }
    try {
      decodeMsgpack(bytes);
    } catch (error) {
      expect(error).toBeInstanceOf(MsgpackError);
    }
  }
});

test("what the encoder cannot write is refused: it is a caller's bug", () => {
  for (const value of [10n, () => 1, new Date(0), new Map(), Symbol("s")]) {
    expect(() => encodeMsgpack(value)).toThrow(MsgpackError);
  }
});

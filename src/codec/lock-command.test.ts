import { describe, expect, test } from "bun:test";
import { encode } from "@msgpack/msgpack";
import { AssertionError } from "../assert.ts";
import { expiresMsMax, lockCommandBytesMax } from "../constants.ts";
import { mutate, randomBytes, seededRandom } from "../locks/test-kit.ts";
import {
  commandError,
  decodeCommand,
  encodeCommand,
  type LockCommand,
  utf8ByteLength,
} from "./lock-command.ts";

const owner = "786f947d8a6643f0b939865f72aa512a";

const valid: LockCommand[] = [
  { kind: "tryLock", resource: "orders/42", owner, expiresMs: 5000, nowMs: 0 },
  { kind: "extend", resource: "r", owner: "o", expiresMs: expiresMsMax, nowMs: 123.5 },
  { kind: "unlock", resource: "r", owner, expiresMs: 0, nowMs: Number.MAX_SAFE_INTEGER },
  { kind: "tryLock", resource: "x".repeat(512), owner: "y".repeat(256), expiresMs: 1, nowMs: 7 },
  { kind: "tryLock", resource: "\u{1F512}é\uFEFF", owner: "\0owner", expiresMs: 1, nowMs: 7 },
  { kind: "leaderStart", nowMs: 0 },
  { kind: "leaderStart", nowMs: 2 ** 40 },
  { kind: "horizon", nowMs: 10, horizonMs: 20_010, tokensThrough: -1 },
  { kind: "horizon", nowMs: 10, horizonMs: 20_010, tokensThrough: 2 ** 53 - 1 },
  { kind: "sweep", nowMs: 10, graceMs: 3_600_000, resources: ["a", "orders/42", "\u{1F512}"] },
];

function isError(x: LockCommand | { error: string }): x is { error: string } {
  return "error" in x;
}

describe("lock command codec", () => {
  test("every kind of command survives encode then decode unchanged", () => {
    for (const c of valid) expect(decodeCommand(encodeCommand(c))).toEqual(c);
  });

  test("encoding is deterministic and compact", () => {
    for (const c of valid) {
      const a = encodeCommand(c);
      expect(encodeCommand(c)).toEqual(a);
      expect(a.length).toBeLessThanOrEqual(lockCommandBytesMax);
      // The encoder's output is a copy the caller owns, not a view of a shared buffer.
      expect(a.byteOffset).toBe(0);
      expect(a.buffer.byteLength).toBe(a.length);
    }
  });

  test("encoding an invalid command is a bug and asserts", () => {
    const bad: LockCommand[] = [
      { kind: "tryLock", resource: "", owner, expiresMs: 1, nowMs: 0 },
      { kind: "tryLock", resource: "a\0b", owner, expiresMs: 1, nowMs: 0 },
      { kind: "tryLock", resource: "x".repeat(513), owner, expiresMs: 1, nowMs: 0 },
      { kind: "tryLock", resource: "é".repeat(257), owner, expiresMs: 1, nowMs: 0 },
      { kind: "tryLock", resource: "r", owner: "", expiresMs: 1, nowMs: 0 },
      { kind: "tryLock", resource: "r", owner: "y".repeat(257), expiresMs: 1, nowMs: 0 },
      { kind: "tryLock", resource: "\uD800", owner, expiresMs: 1, nowMs: 0 },
      { kind: "tryLock", resource: "r", owner, expiresMs: 0, nowMs: 0 },
      { kind: "tryLock", resource: "r", owner, expiresMs: 1.5, nowMs: 0 },
      { kind: "extend", resource: "r", owner, expiresMs: expiresMsMax + 1, nowMs: 0 },
      { kind: "unlock", resource: "r", owner, expiresMs: 5, nowMs: 0 },
      { kind: "tryLock", resource: "r", owner, expiresMs: 1, nowMs: -1 },
      { kind: "leaderStart", nowMs: Number.NaN },
      { kind: "leaderStart", nowMs: Number.POSITIVE_INFINITY },
      { kind: "horizon", nowMs: 0, horizonMs: -5, tokensThrough: -1 },
    ];
    for (const c of bad) {
      expect(commandError(c)).toBeString();
      expect(() => encodeCommand(c)).toThrow(AssertionError);
    }
  });

  test("decoding names what is wrong with hand-made bad entries", () => {
    const cases: [unknown, string][] = [
      [[9, 0], "unknown lock command code 9"],
      [["tryLock", "r"], "unknown lock command code"],
      [[], "non-empty array"],
      [{ kind: "tryLock" }, "non-empty array"],
      [[1, "r", owner, 5], "tryLock needs 4 fields (5 with a value), got 3"],
      [[4, 0, 1], "leaderStart needs 1 field, got 2"],
      [[5, 0], "horizon needs 3 fields, got 1"],
      [[5, 0, 1, -2], "tokensThrough must be an integer from -1"],
      [[5, 0, 1, 2 ** 53], "tokensThrough must be an integer from -1"],
      [[6, 0, 10], "sweep needs 3 fields, got 2"],
      [[6, 0, 10, "a"], "sweep: resources must be an array"],
      [[6, 0, 10, []], "sweep: resources must be a non-empty array"],
      [[6, 0, -1, ["a"]], "sweep: graceMs must be an integer from 0"],
      [[6, 0, 1.5, ["a"]], "sweep: graceMs must be an integer from 0"],
      [[6, 0, 10, ["a", ""]], "sweep: resource 1: resource must be 1 to 512"],
      [[6, 0, 10, ["a", 7]], "sweep: resource 1 is not a UTF-8 string"],
      [[1, "r".repeat(1600), owner, 5, 0], "tryLock is 1641 bytes, at most 1536"],
      [[6, 0, 10, Array.from({ length: 200 }, () => "x".repeat(500))], "at most 65536"],
      [[1, 42, owner, 5, 0], "resource is not a UTF-8 string"],
      [[2, "r", null, 5, 0], "owner is not a UTF-8 string"],
      [[1, "r", owner, "5", 0], "expiresMs must be an integer"],
      [[3, "r", owner, 1, 0], "expiresMs must be 0 for unlock"],
      [[1, "r", owner, 5, -3], "nowMs must be a number"],
      [[5, 1, "soon"], "horizonMs must be a number"],
      [[1, "a\0", owner, 5, 0], "resource must not contain NUL"],
    ];
    for (const [wire, message] of cases) {
      const result = decodeCommand(encode(wire));
      expect(isError(result) ? result.error : "accepted").toContain(message);
    }
  });

  test("a horizon written before tokens were reserved decodes as reserving none", () => {
    expect(decodeCommand(encode([5, 10, 20]))).toEqual({
      kind: "horizon",
      nowMs: 10,
      horizonMs: 20,
      tokensThrough: -1,
    });
  });

  test("a sweep may be far larger than a lock command, up to its own bound", () => {
    const resources = Array.from({ length: 100 }, (_, i) => `${i}`.padEnd(500, "x"));
    const sweep: LockCommand = { kind: "sweep", nowMs: 1, graceMs: 0, resources };
    const bytes = encodeCommand(sweep);
    expect(bytes.length).toBeGreaterThan(lockCommandBytesMax);
    expect(decodeCommand(bytes)).toEqual(sweep);
  });

  test("decoding rejects invalid UTF-8, trailing bytes, empty and oversized data", () => {
    const good = encodeCommand({
      kind: "tryLock",
      resource: "ab",
      owner: "o",
      expiresMs: 1,
      nowMs: 0,
    });
    // [fixarray 5, 1, fixstr 2 "ab", ...]: turn "ab" into an invalid UTF-8 sequence.
    const badUtf8 = good.slice();
    expect(badUtf8[2]).toBe(0xa2);
    badUtf8[3] = 0xc3;
    badUtf8[4] = 0x28;
    expect(isError(decodeCommand(badUtf8))).toBe(true);
    expect(isError(decodeCommand(new Uint8Array([...good, 0])))).toBe(true);
    expect(isError(decodeCommand(new Uint8Array(0)))).toBe(true);
    expect(isError(decodeCommand(new Uint8Array(lockCommandBytesMax + 1)))).toBe(true);
  });

  test("thousands of random byte strings never throw and are never accepted wrongly", () => {
    const random = seededRandom(1);
    let accepted = 0;
    for (let i = 0; i < 5000; i++) {
      const result = decodeCommand(randomBytes(random, 1 + random.int(64)));
      if (!isError(result)) {
        accepted++;
        expect(commandError(result)).toBeUndefined();
      }
    }
    expect(accepted).toBeLessThan(50);
  });

  test("mutated valid commands never throw; whatever decodes is valid and re-encodes", () => {
    const random = seededRandom(2);
    let rejected = 0;
    for (let i = 0; i < 5000; i++) {
      const base = encodeCommand(valid[random.int(valid.length)] as LockCommand);
      const mutated = mutate(base, random);
      const result = decodeCommand(mutated);
      if (isError(result)) {
        rejected++;
        expect(result.error).toBeString();
        continue;
      }
      expect(commandError(result)).toBeUndefined();
      expect(decodeCommand(encodeCommand(result))).toEqual(result);
    }
    expect(rejected).toBeGreaterThan(1000);
  });
});

test("UTF-8 length counts bytes and refuses lone surrogates", () => {
  expect(utf8ByteLength("")).toBe(0);
  expect(utf8ByteLength("abc")).toBe(3);
  expect(utf8ByteLength("é")).toBe(2);
  expect(utf8ByteLength("€")).toBe(3);
  expect(utf8ByteLength("\u{1F512}")).toBe(4);
  expect(utf8ByteLength("a\uD800")).toBe(-1);
  expect(utf8ByteLength("\uDC00a")).toBe(-1);
  const sample = "ké\u{1F512}€z";
  expect(utf8ByteLength(sample)).toBe(new TextEncoder().encode(sample).length);
});

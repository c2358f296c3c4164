import { expect, test } from "bun:test";
import { fnv1a32, fnv1a32Utf8, groupOf } from "./partition.ts";

test("fnv1a32 matches the published FNV-1a test vectors", () => {
  const hash = (s: string) => fnv1a32(new TextEncoder().encode(s));
  expect(hash("")).toBe(0x811c9dc5);
  expect(hash("a")).toBe(0xe40c292c);
  expect(hash("foobar")).toBe(0xbf9cf968);
});

test("resources under one prefix spread over every group", () => {
  const counts = new Array<number>(16).fill(0);
  for (let i = 0; i < 16_000; i++) counts[groupOf(`locks/tasks/${i}`, 16)]! += 1;
  for (const count of counts) {
    expect(count).toBeGreaterThan(800);
    expect(count).toBeLessThan(1200);
  }
});

test("the group of a name is stable and within range", () => {
  expect(groupOf("locks/tasks/123", 16)).toBe(groupOf("locks/tasks/123", 16));
  expect(groupOf("x", 1)).toBe(0);
  expect(() => groupOf("x", 0)).toThrow();
});

test("hashing a string directly gives the hash of its UTF-8 bytes, surrogates and all", () => {
  const encoder = new TextEncoder();
  const samples = [
    "",
    "a",
    "locks/tasks/1",
    "é",
    "日本語",
    "🔒/x",
    "\u{10FFFF}",
    "\uD800",
    "a\uDC00b",
  ];
  // Random strings over every UTF-16 range, lone surrogates included (TextEncoder writes
  // U+FFFD for those, and so must the direct hash).
  let seed = 12345;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const ranges = [0x7f, 0x7ff, 0xffff, 0xdfff];
  for (let i = 0; i < 5_000; i++) {
    let text = "";
    const length = next() % 12;
    for (let j = 0; j < length; j++) {
      const range = ranges[next() % ranges.length]!;
      const low = range === 0xdfff ? 0xd800 : 0;
      text += String.fromCharCode(low + (next() % (range - low + 1)));
    }
    samples.push(text);
  }
  for (const text of samples) {
    expect(fnv1a32Utf8(text)).toBe(fnv1a32(encoder.encode(text)));
  }
  // Pinned: the partition of a name is part of the on-disk contract.
  expect(groupOf("locks/tasks/123", 16)).toBe(fnv1a32(encoder.encode("locks/tasks/123")) % 16);
  expect(fnv1a32Utf8("foobar")).toBe(0xbf9cf968);
});

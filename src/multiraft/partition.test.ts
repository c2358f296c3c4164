import { expect, test } from "bun:test";
import { fnv1a32, groupOf } from "./partition.ts";

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

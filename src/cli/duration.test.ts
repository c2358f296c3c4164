import { expect, test } from "bun:test";
import { formatDuration, parseDurationMs } from "./duration.ts";

test("durations read as ms, s, m, h or d; a bare number is seconds", () => {
  expect(parseDurationMs("--d", "250ms")).toBe(250);
  expect(parseDurationMs("--d", "1.5s")).toBe(1_500);
  expect(parseDurationMs("--d", "2m")).toBe(120_000);
  expect(parseDurationMs("--d", "1h")).toBe(3_600_000);
  expect(parseDurationMs("--d", "3")).toBe(3_000);
  expect(parseDurationMs("--d", "0")).toBe(0);
  expect(parseDurationMs("--d", "7d", 7 * 86_400_000)).toBe(7 * 86_400_000);
});

test("a bad or too long duration names the flag and what is allowed", () => {
  expect(parseDurationMs("--d", "-1s")).toBe(
    '--d must be a duration like 10s, 500ms, 1m or 1h, got "-1s"',
  );
  expect(parseDurationMs("--d", "1 week")).toMatch(/^--d must be a duration/);
  expect(parseDurationMs("--d", "25h")).toBe('--d must be at most 1d, got "25h"');
  expect(parseDurationMs("--grace", "2d", 86_400_000 + 1)).toBe(
    '--grace must be at most 86400001ms, got "2d"',
  );
});

test("formatDuration picks the largest unit that divides evenly", () => {
  expect([86_400_000, 3_600_000, 90_000, 1_500, 0].map(formatDuration)).toEqual([
    "1d",
    "1h",
    "90s",
    "1500ms",
    "0ms",
  ]);
});

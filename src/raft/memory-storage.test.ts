import { expect, test } from "bun:test";
import { MemoryStorage } from "./memory-storage.ts";
import type { Entry } from "./types.ts";

const voters = ["a", "b", "c"];

function entry(index: number, term: number, data = `${index}`): Entry {
  return { index, term, data: new TextEncoder().encode(data) };
}

function indexTerms(s: MemoryStorage): [number, number][] {
  return s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity).map((e) => [e.index, e.term]);
}

test("a fresh storage is empty at index 0, term 0, with the initial voters", () => {
  const s = new MemoryStorage(voters);
  expect([s.firstIndex(), s.lastIndex(), s.term(0), s.term(1)]).toEqual([1, 0, 0, undefined]);
  expect(s.initialState()).toEqual({ hardState: { term: 0, vote: "", commit: 0 }, voters });
});

test("append replaces a conflicting suffix from its first index on (Raft §5.3)", () => {
  const s = new MemoryStorage(voters);
  s.append([entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)]);
  s.append([entry(3, 2), entry(4, 2, "new")]);
  expect(indexTerms(s)).toEqual([[1, 1], [2, 1], [3, 2], [4, 2]]);
  s.append([entry(2, 3)]);
  expect(indexTerms(s)).toEqual([[1, 1], [2, 3]]);
  s.append([entry(3, 3), entry(4, 3)]);
  expect(indexTerms(s)).toEqual([[1, 1], [2, 3], [3, 3], [4, 3]]);
});

test("append leaving a gap is a bug", () => {
  const s = new MemoryStorage(voters);
  s.append([entry(1, 1)]);
  expect(() => s.append([entry(3, 1)])).toThrow("missing log entries");
});

test("entries are limited by bytes but always include one", () => {
  const s = new MemoryStorage(voters);
  s.append([entry(1, 1, "x".repeat(100)), entry(2, 1, "y".repeat(100)), entry(3, 1)]);
  expect(s.entries(1, 4, 10).map((e) => e.index)).toEqual([1]);
  expect(s.entries(1, 4, 240).map((e) => e.index)).toEqual([1, 2]);
  expect(s.entries(1, 4, Infinity).map((e) => e.index)).toEqual([1, 2, 3]);
});

test("snapshot then compact keeps the snapshot's term at firstIndex - 1 (Raft §7)", () => {
  const s = new MemoryStorage(voters);
  s.append([entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2), entry(5, 2)]);
  const created = s.createSnapshot(4, voters, new Uint8Array([42]));
  expect(created).toMatchObject({ kind: "ok", snapshot: { metadata: { index: 4, term: 2 } } });
  expect(s.compact(3)).toEqual({ kind: "ok" });
  expect([s.firstIndex(), s.lastIndex(), s.term(3), s.term(2)]).toEqual([4, 5, 2, undefined]);
  expect(s.compact(3)).toEqual({ kind: "outOfDate", snapshotIndex: 3 });
  expect(s.createSnapshot(4, voters, new Uint8Array(0))).toEqual({
    kind: "outOfDate",
    snapshotIndex: 4,
  });
  expect(() => s.compact(5)).toThrow("covered by a snapshot");
  // Appending entries that are already compacted skips them.
  s.append([entry(3, 2), entry(4, 2), entry(5, 2), entry(6, 3)]);
  expect(indexTerms(s)).toEqual([[4, 2], [5, 2], [6, 3]]);
});

test("applySnapshot replaces the log; an older snapshot is refused as a value", () => {
  const s = new MemoryStorage(voters);
  s.append([entry(1, 1), entry(2, 1)]);
  const snapshot = { metadata: { index: 10, term: 3, voters }, data: new Uint8Array([1]) };
  expect(s.applySnapshot(snapshot)).toEqual({ kind: "ok" });
  expect([s.firstIndex(), s.lastIndex(), s.term(10)]).toEqual([11, 10, 3]);
  expect(s.snapshot()).toBe(snapshot);
  const older = { metadata: { index: 5, term: 2, voters }, data: new Uint8Array(0) };
  expect(s.applySnapshot(older)).toEqual({ kind: "outOfDate", snapshotIndex: 10 });
  s.append([entry(11, 3)]);
  expect(indexTerms(s)).toEqual([[11, 3]]);
});

test("the persisted term never goes back", () => {
  const s = new MemoryStorage(voters);
  s.setHardState({ term: 3, vote: "a", commit: 0 });
  expect(() => s.setHardState({ term: 2, vote: "", commit: 0 })).toThrow("never goes back");
});

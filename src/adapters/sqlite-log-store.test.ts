import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "./bun/sqlite.ts";
import { SqliteLogStore, StorageCorruptError } from "./sqlite-log-store.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

function withStore(run: (open: () => SqliteLogStore, path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "kahuna-store-"));
  const path = join(dir, "kahuna.sqlite");
  try {
    run(() => new SqliteLogStore(openDatabase(path), path), path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("entries and hard state survive closing and reopening", () => {
  withStore((open) => {
    const store = open();
    store.save([
      {
        group: 3,
        hardState: { term: 2, vote: "1", commit: 2 },
        entries: [{ term: 1, index: 1, data: bytes() }, { term: 2, index: 2, data: bytes(7) }],
      },
    ], true);
    store.close();
    const state = open().load(3);
    expect(state.hardState).toEqual({ term: 2, vote: "1", commit: 2 });
    expect(state.entries.map((e) => [e.index, e.term, [...e.data]])).toEqual([
      [1, 1, []],
      [2, 2, [7]],
    ]);
    expect(state.snapshot).toBeUndefined();
  });
});

test("an append at a lower index replaces the conflicting suffix (Raft §5.3)", () => {
  withStore((open) => {
    const store = open();
    store.save([{
      group: 0,
      entries: [1, 2, 3].map((index) => ({ term: 1, index, data: bytes() })),
    }], true);
    store.save([{ group: 0, entries: [{ term: 2, index: 2, data: bytes(9) }] }], true);
    expect(store.load(0).entries.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 2]]);
  });
});

test("a received snapshot replaces the log; groups stay separate", () => {
  withStore((open) => {
    const store = open();
    const entries = [1, 2, 3, 4].map((index) => ({ term: 1, index, data: bytes(index) }));
    store.save([{ group: 0, entries }, { group: 1, entries }], true);
    store.save([{
      group: 0,
      entries: [],
      snapshot: { metadata: { index: 2, term: 1, voters: ["1"] }, data: bytes(42) },
    }], true);
    const state = store.load(0);
    expect(state.snapshot?.metadata).toEqual({ index: 2, term: 1, voters: ["1"] });
    expect([...state.snapshot!.data]).toEqual([42]);
    expect(state.entries).toEqual([]);
    expect(store.load(1).entries.length).toBe(4);
  });
});

test("a local snapshot keeps the entries until compaction; load starts after it", () => {
  withStore((open) => {
    const store = open();
    const entries = [1, 2, 3, 4].map((index) => ({ term: 1, index, data: bytes(index) }));
    store.save([{ group: 0, entries }], true);
    store.saveSnapshot(0, { metadata: { index: 2, term: 1, voters: ["1"] }, data: bytes(42) });
    expect(store.load(0).entries.map((e) => e.index)).toEqual([3, 4]);
    store.compact(0, 1);
    store.close();
    const state = open().load(0);
    expect(state.snapshot?.metadata.index).toBe(2);
    expect(state.entries.map((e) => e.index)).toEqual([3, 4]);
  });
});

test("identity is kept across reopen", () => {
  withStore((open) => {
    const store = open();
    expect(store.identity()).toBeUndefined();
    store.setIdentity({ nodeId: "a", voters: ["a", "b"], groups: 16 });
    store.close();
    expect(open().identity()).toEqual({ nodeId: "a", voters: ["a", "b"], groups: 16 });
  });
});

test("a log with a gap after the snapshot is reported as corrupt, naming the file", () => {
  withStore((open, path) => {
    const store = open();
    store.save([{ group: 0, entries: [{ term: 1, index: 5, data: bytes() }] }], true);
    store.saveSnapshot(0, { metadata: { index: 2, term: 1, voters: ["1"] }, data: bytes() });
    expect(() => store.load(0)).toThrow(StorageCorruptError);
    expect(() => store.load(0)).toThrow(path);
  });
});

test("a file that is not a database fails to open with an error, not a hang", () => {
  withStore((open, path) => {
    writeFileSync(path, "this is not sqlite ".repeat(1000));
    expect(() => open()).toThrow();
  });
});

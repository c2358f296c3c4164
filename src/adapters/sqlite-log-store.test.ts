import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "./bun/sqlite.ts";
import { MemoryLogStore } from "./memory/memory-log-store.ts";
import { type LogGarbageLimits, SqliteLogStore, StorageCorruptError } from "./sqlite-log-store.ts";

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
    ]);
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
    }]);
    store.save([{ group: 0, entries: [{ term: 2, index: 2, data: bytes(9) }] }]);
    expect(store.load(0).entries.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 2]]);
  });
});

test("a received snapshot replaces the log; groups stay separate", () => {
  withStore((open) => {
    const store = open();
    const entries = [1, 2, 3, 4].map((index) => ({ term: 1, index, data: bytes(index) }));
    store.save([{ group: 0, entries }, { group: 1, entries }]);
    store.save([{
      group: 0,
      entries: [],
      snapshot: { metadata: { index: 2, term: 1, voters: ["1"] }, data: bytes(42) },
    }]);
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
    store.save([{ group: 0, entries }]);
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
    store.save([{ group: 0, entries: [{ term: 1, index: 5, data: bytes() }] }]);
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

test("a schema 1 database (entries keyed by group and index) is migrated, entries intact", () => {
  withStore((open, path) => {
    const db = openDatabase(path);
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE entries (
        grp INTEGER NOT NULL, idx INTEGER NOT NULL, term INTEGER NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (grp, idx)) WITHOUT ROWID;
      CREATE TABLE hard_state (
        grp INTEGER PRIMARY KEY, term INTEGER NOT NULL, vote TEXT NOT NULL, commit_index INTEGER NOT NULL);
      CREATE TABLE snapshots (
        grp INTEGER PRIMARY KEY, idx INTEGER NOT NULL, term INTEGER NOT NULL,
        voters TEXT NOT NULL, data BLOB NOT NULL);
      INSERT INTO meta VALUES ('schema', '1');
      INSERT INTO hard_state VALUES (1, 3, 'a', 2);
    `);
    // Written group by group in a shuffled order, as a schema 1 node might have.
    for (const [grp, idx] of [[1, 2], [0, 1], [1, 1], [0, 2], [1, 3]]) {
      db.prepare("INSERT INTO entries VALUES (?, ?, ?, ?)").run(grp!, idx!, 1, bytes(grp!, idx!));
    }
    db.close();
    const store = open();
    expect(store.load(1).entries.map((e) => [e.index, [...e.data]])).toEqual([
      [1, [1, 1]],
      [2, [1, 2]],
      [3, [1, 3]],
    ]);
    expect(store.load(1).hardState).toEqual({ term: 3, vote: "a", commit: 2 });
    store.save([{ group: 0, entries: [{ term: 2, index: 3, data: bytes(9) }] }]);
    store.close();
    const again = open();
    expect(again.load(0).entries.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 1], [3, 2]]);
    again.close();
    const meta = openDatabase(path).prepare("SELECT value FROM meta WHERE key = 'schema'").get();
    expect(meta).toEqual({ value: "2" });
  });
});

for (
  const [name, limits] of [
    ["default limits", undefined],
    ["tiny limits: garbage collected and groups relocated often", {
      collectRowsMax: 16,
      relocateAfterRows: 40,
    }],
  ] as const
) {
  test(`random appends, conflicts, snapshots, compactions, reopens, ${name}: as the memory twin`, () => {
    randomHistory(limits);
  });
}

function randomHistory(limits: LogGarbageLimits | undefined): void {
  let seed = 99;
  // The high bits of a linear congruential generator: its low bits cycle too soon.
  const next = (n: number) => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return Math.floor((seed / 2 ** 32) * n);
  };
  let compactions = 0;
  let conflicts = 0;
  withStore((openDefault, path) => {
    const open = () =>
      limits === undefined ? openDefault() : new SqliteLogStore(openDatabase(path), path, limits);
    let store = open();
    const model = new MemoryLogStore();
    const groups = 4;
    const last = new Array<number>(groups).fill(0);
    const first = new Array<number>(groups).fill(1); // first index still stored
    let term = 1;
    for (let step = 0; step < 3_000; step++) {
      const action = next(100);
      if (action < 80) {
        // One save across several groups; now and then an append below the end (a conflict).
        const writes = [];
        for (let group = 0; group < groups; group++) {
          // Group 3 goes quiet halfway: its rows must not pin the table's front for ever.
          if (next(3) === 0 || (group === 3 && step > 1_500)) continue;
          const from = next(8) === 0 && last[group]! >= first[group]!
            ? Math.max(first[group]!, last[group]! - next(4))
            : last[group]! + 1;
          if (from <= last[group]!) conflicts += 1;
          if (next(6) === 0) term += 1;
          const entries = Array.from({ length: 1 + next(3) }, (_, i) => ({
            term,
            index: from + i,
            data: bytes(group, step & 0xff, i),
          }));
          last[group] = from + entries.length - 1;
          writes.push({ group, entries, hardState: { term, vote: "a", commit: from - 1 } });
        }
        store.save(writes);
        model.save(writes);
      } else if (action < 90) {
        // A local snapshot, then compaction behind it (never past it), as the host does.
        const group = next(groups);
        if (last[group]! < first[group]!) continue;
        const index = first[group]! + next(last[group]! - first[group]! + 1);
        const snapshot = { metadata: { index, term, voters: ["a"] }, data: bytes(1) };
        store.saveSnapshot(group, snapshot);
        model.saveSnapshot(group, snapshot);
        const through = index - next(3);
        if (through < first[group]!) continue;
        store.compact(group, through);
        model.compact(group, through);
        first[group] = through + 1;
        compactions += 1;
      } else if (action < 95) {
        // A snapshot received from a leader replaces the group's log.
        const group = next(groups);
        const index = last[group]! + 1 + next(5);
        const snapshot = { metadata: { index, term, voters: ["a"] }, data: bytes(step & 0xff) };
        const write = { group, entries: [], snapshot };
        store.save([write]);
        model.save([write]);
        last[group] = index;
        first[group] = index + 1;
      } else {
        store.close();
        store = open();
      }
    }
    store.close();
    store = open();
    for (let group = 0; group < groups; group++) {
      const ours = store.load(group);
      const theirs = model.load(group);
      expect(ours.entries.map((e) => [e.index, e.term, [...e.data]])).toEqual(
        theirs.entries.map((e) => [e.index, e.term, [...e.data]]),
      );
      expect(ours.hardState).toEqual(theirs.hardState);
      expect(ours.snapshot?.metadata).toEqual(theirs.snapshot?.metadata);
    }
    // Garbage goes: after some writes with nothing new, the table holds the rows still
    // needed and at most `relocateAfterRows` garbage rows behind the front.
    for (let i = 0; i < 1_000; i++) store.save([]);
    store.close();
    const db = openDatabase(path);
    const rows = db.prepare("SELECT COUNT(*) AS n FROM log").get() as { n: number };
    db.close();
    const own = last.map((l, group) => Math.max(0, l - first[group]! + 1));
    const needed = own.reduce((a, b) => a + b, 0);
    expect(rows.n).toBeGreaterThanOrEqual(needed);
    expect(rows.n).toBeLessThanOrEqual(needed + (limits?.relocateAfterRows ?? 200_000));
  });
  expect(compactions).toBeGreaterThan(100);
  expect(conflicts).toBeGreaterThan(100);
}

test("incarnation() reads the count of starts without counting one", () => {
  withStore((open) => {
    const store = open();
    expect(store.incarnation()).toBe(0);
    expect(store.nextIncarnation()).toBe(1);
    expect(store.nextIncarnation()).toBe(2);
    expect(store.incarnation()).toBe(2);
    store.close();
    const reopened = open();
    expect(reopened.incarnation()).toBe(2);
    expect(reopened.nextIncarnation()).toBe(3);
    reopened.close();
  });
});

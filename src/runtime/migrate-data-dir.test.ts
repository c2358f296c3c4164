import { afterEach, expect, test } from "bun:test";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../adapters/bun/sqlite.ts";
import { NodeFileSystem } from "../adapters/node-file-system.ts";
import { SqliteLogStore } from "../adapters/sqlite-log-store.ts";
import type { GroupState } from "../ports/log-store.ts";
import type { Entry } from "../raft/types.ts";
import { LogEngine } from "../storage/log-engine.ts";
import { legacyDatabaseName, migrateDataDir, migratingDirName } from "./migrate-data-dir.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "kahuna-migrate-"));
  dirs.push(dir);
  return dir;
}

function openOld(dir: string): SqliteLogStore {
  const path = join(dir, legacyDatabaseName);
  return new SqliteLogStore(openDatabase(path), path);
}

function entries(first: number, last: number, term: number): Entry[] {
  const made: Entry[] = [];
  for (let index = first; index <= last; index++) {
    made.push({ index, term, data: new TextEncoder().encode(`entry ${index}`) });
  }
  return made;
}

const identity = { nodeId: "2", voters: ["1", "2", "3"], groups: 3 };
const nodeState = {
  storeId: "0123456789abcdef",
  peerStores: { "1": "0/fedcba9876543210" },
  recovering: [],
};

/**
 * An old data directory as a node of kahuna 0.2 leaves it: two starts, a partition with
 * entries, one whose log a leader's snapshot replaced, one that took its own snapshot and
 * compacted behind it.
 */
function writeOldStore(dir: string): void {
  const store = openOld(dir);
  store.setIdentity(identity);
  store.setNodeState(nodeState);
  store.nextIncarnation();
  store.nextIncarnation();
  store.save([
    { group: 0, hardState: { term: 2, vote: "1", commit: 4 }, entries: entries(1, 5, 2) },
    {
      group: 1,
      snapshot: {
        metadata: { index: 10, term: 3, voters: identity.voters },
        data: new Uint8Array([1, 2, 3]),
      },
      hardState: { term: 3, vote: "3", commit: 12 },
      entries: entries(11, 12, 3),
    },
    { group: 2, hardState: { term: 1, vote: "2", commit: 8 }, entries: entries(1, 8, 1) },
  ]);
  store.saveSnapshot(2, {
    metadata: { index: 6, term: 1, voters: identity.voters },
    data: new Uint8Array([9]),
  });
  store.compact(2, 6);
  store.save([{ group: 2, entries: entries(9, 9, 1) }]);
  store.close();
}

/** What a node loads from a store at start: every partition, the identity, the node state. */
function loadAll(store: { load(group: number): GroupState }): GroupState[] {
  return [0, 1, 2].map((group) => store.load(group));
}

test("a data directory of the SQLite format is imported whole into log/, and the database removed", () => {
  const dir = dataDir();
  writeOldStore(dir);
  const before = openOld(dir);
  const expected = loadAll(before);
  before.close();

  expect(migrateDataDir(dir, openDatabase)).toEqual({
    kind: "migrated",
    partitions: 3,
    entries: 5 + 2 + 3,
    snapshots: 2,
  });
  expect(readdirSync(dir).sort()).toEqual(["log"]);
  const engine = LogEngine.open(new NodeFileSystem(join(dir, "log")));
  try {
    expect(engine.identity()).toEqual(identity);
    expect(engine.nodeState()).toEqual(nodeState);
    expect(loadAll(engine)).toEqual(expected);
    // Two starts were counted in the old store: this is the third.
    expect(engine.nextIncarnation()).toBe(3);
  } finally {
    engine.close();
  }
  // Nothing is left to migrate on the next start.
  expect(migrateDataDir(dir, openDatabase)).toEqual({ kind: "none" });
});

test("a start after a crash between the rename and the removal removes the database only", () => {
  const dir = dataDir();
  writeOldStore(dir);
  const copy = dataDir();
  writeOldStore(copy);
  migrateDataDir(copy, openDatabase);
  // The state such a crash leaves: log/ complete, the database still there.
  cpSync(join(copy, "log"), join(dir, "log"), { recursive: true });
  const logBefore = readdirSync(join(dir, "log")).sort();

  expect(migrateDataDir(dir, openDatabase)).toEqual({ kind: "leftoverRemoved" });
  expect(readdirSync(dir).sort()).toEqual(["log"]);
  expect(readdirSync(join(dir, "log")).sort()).toEqual(logBefore);
});

test("a log-migrating/ left by a crash before the rename is replaced by a new import", () => {
  const dir = dataDir();
  writeOldStore(dir);
  mkdirSync(join(dir, migratingDirName));
  writeFileSync(join(dir, migratingDirName, "00000000000000000001.log"), "half a segment");

  expect(migrateDataDir(dir, openDatabase).kind).toBe("migrated");
  expect(existsSync(join(dir, migratingDirName))).toBe(false);
  const engine = LogEngine.open(new NodeFileSystem(join(dir, "log")));
  try {
    expect(engine.identity()).toEqual(identity);
    expect(engine.load(0).entries.length).toBe(5);
  } finally {
    engine.close();
  }
});

test("an old store that never got an identity carries its node state and starts over", () => {
  const dir = dataDir();
  const store = openOld(dir);
  store.setNodeState(nodeState);
  store.nextIncarnation();
  store.close();

  expect(migrateDataDir(dir, openDatabase)).toEqual({
    kind: "migrated",
    partitions: 0,
    entries: 0,
    snapshots: 0,
  });
  const engine = LogEngine.open(new NodeFileSystem(join(dir, "log")));
  try {
    expect(engine.identity()).toBeUndefined();
    expect(engine.nodeState()).toEqual(nodeState);
    expect(engine.nextIncarnation()).toBe(2);
  } finally {
    engine.close();
  }
});

test("a directory without a database is left alone", () => {
  const dir = dataDir();
  expect(migrateDataDir(dir, openDatabase)).toEqual({ kind: "none" });
  expect(readdirSync(dir)).toEqual([]);
});

/**
 * The migration of a data directory from the SQLite format of kahuna 0.2 (`DIR/kahuna.sqlite`,
 * SqliteLogStore) to the log engine's (`DIR/log/`, src/storage/log-engine.ts), at the first
 * start of this version. It cannot be undone: the database is removed once the log holds
 * everything it held (docs/operations.md says to back up first).
 *
 * Every step leaves a directory a restart can go on from, whatever step a crash stops:
 *
 * 1. The old store is read whole: identity, node state, count of starts, every partition's
 *    hard state, snapshot and entries (what a node loads at start).
 * 2. It is imported into a fresh `DIR/log-migrating/` (one left by a crash is removed first),
 *    durably: every file and the directory fsynced.
 * 3. `log-migrating` is renamed to `log` and `DIR` fsynced: the one atomic step. Before it the
 *    database is the node's storage; after it, the log is.
 * 4. Only then are `kahuna.sqlite` and its `-wal` and `-shm` files removed. A start that finds
 *    both `log/` and the database (a crash between 3 and 4) removes the database.
 *
 * Invariant: nothing is written to the old store's meaning: its count of starts is read, not
 * counted on, so the next start counts on from the same number it would have.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { NodeFileSystem } from "../adapters/node-file-system.ts";
import { type SqlDatabase, SqliteLogStore } from "../adapters/sqlite-log-store.ts";
import { assert } from "../assert.ts";
import type { GroupState } from "../ports/log-store.ts";
import { LogEngine } from "../storage/log-engine.ts";
import { logDirName, syncDirectory } from "./data-dir.ts";

export const legacyDatabaseName = "kahuna.sqlite";
export const migratingDirName = "log-migrating";

export type Migration =
  /** No database: nothing to do (a new directory, or one already migrated). */
  | { readonly kind: "none" }
  /** The database was copied into `log/` and removed. */
  | {
    readonly kind: "migrated";
    readonly partitions: number;
    readonly entries: number;
    readonly snapshots: number;
  }
  /** `log/` was already there (a crash after step 3): the database left behind was removed. */
  | { readonly kind: "leftoverRemoved" };

/**
 * Migrates `dataDir` if it holds a database of the SQLite format. The caller holds the data
 * directory's lock. `openDatabase` is the runtime's SQLite (bun:sqlite or node:sqlite).
 */
export function migrateDataDir(
  dataDir: string,
  openDatabase: (path: string) => SqlDatabase,
): Migration {
  const database = join(dataDir, legacyDatabaseName);
  if (!existsSync(database)) return { kind: "none" };
  const log = join(dataDir, logDirName);
  if (existsSync(log)) {
    removeDatabase(dataDir);
    return { kind: "leftoverRemoved" };
  }
  const image = readLegacyStore(database, openDatabase);
  assert(image.groups.size === (image.identity?.groups ?? 0), "every partition was read");
  const staging = join(dataDir, migratingDirName);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging);
  LogEngine.importState(new NodeFileSystem(staging), image);
  assert(!existsSync(log), () => `nothing made ${log} while the migration ran`);
  renameSync(staging, log);
  syncDirectory(dataDir);
  removeDatabase(dataDir);
  let entries = 0;
  let snapshots = 0;
  for (const state of image.groups.values()) {
    entries += state.entries.length;
    if (state.snapshot !== undefined) snapshots += 1;
  }
  return { kind: "migrated", partitions: image.groups.size, entries, snapshots };
}

type Image = Parameters<typeof LogEngine.importState>[1] & {
  readonly groups: Map<number, GroupState>;
};

/**
 * Everything the old store holds. Without an identity the old node never got past its first
 * start's checks, so it holds no partition's state: what there is (node state, starts) is
 * taken over, and the node starts as new.
 */
function readLegacyStore(path: string, openDatabase: (path: string) => SqlDatabase): Image {
  const store = new SqliteLogStore(openDatabase(path), path);
  try {
    const identity = store.identity();
    const groups = new Map<number, GroupState>();
    for (let group = 0; group < (identity?.groups ?? 0); group++) {
      groups.set(group, store.load(group));
    }
    return { identity, nodeState: store.nodeState(), incarnation: store.incarnation(), groups };
  } finally {
    store.close();
  }
}

/** Removes the database and its WAL files, durably. */
function removeDatabase(dataDir: string): void {
  const database = join(dataDir, legacyDatabaseName);
  for (const path of [`${database}-wal`, `${database}-shm`, database]) {
    rmSync(path, { force: true });
  }
  syncDirectory(dataDir);
}

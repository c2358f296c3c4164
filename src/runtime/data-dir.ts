/**
 * The data directory's layout (docs/operations.md, "The data directory"):
 *
 *     DIR/LOCK, DIR/LOCK.pid   one process per directory (data-dir-lock.ts)
 *     DIR/log/                 the log engine's files (src/storage/log-engine.ts): segments
 *                              NNNN….log and snapshot files snap-*.snap
 *
 * and, only for a moment, what the migration from the SQLite format of kahuna 0.2 leaves
 * (migrate-data-dir.ts): DIR/kahuna.sqlite (-wal, -shm), DIR/log-migrating/.
 *
 * Invariant: a directory this code creates is durable (its parent fsynced) before anything is
 * written in it, so a crash never loses a directory whose files were synced and acknowledged.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync } from "node:fs";
import { dirname, join } from "node:path";
import { NodeFileSystem } from "../adapters/node-file-system.ts";

export const logDirName = "log";

/** `path` (and any missing parent) created if missing, its entry made durable. */
export function makeDirectoryDurable(path: string): void {
  if (existsSync(path)) return;
  // Only the parent of the deepest new directory is synced: the usual case is a data
  // directory, or its log/, made inside one that exists.
  mkdirSync(path, { recursive: true });
  syncDirectory(dirname(path));
}

/** fsync of a directory: the creates, renames and removes in it so far are durable. */
export function syncDirectory(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The file port over `dataDir/log`, which is created (durably) if missing. */
export function openLogDirectory(dataDir: string): NodeFileSystem {
  const path = join(dataDir, logDirName);
  makeDirectoryDurable(path);
  return new NodeFileSystem(path);
}

/**
 * The engine's messages say `--data-dir DIR` in the command they suggest: `dataDir` instead,
 * quoted for a shell if it needs to be, so the command can be pasted as it is.
 */
export function withDataDir(message: string, dataDir: string): string {
  const word = /^[A-Za-z0-9_./:@%+=,-]+$/.test(dataDir)
    ? dataDir
    : `'${dataDir.replaceAll("'", `'\\''`)}'`;
  // A function, so that no `$` in the directory's name is read as a replacement pattern.
  return message.replaceAll("--data-dir DIR", () => `--data-dir ${word}`);
}

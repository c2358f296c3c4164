/**
 * One process per data directory. Two nodes writing one log would each believe they own it:
 * the second could grant a lock the first already granted.
 *
 * The lock is an OS file lock, so it is gone the moment its process ends, however it ends
 * (kill -9 included): `DIR/LOCK` is an empty SQLite database on which the node holds an
 * open `BEGIN IMMEDIATE` transaction. SQLite takes it as a POSIX `fcntl` write lock, the
 * same under bun:sqlite (compiled binary too) and Deno's node:sqlite, so one mechanism
 * serves both runtimes without FFI; a second process's `BEGIN IMMEDIATE` fails at once
 * (no busy timeout). The holder then writes its pid to `DIR/LOCK.pid`, only so that the
 * refusal can name it: the pid file is never what decides.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import type { SqlDatabase } from "../adapters/sqlite-log-store.ts";

export type DataDirLock = { release(): void };

export type LockAttempt =
  | { readonly kind: "locked"; readonly lock: DataDirLock }
  /** Another process holds it; `pid` is what its pid file says, if it is readable. */
  | { readonly kind: "busy"; readonly pid: number | undefined };

export const lockFileName = "LOCK";
export const pidFileName = "LOCK.pid";

/** Takes the lock on `dir` (which must exist), or says who holds it. */
export function lockDataDir(
  dir: string,
  openDatabase: (path: string) => SqlDatabase,
): LockAttempt {
  const db = openDatabase(join(dir, lockFileName));
  try {
    db.exec("BEGIN IMMEDIATE");
  } catch (error) {
    db.close();
    if (/locked|busy/i.test(String(error))) return { kind: "busy", pid: holderPid(dir) };
    throw error;
  }
  writeFileSync(join(dir, pidFileName), `${process.pid}\n`);
  let released = false;
  return {
    kind: "locked",
    lock: {
      release() {
        if (released) return;
        released = true;
        // Closing the connection drops the transaction and with it the OS lock.
        db.close();
      },
    },
  };
}

/**
 * Why a command cannot use `dir`: another process holds its lock (`pid` as `LockAttempt`
 * gives it). `kahuna serve` and `kahuna repair` refuse with the same words.
 */
export function dataDirBusyMessage(dir: string, pid: number | undefined): string {
  const holder = pid === undefined ? "another process" : `process ${pid}`;
  return `the data directory ${dir} is in use by ${holder}, another kahuna node; ` +
    `stop it first, or give this node its own --data-dir`;
}

function holderPid(dir: string): number | undefined {
  try {
    const text = readFileSync(join(dir, pidFileName), "utf8").trim();
    return /^[0-9]{1,10}$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

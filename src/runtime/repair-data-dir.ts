/**
 * `kahuna repair --data-dir DIR` (docs/reliability.md, "A damaged log"): the log engine's
 * repair on `DIR/log`, for a node that refuses to start because records of some partitions are
 * damaged. Their logs are dropped and the partitions marked recovering, and the node gets a new
 * store id, so that when it starts its peers forget what they knew of its logs and the leaders
 * re-seed it, as they re-seed a node that lost its storage.
 *
 * Invariants: the data directory's lock is held for the whole repair, so no node runs on the
 * log while it is rewritten (a node holding it is refused with `kahuna serve`'s words); nothing
 * is created in a directory that is not already a data directory with a log.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { NodeFileSystem } from "../adapters/node-file-system.ts";
import type { SqlDatabase } from "../adapters/sqlite-log-store.ts";
import { FileSystemError } from "../ports/file-system.ts";
import { LogEngine, StorageCorruptError } from "../storage/log-engine.ts";
import { dataDirBusyMessage, lockDataDir } from "./data-dir-lock.ts";
import { logDirName, withDataDir } from "./data-dir.ts";
import { legacyDatabaseName } from "./migrate-data-dir.ts";

export type RepairOutcome =
  /** Nothing is damaged: nothing was changed. */
  | { readonly kind: "sound" }
  /**
   * The logs of `dropped` were dropped, and those partitions are recovering. `identity` is the
   * node and its cluster as the repaired log records them (with one voter, no leader can
   * re-seed them); undefined in a log of a node that never finished its first start.
   */
  | {
    readonly kind: "repaired";
    readonly dropped: readonly number[];
    readonly identity: { readonly nodeId: string; readonly voters: readonly string[] } | undefined;
  }
  /** The damage is not of the kind repair mends, or the directory cannot be repaired. */
  | { readonly kind: "failed"; readonly message: string };

export function repairDataDir(
  dataDir: string,
  openDatabase: (path: string) => SqlDatabase,
): RepairOutcome {
  const problem = layoutProblem(dataDir);
  if (problem !== undefined) return { kind: "failed", message: problem };
  let attempt;
  try {
    attempt = lockDataDir(dataDir, openDatabase);
  } catch (error) {
    return { kind: "failed", message: `cannot lock the data directory ${dataDir}: ${error}` };
  }
  if (attempt.kind === "busy") {
    return { kind: "failed", message: dataDirBusyMessage(dataDir, attempt.pid) };
  }
  try {
    return repairLocked(dataDir);
  } finally {
    attempt.lock.release();
  }
}

/** Why `dataDir` is not a data directory with a log to repair, or undefined. */
function layoutProblem(dataDir: string): string | undefined {
  if (!existsSync(dataDir)) return `the data directory ${dataDir} does not exist`;
  if (!statSync(dataDir).isDirectory()) return `${dataDir} is not a directory`;
  const log = join(dataDir, logDirName);
  if (existsSync(log)) return undefined;
  if (existsSync(join(dataDir, legacyDatabaseName))) {
    return `the data directory ${dataDir} holds ${legacyDatabaseName}, the format of kahuna 0.2, ` +
      `and no ${logDirName}/ yet; repair reads only the log of this version. Start the node ` +
      `once to migrate it (docs/operations.md, "The data directory")`;
  }
  return `the data directory ${dataDir} has no log (${log}): there is nothing to repair. Is ` +
    `it the directory the node was started with (--data-dir)?`;
}

function repairLocked(dataDir: string): RepairOutcome {
  const fs = new NodeFileSystem(join(dataDir, logDirName));
  let dropped: number[];
  try {
    dropped = LogEngine.repair(fs, newStoreId()).dropped;
  } catch (error) {
    if (error instanceof StorageCorruptError) {
      return { kind: "failed", message: unmendable(dataDir, error) };
    }
    const code: unknown = (error as { code?: unknown } | null)?.code;
    if (!(error instanceof FileSystemError) && typeof code !== "string") throw error;
    return {
      kind: "failed",
      message: `cannot repair the log in ${dataDir}: ${(error as Error).message}. Fix that ` +
        `and run the repair again`,
    };
  }
  if (dropped.length === 0) return { kind: "sound" };
  // The repaired log opens; it is read once more only to say whose partitions these are.
  const engine = LogEngine.open(fs);
  try {
    const identity = engine.identity();
    return {
      kind: "repaired",
      dropped,
      identity: identity === undefined
        ? undefined
        : { nodeId: identity.nodeId, voters: identity.voters },
    };
  } finally {
    engine.close();
  }
}

/**
 * Damage repair does not mend, and what to do instead. The engine's own words for it end
 * with a hint to run this command, which is dropped here: it was just run.
 */
function unmendable(dataDir: string, error: StorageCorruptError): string {
  const why = withDataDir(error.message.replace(/\s*Run `kahuna repair[^]*$/, ""), dataDir);
  const instead = /data directory aside/i.test(why) ? "" : " Move the data directory aside " +
    "and start the node empty, as a node that lost its storage: its peers re-seed every " +
    'partition (docs/reliability.md, "A node that lost its storage").';
  return `cannot repair the log in ${dataDir}: ${why}${instead}`;
}

/**
 * A store id for the repaired log, drawn as a node's first start draws one (64 random bits, 16
 * hex digits): under it, the peers forget what they knew of this node's logs and re-seed it.
 */
function newStoreId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

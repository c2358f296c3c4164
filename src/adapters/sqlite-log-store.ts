/**
 * The LogStore port over SQLite (DESIGN.md §5), shared by the Bun (bun:sqlite) and Deno
 * (node:sqlite) adapters, which differ only in how they open the database. One database per
 * node, WAL mode, synchronous=FULL so every committed transaction is fsynced.
 *
 * Everything read back from disk is validated here, at the boundary: a corrupt or foreign
 * file stops the node with a message that names the table and row, never a crash deeper in.
 */
import type { GroupState, GroupWrite, LogStore } from "../ports/log-store.ts";
import type { Entry, HardState, NodeId, Snapshot } from "../raft/types.ts";

/** The part of bun:sqlite's Database and node:sqlite's DatabaseSync that we use. */
export type SqlStatement = {
  run(...params: SqlValue[]): unknown;
  get(...params: SqlValue[]): unknown;
  all(...params: SqlValue[]): unknown[];
};
export type SqlValue = string | number | bigint | Uint8Array | null;
export type SqlDatabase = {
  exec(sql: string): unknown;
  prepare(sql: string): SqlStatement;
  close(): unknown;
};

export class StorageCorruptError extends Error {
  override name = "StorageCorruptError";
}

const schemaVersion = 1;

const schema = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS entries (
    grp INTEGER NOT NULL, idx INTEGER NOT NULL, term INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (grp, idx)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS hard_state (
    grp INTEGER PRIMARY KEY, term INTEGER NOT NULL, vote TEXT NOT NULL, commit_index INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS snapshots (
    grp INTEGER PRIMARY KEY, idx INTEGER NOT NULL, term INTEGER NOT NULL,
    voters TEXT NOT NULL, data BLOB NOT NULL);
`;

export class SqliteLogStore implements LogStore {
  private readonly insertEntry: SqlStatement;
  private readonly deleteFrom: SqlStatement;
  private readonly deleteThrough: SqlStatement;
  private readonly deleteAll: SqlStatement;
  private readonly upsertHardState: SqlStatement;
  private readonly upsertSnapshot: SqlStatement;

  constructor(private readonly db: SqlDatabase, private readonly path: string) {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    db.exec(schema);
    this.checkSchemaVersion();
    this.insertEntry = db.prepare("INSERT INTO entries (grp, idx, term, data) VALUES (?, ?, ?, ?)");
    this.deleteFrom = db.prepare("DELETE FROM entries WHERE grp = ? AND idx >= ?");
    this.deleteThrough = db.prepare("DELETE FROM entries WHERE grp = ? AND idx <= ?");
    this.deleteAll = db.prepare("DELETE FROM entries WHERE grp = ?");
    this.upsertHardState = db.prepare(
      "INSERT OR REPLACE INTO hard_state (grp, term, vote, commit_index) VALUES (?, ?, ?, ?)",
    );
    this.upsertSnapshot = db.prepare(
      "INSERT OR REPLACE INTO snapshots (grp, idx, term, voters, data) VALUES (?, ?, ?, ?, ?)",
    );
  }

  save(writes: readonly GroupWrite[], _sync: boolean): void {
    // synchronous=FULL fsyncs every commit. Writes without a sync requirement are rare (a
    // commit index that moved alone) and cheap, so they take the same path.
    this.db.exec("BEGIN IMMEDIATE");
    try {
      for (const write of writes) this.saveGroup(write);
      this.db.exec("COMMIT");
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
  }

  private saveGroup(write: GroupWrite): void {
    const { group, snapshot, entries, hardState } = write;
    if (snapshot !== undefined) {
      this.writeSnapshot(group, snapshot);
      this.deleteAll.run(group);
    }
    const first = entries[0];
    if (first !== undefined) {
      this.deleteFrom.run(group, first.index);
      for (const entry of entries) this.insertEntry.run(group, entry.index, entry.term, entry.data);
    }
    if (hardState !== undefined) {
      this.upsertHardState.run(group, hardState.term, hardState.vote, hardState.commit);
    }
  }

  saveSnapshot(group: number, snapshot: Snapshot): void {
    this.writeSnapshot(group, snapshot);
  }

  private writeSnapshot(group: number, snapshot: Snapshot): void {
    const { index, term, voters } = snapshot.metadata;
    this.upsertSnapshot.run(group, index, term, JSON.stringify(voters), snapshot.data);
  }

  compact(group: number, throughIndex: number): void {
    this.deleteThrough.run(group, throughIndex);
  }

  load(group: number): GroupState {
    const snapshot = this.loadSnapshot(group);
    const hardState = this.loadHardState(group);
    const after = snapshot === undefined ? 0 : snapshot.metadata.index;
    const rows = this.db
      .prepare("SELECT idx, term, data FROM entries WHERE grp = ? AND idx > ? ORDER BY idx")
      .all(group, after);
    const entries: Entry[] = [];
    let expected = snapshot === undefined ? undefined : after + 1;
    for (const row of rows) {
      const entry = this.entryFromRow(group, row);
      if (expected !== undefined && entry.index !== expected) {
        throw this.corrupt(
          `group ${group}: log has a gap at index ${expected} (next ${entry.index})`,
        );
      }
      expected = entry.index + 1;
      entries.push(entry);
    }
    return { hardState, snapshot, entries };
  }

  identity(): { nodeId: NodeId; voters: readonly NodeId[]; groups: number } | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'identity'").get();
    if (row === undefined || row === null) return undefined;
    const value = parseJson((row as { value: unknown }).value);
    if (
      typeof value !== "object" || value === null ||
      typeof (value as { nodeId?: unknown }).nodeId !== "string" ||
      !isStringArray((value as { voters?: unknown }).voters) ||
      !isNonNegativeInteger((value as { groups?: unknown }).groups)
    ) {
      throw this.corrupt("meta.identity is not {nodeId, voters, groups}");
    }
    return value as { nodeId: NodeId; voters: NodeId[]; groups: number };
  }

  setIdentity(identity: { nodeId: NodeId; voters: readonly NodeId[]; groups: number }): void {
    this.db
      .prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('identity', ?)")
      .run(JSON.stringify(identity));
  }

  nextIncarnation(): number {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'incarnation'").get() as
      | { value: unknown }
      | undefined
      | null;
    const previous = row === undefined || row === null ? 0 : Number(row.value);
    if (!isNonNegativeInteger(previous)) throw this.corrupt("meta.incarnation is not a count");
    const next = previous + 1;
    this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('incarnation', ?)").run(
      String(next),
    );
    return next;
  }

  close(): void {
    this.db.close();
  }

  private checkSchemaVersion(): void {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as
      | { value: unknown }
      | undefined
      | null;
    if (row === undefined || row === null) {
      this.db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(
        String(schemaVersion),
      );
      return;
    }
    if (row.value !== String(schemaVersion)) {
      throw this.corrupt(`schema version ${String(row.value)}, this kahuna reads ${schemaVersion}`);
    }
  }

  private loadSnapshot(group: number): Snapshot | undefined {
    const row = this.db
      .prepare("SELECT idx, term, voters, data FROM snapshots WHERE grp = ?")
      .get(group) as Record<string, unknown> | undefined | null;
    if (row === undefined || row === null) return undefined;
    const voters = parseJson(row.voters);
    if (
      !isNonNegativeInteger(row.idx) || !isNonNegativeInteger(row.term) ||
      !isStringArray(voters) || !(row.data instanceof Uint8Array)
    ) {
      throw this.corrupt(`snapshots row of group ${group} is malformed`);
    }
    return { metadata: { index: row.idx, term: row.term, voters }, data: row.data };
  }

  private loadHardState(group: number): HardState {
    const row = this.db
      .prepare("SELECT term, vote, commit_index FROM hard_state WHERE grp = ?")
      .get(group) as Record<string, unknown> | undefined | null;
    if (row === undefined || row === null) return { term: 0, vote: "", commit: 0 };
    if (
      !isNonNegativeInteger(row.term) || typeof row.vote !== "string" ||
      !isNonNegativeInteger(row.commit_index)
    ) {
      throw this.corrupt(`hard_state row of group ${group} is malformed`);
    }
    return { term: row.term, vote: row.vote, commit: row.commit_index };
  }

  private entryFromRow(group: number, row: unknown): Entry {
    const { idx, term, data } = row as Record<string, unknown>;
    if (
      !isNonNegativeInteger(idx) || !isNonNegativeInteger(term) || !(data instanceof Uint8Array)
    ) {
      throw this.corrupt(`entries row of group ${group} is malformed`);
    }
    // Copy: drivers may reuse the buffer behind a BLOB.
    return { index: idx, term, data: new Uint8Array(data) };
  }

  private corrupt(detail: string): StorageCorruptError {
    return new StorageCorruptError(
      `the data directory's database ${this.path} is corrupt or from another program: ${detail}. ` +
        "Restore it from a replica or a backup, or move it away to start this node empty.",
    );
  }
}

function parseJson(value: unknown): unknown {
  if (typeof value !== "string") return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

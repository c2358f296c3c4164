/**
 * The LogStore port over SQLite (DESIGN.md §5), shared by the Bun (bun:sqlite) and Deno
 * (node:sqlite) adapters, which differ only in how they open the database. One database per
 * node, WAL mode, synchronous=FULL so every committed transaction is fsynced.
 *
 * Entries of every group go into one table in the order they are written (`seq`, the
 * rowid), so a commit that carries entries of ten groups appends to one end of one B-tree:
 * it dirties a page or two, not one page per group as a table keyed by (group, index) did,
 * and a commit cost about a third of what it did (docs/performance.md). Where each group's
 * entries lie is kept in memory as runs of consecutive seqs, rebuilt from the table at open;
 * truncating a conflicting suffix or compacting a prefix deletes seq ranges.
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

/** 1: entries keyed by (grp, idx). 2: one `log` table in write order (read and migrated). */
const schemaVersion = 2;

const schema = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY, grp INTEGER NOT NULL, idx INTEGER NOT NULL, term INTEGER NOT NULL,
    data BLOB NOT NULL);
  CREATE TABLE IF NOT EXISTS hard_state (
    grp INTEGER PRIMARY KEY, term INTEGER NOT NULL, vote TEXT NOT NULL, commit_index INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS snapshots (
    grp INTEGER PRIMARY KEY, idx INTEGER NOT NULL, term INTEGER NOT NULL,
    voters TEXT NOT NULL, data BLOB NOT NULL);
`;

/** Entries `index .. index + count - 1` of a group, stored at seqs `seq .. seq + count - 1`. */
type Run = { index: number; seq: number; count: number };

export class SqliteLogStore implements LogStore {
  private readonly insertEntry: SqlStatement;
  private readonly deleteSeqs: SqlStatement;
  private readonly upsertHardState: SqlStatement;
  private readonly upsertSnapshot: SqlStatement;
  /** Each group's stored entries, in index order (which is also seq order). */
  private readonly runs = new Map<number, Run[]>();
  /** Entries read at open, for `load` until the first write (the host loads every group first). */
  private loaded: Map<number, Entry[]> | undefined = new Map();
  private nextSeq = 1;
  /** Set when a write failed: the in-memory runs may no longer match the disk. */
  private failure: unknown;

  constructor(private readonly db: SqlDatabase, private readonly path: string) {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    this.migrate();
    db.exec(schema);
    this.checkSchemaVersion();
    this.insertEntry = db.prepare(
      "INSERT INTO log (seq, grp, idx, term, data) VALUES (?, ?, ?, ?, ?)",
    );
    this.deleteSeqs = db.prepare("DELETE FROM log WHERE seq >= ? AND seq <= ?");
    this.upsertHardState = db.prepare(
      "INSERT OR REPLACE INTO hard_state (grp, term, vote, commit_index) VALUES (?, ?, ?, ?)",
    );
    this.upsertSnapshot = db.prepare(
      "INSERT OR REPLACE INTO snapshots (grp, idx, term, voters, data) VALUES (?, ?, ?, ?, ?)",
    );
    this.readLog();
  }

  save(writes: readonly GroupWrite[], _sync: boolean): void {
    // synchronous=FULL fsyncs every commit. Writes without a sync requirement are rare (a
    // commit index that moved alone) and cheap, so they take the same path.
    this.transaction(() => {
      for (const write of writes) this.saveGroup(write);
    });
  }

  private saveGroup(write: GroupWrite): void {
    const { group, snapshot, entries, hardState } = write;
    if (snapshot !== undefined) {
      this.writeSnapshot(group, snapshot);
      this.dropFrom(group, 0);
    }
    const first = entries[0];
    if (first !== undefined) {
      this.dropFrom(group, first.index);
      const runs = this.runsOf(group);
      const last = runs.at(-1);
      if (last !== undefined && last.seq + last.count === this.nextSeq) {
        last.count += entries.length; // nothing was written since: the run goes on
      } else {
        runs.push({ index: first.index, seq: this.nextSeq, count: entries.length });
      }
      for (const entry of entries) {
        this.insertEntry.run(this.nextSeq++, group, entry.index, entry.term, entry.data);
      }
    }
    if (hardState !== undefined) {
      this.upsertHardState.run(group, hardState.term, hardState.vote, hardState.commit);
    }
  }

  saveSnapshot(group: number, snapshot: Snapshot): void {
    this.transaction(() => this.writeSnapshot(group, snapshot));
  }

  private writeSnapshot(group: number, snapshot: Snapshot): void {
    const { index, term, voters } = snapshot.metadata;
    this.upsertSnapshot.run(group, index, term, JSON.stringify(voters), snapshot.data);
  }

  compact(group: number, throughIndex: number): void {
    this.transaction(() => this.dropThrough(group, throughIndex));
  }

  /** Deletes the group's entries with index >= `index`. */
  private dropFrom(group: number, index: number): void {
    const runs = this.runsOf(group);
    for (let run = runs.at(-1); run !== undefined; run = runs.at(-1)) {
      const end = run.index + run.count; // one past the run's last index
      if (end <= index) return;
      const keep = Math.max(0, index - run.index);
      this.deleteSeqs.run(run.seq + keep, run.seq + run.count - 1);
      if (keep > 0) {
        run.count = keep;
        return;
      }
      runs.pop();
    }
  }

  /** Deletes the group's entries with index <= `index`. */
  private dropThrough(group: number, index: number): void {
    const runs = this.runsOf(group);
    let whole = 0;
    for (const run of runs) {
      const drop = Math.min(run.count, index - run.index + 1);
      if (drop <= 0) break;
      this.deleteSeqs.run(run.seq, run.seq + drop - 1);
      if (drop < run.count) {
        run.index += drop;
        run.seq += drop;
        run.count -= drop;
        break;
      }
      whole += 1;
    }
    runs.splice(0, whole);
  }

  private runsOf(group: number): Run[] {
    let runs = this.runs.get(group);
    if (runs === undefined) {
      runs = [];
      this.runs.set(group, runs);
    }
    return runs;
  }

  /** One transaction; a failure leaves the store unusable (the node stops and restarts). */
  private transaction(work: () => void): void {
    if (this.failure !== undefined) throw this.failure;
    this.loaded = undefined;
    this.db.exec("BEGIN IMMEDIATE");
    try {
      work();
      this.db.exec("COMMIT");
    } catch (error) {
      this.failure = error;
      try {
        this.db.exec("ROLLBACK");
      } catch {
        // The write already failed; that error is the one to report.
      }
      throw error;
    }
  }

  load(group: number): GroupState {
    const snapshot = this.loadSnapshot(group);
    const hardState = this.loadHardState(group);
    const after = snapshot === undefined ? 0 : snapshot.metadata.index;
    const stored = this.loaded === undefined ? this.readGroup(group) : this.loaded.get(group);
    this.loaded?.delete(group);
    const entries = (stored ?? []).filter((entry) => entry.index > after);
    if (snapshot !== undefined && entries.length > 0 && entries[0]!.index !== after + 1) {
      throw this.corrupt(
        `group ${group}: log has a gap at index ${after + 1} (next ${entries[0]!.index})`,
      );
    }
    return { hardState, snapshot, entries };
  }

  /**
   * Reads the whole log once, in write order: rebuilds each group's runs and keeps its
   * entries for `load`. Within a group, indexes must go up by one from row to row.
   */
  private readLog(): void {
    const loaded = new Map<number, Entry[]>();
    this.loaded = loaded;
    const rows = this.db.prepare("SELECT seq, grp, idx, term, data FROM log ORDER BY seq").all();
    for (const row of rows) {
      const { seq, grp } = row as Record<string, unknown>;
      if (!isNonNegativeInteger(seq) || !isNonNegativeInteger(grp)) {
        throw this.corrupt("a log row has no valid seq or group");
      }
      const entry = this.entryFromRow(grp, row);
      const entries = loaded.get(grp) ?? [];
      loaded.set(grp, entries);
      this.checkNext(grp, entries.at(-1), entry);
      entries.push(entry);
      const runs = this.runsOf(grp);
      const last = runs.at(-1);
      if (last !== undefined && last.seq + last.count === seq) last.count += 1;
      else runs.push({ index: entry.index, seq, count: 1 });
      this.nextSeq = seq + 1;
    }
  }

  /** One group's entries, read again (a scan: only after writes, which tests do). */
  private readGroup(group: number): Entry[] {
    const rows = this.db.prepare("SELECT idx, term, data FROM log WHERE grp = ? ORDER BY seq")
      .all(group);
    const entries: Entry[] = [];
    for (const row of rows) {
      const entry = this.entryFromRow(group, row);
      this.checkNext(group, entries.at(-1), entry);
      entries.push(entry);
    }
    return entries;
  }

  private checkNext(group: number, previous: Entry | undefined, entry: Entry): void {
    if (previous !== undefined && entry.index !== previous.index + 1) {
      throw this.corrupt(
        `group ${group}: log has a gap at index ${previous.index + 1} (next ${entry.index})`,
      );
    }
  }

  /** A schema 1 database keeps its entries: copied into the log in index order, once. */
  private migrate(): void {
    const row = this.db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'entries'",
    ).get();
    if (row === undefined || row === null) return;
    this.db.exec("BEGIN IMMEDIATE");
    try {
      this.db.exec(schema);
      this.db.exec(
        "INSERT INTO log (grp, idx, term, data) SELECT grp, idx, term, data FROM entries " +
          "ORDER BY grp, idx",
      );
      this.db.exec("DROP TABLE entries");
      this.db.exec(`UPDATE meta SET value = '${schemaVersion}' WHERE key = 'schema'`);
      this.db.exec("COMMIT");
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
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
      throw this.corrupt(`log row of group ${group} is malformed`);
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

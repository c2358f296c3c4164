/**
 * The LogStore port over SQLite (docs/architecture.md), shared by the Bun (bun:sqlite) and Deno
 * (node:sqlite) adapters, which differ only in how they open the database. One database per
 * node, WAL mode, synchronous=FULL so every committed transaction is fsynced.
 *
 * Entries of every group go into one table in the order they are written (`seq`, the
 * rowid), so a commit that carries entries of ten groups appends to one end of one B-tree:
 * it dirties a page or two, not one page per group as a table keyed by (group, index) did,
 * and a commit cost about a third of what it did (docs/performance.md). Where each group's
 * entries lie is kept in memory as runs of consecutive seqs, rebuilt from the table at open.
 *
 * Compaction deletes nothing at once: a group's rows are spread thinly over the table, and
 * deleting them cost a page write per few rows (tens of ms per snapshot). Rows below the
 * oldest row any group still needs are garbage, and each write deletes a bounded slice of
 * them from the front of the table, which frees whole pages. A group that stops writing
 * would hold that front back forever, so once it lags too far its rows are copied to the end
 * (relocated); at open, a later copy of an index supersedes an earlier one. Truncating a
 * conflicting suffix and replacing a log by a received snapshot delete their rows at once.
 *
 * Everything read back from disk is validated here, at the boundary: a corrupt or foreign
 * file stops the node with a message that names the table and row, never a crash deeper in.
 */
import {
  emptyNodeState,
  type GroupState,
  type GroupWrite,
  type LogStore,
  type NodeState,
} from "../ports/log-store.ts";
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

export type LogGarbageLimits = {
  /** Garbage rows one write deletes at most (so no write pauses long). */
  readonly collectRowsMax: number;
  /** How far (in rows) the oldest needed row may trail the newest before it is relocated. */
  readonly relocateAfterRows: number;
};

const defaultLimits: LogGarbageLimits = { collectRowsMax: 512, relocateAfterRows: 200_000 };

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
  /** Every row with a smaller seq has been deleted. */
  private collectedBelow = 1;
  /** Entries in all runs: the rows that are not garbage. */
  private storedRows = 0;
  /** Set when a write failed: the in-memory runs may no longer match the disk. */
  private failure: unknown;

  constructor(
    private readonly db: SqlDatabase,
    private readonly path: string,
    private readonly limits: LogGarbageLimits = defaultLimits,
  ) {
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

  save(writes: readonly GroupWrite[]): void {
    // synchronous=FULL fsyncs every commit, as the contract asks of `save`. Own snapshots and
    // compactions are fsynced too, which the contract allows but does not ask.
    this.transaction(() => {
      for (const write of writes) this.saveGroup(write);
      this.collect();
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
      const end = runs.at(-1);
      // Raft appends right after what it has; rows before a jump are garbage (compacted
      // behind a snapshot before a restart), left to `collect`.
      if (end !== undefined && first.index > end.index + end.count) this.forget(runs);
      const last = runs.at(-1);
      if (last !== undefined && last.seq + last.count === this.nextSeq) {
        last.count += entries.length; // nothing was written since: the run goes on
      } else {
        runs.push({ index: first.index, seq: this.nextSeq, count: entries.length });
      }
      this.storedRows += entries.length;
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
    this.dropThrough(group, throughIndex); // the rows go later, with the garbage (collect)
  }

  /**
   * Deletes up to `collectRowsMax` garbage rows from the front of the table. When more than
   * `relocateAfterRows` garbage rows lie behind the front, where nothing can be deleted yet,
   * it first relocates the group that holds the front back (one per write, so no write
   * pauses long).
   */
  private collect(): void {
    let [oldest, laggard] = this.front();
    const garbageBehind = this.nextSeq - oldest - this.storedRows;
    if (laggard !== undefined && garbageBehind > this.limits.relocateAfterRows) {
      this.relocate(laggard);
      [oldest] = this.front();
    }
    const below = Math.min(oldest, this.collectedBelow + this.limits.collectRowsMax);
    if (below <= this.collectedBelow) return;
    this.deleteSeqs.run(this.collectedBelow, below - 1);
    this.collectedBelow = below;
  }

  /** The oldest seq any group still needs (or the next seq), and that group. */
  private front(): [number, number | undefined] {
    let oldest = this.nextSeq;
    let laggard: number | undefined;
    for (const [group, runs] of this.runs) {
      const first = runs[0];
      if (first !== undefined && first.seq < oldest) {
        oldest = first.seq;
        laggard = group;
      }
    }
    return [oldest, laggard];
  }

  /** Copies a group's rows to the end of the table, as one run; the old ones become garbage. */
  private relocate(group: number): void {
    const runs = this.runsOf(group);
    const wanted = runs.reduce((sum, run) => sum + run.count, 0);
    const first = runs[0]!;
    const last = runs.at(-1)!;
    const rows = this.db.prepare(
      "SELECT seq, idx, term, data FROM log WHERE grp = ? AND seq >= ? AND seq <= ? ORDER BY seq",
    ).all(group, first.seq, last.seq + last.count - 1) as Record<string, unknown>[];
    // The window also holds the group's garbage (copies a relocation superseded): keep the
    // rows inside its runs, walking both in seq order.
    const entries: Entry[] = [];
    let at = 0;
    for (const row of rows) {
      const seq = row["seq"] as number;
      while (at < runs.length && runs[at]!.seq + runs[at]!.count <= seq) at += 1;
      if (at < runs.length && seq >= runs[at]!.seq) entries.push(this.entryFromRow(group, row));
    }
    if (
      entries.length !== wanted ||
      entries.some((entry, i) => entry.index !== first.index + i)
    ) {
      throw this.corrupt(`group ${group}: ${entries.length} of its ${wanted} log rows were found`);
    }
    const seq = this.nextSeq;
    for (const entry of entries) {
      this.insertEntry.run(this.nextSeq++, group, entry.index, entry.term, entry.data);
    }
    runs.splice(0, runs.length, { index: first.index, seq, count: entries.length });
  }

  /** Deletes the group's entries with index >= `index`. */
  private dropFrom(group: number, index: number): void {
    for (const [from, to] of this.truncateRuns(this.runsOf(group), index)) {
      this.deleteSeqs.run(from, to);
    }
  }

  /** Drops entries with index >= `index` from `runs`; returns the seq ranges they had. */
  private truncateRuns(runs: Run[], index: number): [number, number][] {
    const dropped: [number, number][] = [];
    for (let run = runs.at(-1); run !== undefined; run = runs.at(-1)) {
      const end = run.index + run.count; // one past the run's last index
      if (end <= index) break;
      const keep = Math.max(0, index - run.index);
      dropped.push([run.seq + keep, run.seq + run.count - 1]);
      this.storedRows -= run.count - keep;
      if (keep > 0) {
        run.count = keep;
        break;
      }
      runs.pop();
    }
    return dropped;
  }

  /** Forgets the group's entries with index <= `index`; `collect` deletes their rows later. */
  private dropThrough(group: number, index: number): void {
    const runs = this.runsOf(group);
    let whole = 0;
    for (const run of runs) {
      const drop = Math.min(run.count, index - run.index + 1);
      if (drop <= 0) break;
      this.storedRows -= drop;
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

  /** Makes all of a group's rows garbage. */
  private forget(runs: Run[]): void {
    for (const run of runs) this.storedRows -= run.count;
    runs.length = 0;
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
    // Rows at or behind the snapshot are not loaded, so nothing will ask for them again:
    // garbage, for `collect`.
    this.dropThrough(group, after);
    const entries = (stored ?? []).filter((entry) => entry.index > after);
    // A log starts at 1, or right after the snapshot it was compacted behind.
    if (entries.length > 0 && entries[0]!.index !== after + 1) {
      throw this.corrupt(
        `group ${group}: log has a gap at index ${after + 1} (next ${entries[0]!.index})`,
      );
    }
    return { hardState, snapshot, entries };
  }

  /**
   * Reads the whole log once, in write order: rebuilds each group's runs and keeps its
   * entries for `load`. Within a group a row goes on from the one before it, restates an
   * index (a relocated copy: it supersedes), or jumps ahead past garbage.
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
      if (this.nextSeq === 1) this.collectedBelow = seq;
      const entry = this.entryFromRow(grp, row);
      const entries = loaded.get(grp) ?? [];
      loaded.set(grp, entries);
      const runs = this.runsOf(grp);
      const previous = entries.at(-1);
      if (previous !== undefined && entry.index <= previous.index) {
        // A later copy (a relocation) supersedes the rows from its index on.
        while ((entries.at(-1)?.index ?? -1) >= entry.index) entries.pop();
        this.truncateRuns(runs, entry.index);
      } else if (previous !== undefined && entry.index > previous.index + 1) {
        // Rows before a jump are compacted garbage not yet collected; `load` checks that
        // what remains starts right after the group's snapshot.
        entries.length = 0;
        this.forget(runs);
      }
      entries.push(entry);
      const last = runs.at(-1);
      if (last !== undefined && last.seq + last.count === seq) last.count += 1;
      else runs.push({ index: entry.index, seq, count: 1 });
      this.storedRows += 1;
      this.nextSeq = seq + 1;
    }
  }

  /** One group's entries, read again (a scan: only after writes, which tests do). */
  private readGroup(group: number): Entry[] {
    const entries: Entry[] = [];
    const read = this.db.prepare("SELECT idx, term, data FROM log WHERE seq >= ? AND seq <= ?");
    for (const run of this.runsOf(group)) {
      const rows = read.all(run.seq, run.seq + run.count - 1);
      for (const row of rows) entries.push(this.entryFromRow(group, row));
    }
    return entries;
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

  nodeState(): NodeState {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'node_state'").get();
    if (row === undefined || row === null) return emptyNodeState;
    const value = parseJson((row as { value: unknown }).value) as Partial<NodeState> | undefined;
    const peers = value?.peerStores;
    const ok = typeof value === "object" && value !== null &&
      typeof value.storeId === "string" &&
      typeof peers === "object" && peers !== null && !Array.isArray(peers) &&
      Object.values(peers).every((id) => typeof id === "string") &&
      Array.isArray(value.recovering) && value.recovering.every(isNonNegativeInteger) &&
      (value.storeGen === undefined ||
        (Number.isSafeInteger(value.storeGen) && value.storeGen >= -1));
    if (!ok) throw this.corrupt("meta.node_state is not {storeId, peerStores, recovering}");
    return value as NodeState;
  }

  setNodeState(state: NodeState): void {
    this.db
      .prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('node_state', ?)")
      .run(JSON.stringify(state));
  }

  nextIncarnation(): number {
    const next = this.incarnation() + 1;
    this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('incarnation', ?)").run(
      String(next),
    );
    return next;
  }

  /**
   * The count of starts so far, without counting one more (the migration to the log engine
   * reads it: src/runtime/migrate-data-dir.ts).
   */
  incarnation(): number {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'incarnation'").get() as
      | { value: unknown }
      | undefined
      | null;
    const starts = row === undefined || row === null ? 0 : Number(row.value);
    if (!isNonNegativeInteger(starts)) throw this.corrupt("meta.incarnation is not a count");
    return starts;
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

/** Opens the node's SQLite database with bun:sqlite. */
import { Database } from "bun:sqlite";
import type { SqlDatabase } from "../sqlite-log-store.ts";

export function openDatabase(path: string): SqlDatabase {
  // strict: bind parameters without a prefix; safeIntegers off: our integers fit in 2^53.
  return new Database(path, { create: true, strict: true }) as unknown as SqlDatabase;
}

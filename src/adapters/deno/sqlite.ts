/** Opens the node's SQLite database with node:sqlite (Deno). */
import { DatabaseSync } from "node:sqlite";
import type { SqlDatabase } from "../sqlite-log-store.ts";

export function openDatabase(path: string): SqlDatabase {
  return new DatabaseSync(path) as unknown as SqlDatabase;
}

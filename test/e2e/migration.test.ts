/**
 * A data directory of kahuna 0.2 (kahuna.sqlite) is migrated at the first start of this
 * version (docs/operations.md, "The data directory"), under Bun and under Deno (whose
 * node:sqlite reads the database bun:sqlite wrote): the node starts on it, logs one line
 * saying so, keeps every lock with its owner and token, and leaves only log/ beside its lock
 * files. The next start finds nothing to migrate.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeLegacyDataDir } from "../helpers/legacy-data-dir.ts";
import { type Runtime, type ServerProcess, startServer, tempDir } from "../helpers/server.ts";
import { callLock } from "./rest-smoke.ts";

const servers: ServerProcess[] = [];
const roots: string[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.cleanup();
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** Stops the server (SIGTERM) and returns what it wrote on stderr. */
async function stop(server: ServerProcess): Promise<string> {
  const stderr = new Response(server.process.stderr as ReadableStream).text();
  expect(await server.kill("SIGTERM")).toBe(0);
  return await stderr;
}

async function holder(url: string, resource: string) {
  const info = await callLock(url, "/v1/locks/get-info", { resource, durability: 1 });
  return info.body as { type: number; owner?: string; fencingToken?: number };
}

const runtimes: Array<[string, Runtime, number]> = [["Bun", "bun", 60], ["Deno", "deno", 20]];

for (const [name, runtime, lockCount] of runtimes) {
  describe(`under ${name}`, () => {
    test(
      "a kahuna.sqlite data directory is migrated to log/ at start, every lock kept",
      async () => {
        const root = tempDir("kahuna-migration-");
        roots.push(root);
        const dataDir = join(root, "data");
        const locks = Array.from({ length: lockCount }, (_, i) => ({
          resource: `migrated/${i}`,
          owner: `owner-${i}`,
        }));
        // Low snapshotEntries: partitions snapshot and compact, so snapshots are migrated too.
        const tokens = await writeLegacyDataDir(dataDir, {
          partitions: 4,
          locks,
          snapshotEntries: 12,
        });
        expect(readdirSync(dataDir)).toContain("kahuna.sqlite");

        const server = await startServer({ runtime, dataDir, extraArgs: ["--partitions", "4"] });
        servers.push(server);
        for (const { resource, owner } of locks) {
          expect({ resource, ...(await holder(server.url, resource)) }).toMatchObject({
            resource,
            type: 4,
            owner,
            fencingToken: tokens.get(resource)!,
          });
        }
        expect([...tokens.values()].every((token) => token > 0)).toBe(true);
        const taken = await callLock(server.url, "/v1/locks/try-lock", {
          resource: "after-migration",
          owner: "new",
          expiresMs: 60_000,
          durability: 1,
        });
        expect(taken.body).toMatchObject({ type: 0 });
        const log = await stop(server);
        const migrated = log.split("\n").filter((line) =>
          line.includes("migrated the data directory")
        );
        expect(migrated.length).toBe(1);
        expect(migrated[0]).toMatch(
          /INFO +\[node 1\] migrated the data directory from kahuna\.sqlite to log\/ event=dataDirMigrated dataDir=\S+ partitions=4 entries=\d+ snapshots=[1-4]$/,
        );

        // Only the lock files and the log are left; the database and its WAL files are gone.
        expect(readdirSync(dataDir).sort()).toEqual(["LOCK", "LOCK.pid", "log"]);
        const logFiles = readdirSync(join(dataDir, "log"));
        expect(logFiles.some((file) => /^\d{20}\.log$/.test(file))).toBe(true);
        expect(logFiles.some((file) => /^snap-\d+-\d+-\d+\.snap$/.test(file))).toBe(true);

        const again = await server.restart();
        servers.push(again);
        expect(await holder(again.url, "after-migration")).toMatchObject({ type: 4, owner: "new" });
        expect(await holder(again.url, locks[0]!.resource)).toMatchObject({
          owner: locks[0]!.owner,
          fencingToken: tokens.get(locks[0]!.resource)!,
        });
        expect(await stop(again)).not.toContain("migrated");
        expect(existsSync(join(dataDir, "kahuna.sqlite"))).toBe(false);
        rmSync(join(dataDir, ".."), { recursive: true, force: true });
      },
      60_000,
    );
  });
}

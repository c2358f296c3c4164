/**
 * A data directory in the SQLite format of kahuna 0.2 (`DIR/kahuna.sqlite`), as a node of that
 * version left it: the NodeHost that `kahuna serve` runs, over SqliteLogStore (which serve
 * opened then), with the identity serve's first start recorded, driven in this process on the
 * system clock until every lock asked for is granted. A real 0.2 server cannot be run here
 * (the sources only have this version), but its storage came from exactly these two pieces.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../../src/adapters/bun/sqlite.ts";
import { SqliteLogStore } from "../../src/adapters/sqlite-log-store.ts";
import { systemClock, systemRandom } from "../../src/adapters/system-clock.ts";
import { tickMs } from "../../src/constants.ts";
import { NodeHost } from "../../src/host/node-host.ts";
import { Durability, type LockRequest, type LockResponse } from "../../src/locks/types.ts";

export type LegacyLock = { readonly resource: string; readonly owner: string };

/**
 * Writes a single-node data directory of `partitions` partitions holding `locks` (persistent,
 * 10-minute leases), each first taken and released by another owner so that its token is
 * not 0. Returns each resource's fencing token. `snapshotEntries` low makes the partitions
 * snapshot and compact, as a long-running node's have.
 */
export async function writeLegacyDataDir(
  dataDir: string,
  options: { partitions: number; locks: readonly LegacyLock[]; snapshotEntries: number },
): Promise<Map<string, number>> {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, "kahuna.sqlite");
  const store = new SqliteLogStore(openDatabase(path), path);
  // What serve's start did before it built the host (runtime/server.ts, checkIdentity).
  store.setIdentity({ nodeId: "1", voters: ["1"], groups: options.partitions });
  const host = new NodeHost({
    nodeId: "1",
    voters: ["1"],
    groups: options.partitions,
    logStore: store,
    transport: { send: () => {} },
    clock: systemClock,
    random: systemRandom,
    snapshotEntries: options.snapshotEntries,
    compactionLagEntries: 2,
  });
  try {
    await until(host, () => host.health().ok);
    const tokens = new Map<string, number>();
    for (const { resource, owner } of options.locks) {
      const lock = (who: string): LockRequest => ({
        op: "tryLock",
        resource,
        owner: who,
        expiresMs: 600_000,
        durability: Durability.Persistent,
      });
      await answer(host, lock("before"));
      await answer(host, {
        op: "unlock",
        resource,
        owner: "before",
        durability: Durability.Persistent,
      });
      const granted = await answer(host, lock(owner));
      if (granted.type !== 0) throw new Error(`${resource}: ${JSON.stringify(granted)}`);
      tokens.set(resource, granted.fencingToken);
    }
    return tokens;
  } finally {
    host.flush();
    store.close();
  }
}

/** Submits `request` and runs the host until it is answered. */
async function answer(host: NodeHost, request: LockRequest): Promise<LockResponse> {
  let response: LockResponse | undefined;
  host.submit(request, (r) => (response = r));
  await until(host, () => response !== undefined);
  return response!;
}

/** Flushes and ticks the host, as the runtime does, until `done` (at most 10 s). */
async function until(host: NodeHost, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  let lastTick = Date.now();
  while (!done()) {
    if (Date.now() > deadline) throw new Error("the legacy node did not get there in 10 s");
    while (host.flush()) continue; // until no group has work
    if (done()) return;
    if (Date.now() - lastTick >= tickMs) {
      host.tick();
      lastTick = Date.now();
    }
    await Bun.sleep(1);
  }
}

/**
 * Sweeping on a real server (docs/spec.md §2.1): records of released or expired locks are
 * removed after --sweep-grace, /v1/cluster counts held locks apart from the records kept, and
 * a re-created lock's fencing token continues above every token its partition removed, across
 * a restart too.
 */
import { afterEach, expect, test } from "bun:test";
import { type ServerProcess, startServer } from "../helpers/server.ts";

let server: ServerProcess | undefined;
afterEach(async () => {
  await server?.cleanup();
  server = undefined;
});

async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${server!.url}/v1/locks/${path}`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  return await response.json() as Record<string, unknown>;
}

type Partition = { records: number; locks?: number };
async function counts(): Promise<{ records: number; locks: number }> {
  const cluster = await (await fetch(`${server!.url}/v1/cluster`)).json() as {
    partitions: Partition[];
  };
  let records = 0;
  let locks = 0;
  for (const p of cluster.partitions) {
    records += p.records;
    locks += p.locks ?? 0;
  }
  return { records, locks };
}

async function waitFor(done: () => Promise<boolean>, deadlineMs: number): Promise<void> {
  const start = Date.now();
  while (!(await done())) {
    if (Date.now() - start > deadlineMs) throw new Error(`not done after ${deadlineMs} ms`);
    await Bun.sleep(50);
  }
}

test("released and expired records go after the grace; tokens continue above them", async () => {
  server = await startServer({ extraArgs: ["--partitions", "1", "--sweep-grace", "1s"] });
  for (const durability of [0, 1]) {
    const lock = (resource: string, owner: string, expiresMs = 60_000) =>
      post("try-lock", { resource, owner, expiresMs, durability });
    expect(await lock("released", "a")).toEqual({ type: 0, fencingToken: expect.any(Number) });
    expect((await post("try-unlock", { resource: "released", owner: "a", durability })).type)
      .toBe(3);
    expect((await lock("expired", "a", 200)).type).toBe(0);
    expect((await lock("held", "a")).type).toBe(0);
  }
  const before = await counts();
  expect(before.records).toBe(6);
  expect(before.locks).toBeGreaterThanOrEqual(2); // the 200 ms leases may not have ended yet
  await Bun.sleep(300);
  expect(await counts()).toEqual({ records: 6, locks: 2 });
  // After it: only the two held records remain.
  await waitFor(async () => (await counts()).records === 2, 10_000);
  expect(await counts()).toEqual({ records: 2, locks: 2 });
  for (const durability of [0, 1]) {
    const unlock = await post("try-unlock", { resource: "expired", owner: "a", durability });
    expect(unlock.type).toBe(102); // swept: LockDoesNotExist
  }
  // A re-created persistent lock continues above every removed token (0 was, so 1), across a
  // restart: the floor is replicated state, in the snapshot and the log.
  expect(await post("try-lock", { resource: "new", owner: "b", expiresMs: 60_000 })).toEqual({
    type: 0,
    fencingToken: 1,
  });
  await server.kill();
  server = await server.restart();
  expect(await post("try-lock", { resource: "released", owner: "b", expiresMs: 60_000 })).toEqual(
    { type: 0, fencingToken: 1 },
  );
  // held, new and released, all persistent: ephemeral locks never survive a restart.
  expect((await counts()).records).toBe(3);
}, 60_000);

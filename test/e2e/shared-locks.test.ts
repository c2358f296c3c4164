/**
 * Shared locks on a real server (docs/spec.md §2.8, docs/client.md, docs/cli.md): a semaphore of
 * 2 lets two withLock callbacks in at once and the third waits its turn; readers share and a
 * writer waits for them, then readers that came after the writer wait for it; Get lists the
 * holders on both transports; `kahuna lock --limit` and `get-lock` print them; bad limits and
 * modes are refused naming the field.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { KahunaClient, KahunaError } from "../../src/client/index.ts";
import { Durability } from "../../src/locks/types.ts";
import { type ServerProcess, startServer } from "../helpers/server.ts";
import { run } from "./client-fixtures/cli-run.ts";

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer({ extraArgs: ["--quiet"] });
}, 60_000);
afterAll(async () => await server.cleanup());

const clients = () => [
  { name: "rest", client: new KahunaClient({ servers: [server.url] }) },
  {
    name: "binary",
    client: new KahunaClient({ servers: [`127.0.0.1:${server.binaryPort}`], transport: "binary" }),
  },
];

for (const durability of [Durability.Persistent, Durability.Ephemeral]) {
  test(
    `durability ${durability}: a semaphore of 2 runs two jobs at once, the third after`,
    async () => {
      const client = new KahunaClient({ servers: [server.url] });
      const resource = `sem/${durability}`;
      let running = 0;
      let most = 0;
      const tokens: number[] = [];
      const spans: { start: number; end: number }[] = [];
      const job = (i: number) =>
        client.withLock(
          resource,
          { expiresMs: 5_000, waitMs: 10_000, limit: 2, durability },
          async (lock) => {
            const start = performance.now();
            running += 1;
            most = Math.max(most, running);
            tokens.push(lock.fencingToken);
            await Bun.sleep(300 + 100 * i);
            running -= 1;
            spans.push({ start, end: performance.now() });
            return i;
          },
        );
      expect(await Promise.all([job(0), job(1), job(2)])).toEqual([0, 1, 2]);
      expect(most).toBe(2);
      // Whichever job came third (the server picks the order) started only after one of the
      // first two had finished.
      const [a, b, third] = [...spans].sort((x, y) => x.start - y.start);
      expect(third!.start).toBeGreaterThanOrEqual(Math.min(a!.end, b!.end));
      expect(new Set(tokens).size).toBe(3);
      expect(await client.get(resource, durability)).toBeNull();
    },
    30_000,
  );

  test(
    `durability ${durability}: readers share, a writer waits for them, later readers for it`,
    async () => {
      const client = new KahunaClient({ servers: [server.url] });
      const resource = `rw/${durability}`;
      const read = { expiresMs: 10_000, mode: "shared", durability } as const;
      const r1 = await client.getOrCreateLock(resource, read);
      const r2 = await client.getOrCreateLock(resource, read);
      expect([r1.isAcquired, r2.isAcquired]).toEqual([true, true]);
      const writer = client.getOrCreateLock(resource, {
        expiresMs: 10_000,
        waitMs: 10_000,
        durability,
      });
      await Bun.sleep(200);
      // A reader that does not wait is Busy while the writer waits; one that waits queues.
      expect((await client.getOrCreateLock(resource, read)).isAcquired).toBe(false);
      const late = client.getOrCreateLock(resource, { ...read, waitMs: 10_000 });
      await Bun.sleep(200);
      await r1.release();
      await r2.release();
      const w = await writer;
      expect(w.isAcquired).toBe(true);
      expect(w.fencingToken).toBeGreaterThan(r2.fencingToken);
      const info = await client.get(resource, durability);
      expect(info).toMatchObject({ owner: w.owner, fencingToken: w.fencingToken });
      expect(info?.holders).toBeUndefined();
      await Bun.sleep(100);
      await w.release();
      const reader = await late;
      expect(reader.isAcquired).toBe(true);
      expect(reader.fencingToken).toBeGreaterThan(w.fencingToken);
      await reader.release();
    },
    30_000,
  );
}

test("Get lists a shared lock's holders over REST and binary alike", async () => {
  for (const { name, client } of clients()) {
    const resource = `holders/${name}`;
    const a = await client.tryLock(resource, "a", 10_000, Durability.Persistent, "host-a", {
      limit: 3,
    });
    const b = await client.tryLock(resource, "b", 10_000, Durability.Persistent, undefined, {
      limit: 3,
    });
    const info = await client.get(resource);
    expect(info).toMatchObject({ owner: "b", fencingToken: b.fencingToken, limit: 3 });
    expect(info?.holders?.map((h) => [h.owner, h.fencingToken, h.value])).toEqual([
      ["a", a.fencingToken, "host-a"],
      ["b", b.fencingToken, undefined],
    ]);
    expect(info?.holders?.every((h) => h.expiresMs > 0 && h.expiresMs <= 10_000)).toBe(true);
    // An exclusive ask, and a watch, while it is held shared.
    expect((await client.tryLock(resource, "w", 10_000)).locked).toBe(false);
    const watching = (async () => {
      for await (const _ of client.watch(resource)) return "event";
      return "none";
    })();
    const refused = await watching.catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(KahunaError);
    expect((refused as KahunaError).message).toContain("watch follows exclusive locks");
    await client.unlock(resource, "a");
    await client.unlock(resource, "b");
    client.close();
  }
});

test("the client refuses a bad mode or limit before sending, naming it", async () => {
  const client = new KahunaClient({ servers: [server.url] });
  const bad = async (share: object) => {
    const error = await client.tryLock("x", "o", 1_000, Durability.Persistent, undefined, share)
      .catch((e: unknown) => e);
    return error instanceof KahunaError ? error.message : String(error);
  };
  expect(await bad({ limit: 0 })).toBe("limit must be an integer from 1 to 1000, got 0");
  expect(await bad({ mode: "read" })).toBe('mode must be "exclusive" or "shared", got "read"');
  expect(await bad({ mode: "exclusive", limit: 2 })).toBe(
    'limit is only for mode "shared" (a semaphore), got mode "exclusive"',
  );
});

test("kahuna lock --limit and --shared take a shared lock; get-lock prints each holder", async () => {
  const env = { KAHUNA_SERVER: server.url };
  const resource = `cli-shared-${Date.now()}`;
  const first = await run(["lock", resource, "10000", "--limit", "2", "--owner", "a"], { env });
  expect(first).toEqual({ status: 0, stdout: "f0 acquired a\n", stderr: "" });
  const second = await run(["lock", resource, "10000", "--limit", "2", "--owner", "b"], { env });
  expect(second.stdout).toBe("f1 acquired b\n");
  const third = await run(["lock", resource, "10000", "--limit", "2", "--owner", "c"], { env });
  expect(third).toEqual({ status: 1, stdout: "f0 not acquired\n", stderr: "" });
  expect(await run(["get-lock", resource], { env })).toEqual({
    status: 0,
    stdout: "f0 a\nf1 b\n",
    stderr: "",
  });
  const json = await run(["get-lock", resource, "--format", "json"], { env });
  expect(JSON.parse(json.stdout)).toMatchObject({
    found: true,
    limit: 2,
    holders: [{ owner: "a" }, { owner: "b" }],
  });
  const readers = `cli-readers-${Date.now()}`;
  expect((await run(["lock", readers, "10000", "--shared"], { env })).status).toBe(0);
  expect((await run(["lock", readers, "10000", "--shared"], { env })).status).toBe(0);
  expect((await run(["lock", readers, "10000"], { env })).status).toBe(1);
  const usage = await run(["lock", resource, "10000", "--limit", "0"], { env });
  expect(usage.status).toBe(2);
  expect(usage.stderr).toContain("--limit must be a whole number from 1 to 1000");
});

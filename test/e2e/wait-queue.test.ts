/**
 * Fair waiting on real servers (docs/spec.md §2.5): TryLocks with waitMs over REST and the
 * binary protocol are granted in arrival order, each once, with rising tokens; REST holds the
 * request open past the server's idle timeout; a client that goes away leaves the line; a
 * leader change re-queues the client's request.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { BinaryConnection, parseBinaryAddress } from "../../src/client/binary-connection.ts";
import { KahunaClient } from "../../src/client/index.ts";
import { encodeRequests } from "../../src/codec/client-frame.ts";
import { encodeFrame } from "../../src/codec/frame.ts";
import { frameBytesMax, waitersPerResourceMax } from "../../src/constants.ts";
import { Durability } from "../../src/locks/types.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { type ServerProcess, startServer } from "../helpers/server.ts";

let server: ServerProcess;

beforeAll(async () => {
  server = await startServer({ extraArgs: ["--quiet"] });
});

afterAll(async () => {
  await server.cleanup();
});

async function waiters(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("kahuna_lock_waiters "));
  return Number(line?.split(" ")[1] ?? Number.NaN);
}

async function until(done: () => Promise<boolean>, what: string, deadlineMs = 15_000) {
  const started = performance.now();
  while (!(await done())) {
    if (performance.now() - started > deadlineMs) throw new Error(`timed out: ${what}`);
    await Bun.sleep(10);
  }
}

function post(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return postTo(server.url, path, body, signal);
}

function postTo(url: string, path: string, body: unknown, signal?: AbortSignal) {
  return fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    ...(signal === undefined ? {} : { signal }),
  });
}

for (const transport of ["rest", "binary"] as const) {
  for (const durability of [Durability.Persistent, Durability.Ephemeral]) {
    test(
      `${transport}, durability ${durability}: 20 waiters, granted in order, once each, rising tokens`,
      async () => {
        const servers = [transport === "rest" ? server.url : `127.0.0.1:${server.binaryPort}`];
        const client = new KahunaClient({ servers, transport });
        const resource = `queue-${transport}-${durability}`;
        const holder = await client.getOrCreateLock(resource, { expiresMs: 60_000, durability });
        expect(holder.isAcquired).toBe(true);
        const granted: { owner: string; token: number }[] = [];
        const done: Promise<void>[] = [];
        for (let i = 0; i < 20; i++) {
          const owner = `waiter-${String(i).padStart(2, "0")}`;
          done.push(
            client.getOrCreateLock(resource, {
              expiresMs: 60_000,
              waitMs: 60_000,
              durability,
              owner,
            })
              .then(async (lock) => {
                expect(lock.isAcquired).toBe(true);
                granted.push({ owner, token: lock.fencingToken });
                await Bun.sleep(5);
                expect(await lock.release()).toBe(true);
              }),
          );
          // The next one arrives once this one stands in line: arrival order is known.
          await until(async () => (await waiters(server.url)) === i + 1, `waiter ${i} in line`);
        }
        expect(granted).toEqual([]);
        expect(await holder.release()).toBe(true);
        await Promise.all(done);
        expect(granted.map((g) => g.owner)).toEqual(
          Array.from({ length: 20 }, (_, i) => `waiter-${String(i).padStart(2, "0")}`),
        );
        for (let i = 0; i < 20; i++) {
          expect(granted[i]!.token).toBe(holder.fencingToken + i + 1);
        }
        expect(await waiters(server.url)).toBe(0);
        client.close();
      },
      60_000,
    );
  }
}

test(
  "REST: a wait longer than the server's 30 s idle timeout is held open and answered",
  async () => {
    await post("/v1/locks/try-lock", { resource: "long", owner: "holder", expiresMs: 32_000 });
    const started = performance.now();
    const response = await post("/v1/locks/try-lock", {
      resource: "long",
      owner: "patient",
      expiresMs: 1_000,
      waitMs: 40_000,
    });
    const waitedMs = performance.now() - started;
    expect(response.status).toBe(200);
    expect((await response.json()).type).toBe(0);
    // Granted when the holder's lease ran out, past the idle timeout.
    expect(waitedMs).toBeGreaterThan(30_500);
  },
  60_000,
);

test("REST: the wait ends with Busy, and a client that goes away leaves the line", async () => {
  await waitEndsAndLeaves(server.url);
});

test("Deno: a REST client that goes away leaves the line too", async () => {
  const deno = await startServer({ runtime: "deno", extraArgs: ["--quiet"] });
  try {
    await waitEndsAndLeaves(deno.url);
  } finally {
    await deno.cleanup();
  }
}, 60_000);

async function waitEndsAndLeaves(url: string): Promise<void> {
  const post = (path: string, body: unknown, signal?: AbortSignal) =>
    postTo(url, path, body, signal);
  await post("/v1/locks/try-lock", { resource: "gone", owner: "holder", expiresMs: 60_000 });
  const busy = await post("/v1/locks/try-lock", {
    resource: "gone",
    owner: "short",
    expiresMs: 1_000,
    waitMs: 300,
  });
  expect(await busy.json()).toEqual({ type: 1, fencingToken: 0 });
  const abort = new AbortController();
  const leaving = post(
    "/v1/locks/try-lock",
    { resource: "gone", owner: "leaving", expiresMs: 60_000, waitMs: 60_000 },
    abort.signal,
  ).catch((error: Error) => error.name);
  await until(async () => (await waiters(url)) === 1, "the waiter in line");
  abort.abort();
  expect(await leaving).toBe("AbortError");
  await until(async () => (await waiters(url)) === 0, "the line empty again");
  // Released, the lock goes to nobody: the one who left is not granted it.
  await post("/v1/locks/try-unlock", { resource: "gone", owner: "holder" });
  const info = await (await post("/v1/locks/get-info", { resource: "gone" })).json();
  expect(info.type).toBe(102);
}

test("binary: closing the connection takes its waiters out of the line", async () => {
  const holder = new KahunaClient({ servers: [server.url] });
  await holder.tryLock("closed", "holder", 60_000);
  const socket = connect(server.binaryPort, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  const request = {
    op: "tryLock",
    resource: "closed",
    owner: "leaving",
    expiresMs: 60_000,
    durability: Durability.Persistent,
    waitMs: 60_000,
  } as const;
  socket.write(encodeFrame(encodeRequests([{ id: 1, request }]), frameBytesMax));
  await until(async () => (await waiters(server.url)) === 1, "the waiter in line");
  socket.destroy();
  await until(async () => (await waiters(server.url)) === 0, "the line empty again");
  expect(await holder.unlock("closed", "holder")).toBe(true);
  expect(await holder.get("closed")).toBe(null);
});

test(
  "forwarded: an abandoned waiter leaves the leader's line; a waiting client re-queues at the new leader after its leader is killed",
  async () => {
    const cluster = await TestCluster.start(3, { partitions: 1 });
    try {
      const status = await cluster.status("1");
      const leader = status.partitions[0]!.leader;
      const others = cluster.nodes.filter((n) => n.id !== leader);
      // A waiter sent to a follower and abandoned leaves the leader's line too.
      const abort = new AbortController();
      const leaving = postTo(
        others[0]!.url,
        "/v1/locks/try-lock",
        { resource: "failover", owner: "early", expiresMs: 60_000 },
      ).then(() =>
        postTo(
          others[0]!.url,
          "/v1/locks/try-lock",
          { resource: "failover", owner: "leaving", expiresMs: 60_000, waitMs: 60_000 },
          abort.signal,
        )
      ).catch((error: Error) => error.name);
      await until(async () => (await waiters(cluster.node(leader).url)) === 1, "forwarded waiter");
      abort.abort();
      expect(await leaving).toBe("AbortError");
      await until(async () => (await waiters(cluster.node(leader).url)) === 0, "line empty");
      await postTo(others[0]!.url, "/v1/locks/try-unlock", {
        resource: "failover",
        owner: "early",
      });

      const client = new KahunaClient({ servers: others.map((n) => n.url), deadlineMs: 60_000 });
      const holder = await client.getOrCreateLock("failover", { expiresMs: 60_000 });
      expect(holder.isAcquired).toBe(true);
      const waiting = client.getOrCreateLock("failover", { expiresMs: 60_000, waitMs: 60_000 });
      await until(
        async () => (await waiters(cluster.node(leader).url)) === 1,
        "the waiter in the leader's line",
      );
      await cluster.kill(leader);
      await cluster.waitHealthy(others.map((n) => n.id));
      // The holder's persistent lock survived; its release goes to the waiter, in the new line.
      await until(
        async () => (await Promise.all(others.map((n) => waiters(n.url)))).some((w) => w === 1),
        "the waiter in the new leader's line",
        30_000,
      );
      expect(await holder.release()).toBe(true);
      const lock = await waiting;
      expect(lock.isAcquired).toBe(true);
      expect(lock.fencingToken).toBe(holder.fencingToken + 1);
    } finally {
      await cluster.stop();
    }
  },
  90_000,
);

test("a flood of waiters on one lock fills its line to the bound; the rest get MustRetry", async () => {
  const address = parseBinaryAddress(`127.0.0.1:${server.binaryPort}`);
  if ("error" in address) throw new Error(address.error);
  const connection = await BinaryConnection.open(address, 5_000);
  const holder = await connection.execute({
    op: "tryLock",
    resource: "flood",
    owner: "holder",
    expiresMs: 60_000,
    durability: Durability.Ephemeral,
  });
  expect(holder.type).toBe(0);
  const extra = 50;
  const answers = Array.from(
    { length: waitersPerResourceMax + extra },
    (_, i) =>
      connection.execute({
        op: "tryLock",
        resource: "flood",
        owner: `w${i}`,
        expiresMs: 60_000,
        durability: Durability.Ephemeral,
        waitMs: 30_000,
      }, 30_000),
  );
  // Those in line are never answered: the connection closes under them.
  for (const answer of answers.slice(0, waitersPerResourceMax)) answer.catch(() => undefined);
  await until(async () => (await waiters(server.url)) === waitersPerResourceMax, "a full line");
  const refused = await Promise.all(answers.slice(waitersPerResourceMax));
  for (const answer of refused) {
    expect(answer.type).toBe(101);
    expect(answer.error).toContain("too many waiters");
  }
  expect(await waiters(server.url)).toBe(waitersPerResourceMax);
  connection.close();
  await until(async () => (await waiters(server.url)) === 0, "the line emptied by the close");
});

test("a lock granted after a long wait is renewed at once: its holder can count on a whole lease", async () => {
  const client = new KahunaClient({ servers: [server.url] });
  await client.tryLock("long-wait", "holder", 1_500);
  const started = performance.now();
  const lock = await client.getOrCreateLock("long-wait", { expiresMs: 1_000, waitMs: 10_000 });
  expect(performance.now() - started).toBeGreaterThan(1_000);
  expect(lock.isAcquired).toBe(true);
  // Counted from the request's send it would be gone; counted from the renewal it is whole.
  expect(lock.lost.aborted).toBe(false);
  expect(lock.leaseLeftMs).toBeGreaterThan(800);
  expect(await lock.release()).toBe(true);
});

/**
 * The client library from Bun against a real kahuna server process (docs/client.md): locks with
 * `await using`, waiting under contention, leases that run out, the low-level calls, input
 * checks, and failover past a dead server. The MustRetry/Indeterminate paths use a small
 * in-process fake, because a real server does not fail on demand.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Durability, KahunaClient, KahunaError, KahunaErrorKind } from "../../src/client/index.ts";
import { freePort, startServer } from "../helpers/server.ts";
import type { ServerProcess } from "../helpers/server.ts";
import { startFakeServer } from "./client-fixtures/fake-server.ts";

let server: ServerProcess;
let client: KahunaClient;
let counter = 0;

/** A resource name no other test uses. */
function fresh(name: string): string {
  counter += 1;
  return `client-test/${name}/${counter}/${Date.now()}`;
}

beforeAll(async () => {
  server = await startServer();
  client = new KahunaClient({ servers: [server.url] });
}, 60_000);

afterAll(async () => {
  await server?.cleanup();
});

test("getOrCreateLock acquires, and await using releases on scope exit", async () => {
  const resource = fresh("using");
  {
    await using lock = await client.getOrCreateLock(resource, { expiresMs: 10_000 });
    expect(lock.isAcquired).toBe(true);
    expect(lock.fencingToken).toBe(0);
    expect(lock.owner).toMatch(/^[0-9a-f]{32}$/);
    expect(lock.resource).toBe(resource);
    const info = await lock.getInfo();
    expect(info?.owner).toBe(lock.owner);
    expect(info?.fencingToken).toBe(0);
  }
  expect(await client.get(resource)).toBeNull();
  // The next grant continues from the kept token.
  const again = await client.tryLock(resource, "someone-else", 1_000);
  expect(again).toEqual({ locked: true, fencingToken: 1 });
});

test("a second holder is refused at once with waitMs 0, and waits its turn with waitMs", async () => {
  const resource = fresh("contention");
  const first = await client.getOrCreateLock(resource, { expiresMs: 700, owner: "first" });
  expect(first.isAcquired).toBe(true);
  const refused = await client.getOrCreateLock(resource, { expiresMs: 5_000 });
  expect(refused.isAcquired).toBe(false);
  expect(refused.fencingToken).toBe(0);
  expect(await refused.release()).toBe(false);

  const started = performance.now();
  const second = await client.getOrCreateLock(resource, {
    expiresMs: 5_000,
    waitMs: 10_000,
  });
  const waitedMs = performance.now() - started;
  expect(second.isAcquired).toBe(true);
  expect(second.fencingToken).toBe(first.fencingToken + 1);
  expect(waitedMs).toBeGreaterThan(300);
  expect(waitedMs).toBeLessThan(8_000);
  // The first holder's lease is gone: it can neither extend nor unlock.
  expect(await first.tryExtend(1_000)).toBe(false);
  expect(first.isAcquired).toBe(false);
  expect(await second.release()).toBe(true);
});

test("waitMs gives up when the holder keeps the lock", async () => {
  const resource = fresh("give-up");
  await client.tryLock(resource, "holder", 10_000);
  const started = performance.now();
  const lock = await client.getOrCreateLock(resource, { expiresMs: 1_000, waitMs: 400 });
  const waitedMs = performance.now() - started;
  expect(lock.isAcquired).toBe(false);
  expect(waitedMs).toBeGreaterThanOrEqual(350);
  expect(waitedMs).toBeLessThan(3_000);
});

test("tryExtend renews a held lease and is false after the lease expired", async () => {
  const resource = fresh("extend");
  const lock = await client.getOrCreateLock(resource, { expiresMs: 300 });
  expect(await lock.tryExtend(60_000)).toBe(true);
  const info = await lock.getInfo();
  expect(info?.expiresMs).toBeGreaterThan(30_000);
  expect(info?.expiresMs).toBeLessThanOrEqual(60_000);

  const short = await client.getOrCreateLock(fresh("expire"), { expiresMs: 200 });
  expect(short.isAcquired).toBe(true);
  await Bun.sleep(500);
  expect(await short.tryExtend(1_000)).toBe(false);
  expect(short.isAcquired).toBe(false);
  expect(await short.getInfo()).toBeNull();
  await lock.release();
});

test("getInfo reports the holder, the token and the remaining lease", async () => {
  const resource = fresh("info");
  const lock = await client.getOrCreateLock(resource, { expiresMs: 5_000, owner: "alice" });
  const info = await lock.getInfo();
  expect(info).not.toBeNull();
  expect(info!.owner).toBe("alice");
  expect(info!.fencingToken).toBe(lock.fencingToken);
  expect(info!.expiresMs).toBeGreaterThan(0);
  expect(info!.expiresMs).toBeLessThanOrEqual(5_000);
  await lock.release();
  expect(await lock.getInfo()).toBeNull();
});

test("low-level calls follow the lock rules", async () => {
  const resource = fresh("low-level");
  expect(await client.tryLock(resource, "a", 5_000)).toEqual({ locked: true, fencingToken: 0 });
  // Idempotent for the same owner, refused for another.
  expect(await client.tryLock(resource, "a", 5_000)).toEqual({ locked: true, fencingToken: 0 });
  expect(await client.tryLock(resource, "b", 5_000)).toEqual({ locked: false, fencingToken: 0 });
  expect(await client.extend(resource, "b", 5_000)).toEqual({ extended: false, fencingToken: 0 });
  expect(await client.extend(resource, "a", 5_000)).toEqual({ extended: true, fencingToken: 0 });
  expect(await client.extendDetail(resource, "b", 5_000)).toMatchObject({ reason: "notOwner" });
  expect(await client.unlock(resource, "b")).toBe(false);
  expect(await client.unlockDetail(resource, "b")).toMatchObject({
    unlocked: false,
    reason: "notOwner",
  });
  const got = await client.get(resource);
  expect(got).toMatchObject({ owner: "a", fencingToken: 0 });
  expect(await client.unlock(resource, "a")).toBe(true);
  expect(await client.unlockDetail(resource, "a")).toMatchObject({
    unlocked: false,
    reason: "doesNotExist",
  });
  expect(await client.get(resource)).toBeNull();
  expect(await client.extendDetail(resource, "a", 1_000)).toMatchObject({
    extended: false,
    reason: "doesNotExist",
  });
  expect(await client.tryLock(resource, "b", 5_000)).toEqual({ locked: true, fencingToken: 1 });
  await client.unlock(resource, "b");
});

test("the same name in the two durabilities is two different locks", async () => {
  const resource = fresh("durability");
  const persistent = await client.tryLock(resource, "p", 5_000, Durability.Persistent);
  const ephemeral = await client.tryLock(resource, "e", 5_000, Durability.Ephemeral);
  expect(persistent.locked).toBe(true);
  expect(ephemeral.locked).toBe(true);
  expect((await client.get(resource, Durability.Ephemeral))?.owner).toBe("e");
  expect((await client.get(resource))?.owner).toBe("p");
  const lock = await client.getOrCreateLock(resource, {
    expiresMs: 1_000,
    durability: Durability.Ephemeral,
  });
  expect(lock.isAcquired).toBe(false);
  expect(await client.unlock(resource, "e", Durability.Ephemeral)).toBe(true);
  expect(await client.unlock(resource, "p")).toBe(true);
});

test("invalid input throws a KahunaError naming the field, before anything is sent", async () => {
  const fake = startFakeServer();
  const local = new KahunaClient({ servers: [fake.url] });
  try {
    const cases: Array<[() => Promise<unknown>, RegExp]> = [
      [() => local.tryLock("", "o", 1_000), /resource must be 1 to 512 bytes/],
      [() => local.tryLock("r".repeat(513), "o", 1_000), /resource must be 1 to 512 bytes/],
      [() => local.tryLock("a\0b", "o", 1_000), /resource must not contain NUL/],
      [() => local.tryLock("r", "o".repeat(257), 1_000), /owner must be 1 to 256 bytes/],
      [() => local.tryLock("r", "o", 0), /expiresMs must be an integer from 1 to 2147483647/],
      [() => local.tryLock("r", "o", 1.5), /expiresMs must be an integer/],
      [() => local.tryLock("r", "o", 2 ** 31), /expiresMs must be an integer/],
      [() => local.get("r", 2 as Durability), /durability must be 0 \(Ephemeral\) or 1/],
      [() => local.getOrCreateLock("r", { expiresMs: 10, waitMs: -1 }), /waitMs must be/],
    ];
    for (const [call, message] of cases) {
      const error = await call().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(KahunaError);
      expect((error as KahunaError).kind).toBe(KahunaErrorKind.InvalidInput);
      expect((error as KahunaError).message).toMatch(message);
    }
    expect(fake.requests.length).toBe(0);
    expect(() => new KahunaClient({ servers: [] })).toThrow(/at least one URL/);
    expect(() => new KahunaClient({ servers: ["127.0.0.1:2070"] })).toThrow(/http:\/\//);
  } finally {
    fake.stop();
  }
});

test("a dead first server is skipped: the call fails over to the next one", async () => {
  const deadPort = await freePort();
  const failover = new KahunaClient({ servers: [`http://127.0.0.1:${deadPort}`, server.url] });
  const resource = fresh("failover");
  await using lock = await failover.getOrCreateLock(resource, { expiresMs: 5_000 });
  expect(lock.isAcquired).toBe(true);
  expect((await failover.get(resource))?.owner).toBe(lock.owner);
});

test("when no server answers, the call throws Unavailable after bounded retries", async () => {
  const deadPort = await freePort();
  const dead = new KahunaClient({
    servers: [`http://127.0.0.1:${deadPort}`],
    retries: 3,
    timeoutMs: 500,
  });
  const started = performance.now();
  const error = await dead.tryLock("r", "o", 1_000).catch((caught: unknown) => caught);
  expect(performance.now() - started).toBeLessThan(5_000);
  expect(error).toBeInstanceOf(KahunaError);
  expect((error as KahunaError).kind).toBe(KahunaErrorKind.Unavailable);
  expect((error as KahunaError).message).toMatch(
    /after 4 attempts.*check that a server is running/,
  );
});

test("MustRetry answers are retried with the same owner until a definite answer", async () => {
  const fake = startFakeServer();
  try {
    const local = new KahunaClient({ servers: [fake.url] });
    fake.failNext(3, 503);
    const lock = await local.getOrCreateLock("busy-cluster", { expiresMs: 5_000 });
    expect(lock.isAcquired).toBe(true);
    expect(fake.requests.length).toBe(4);
    const owners = new Set(fake.requests.map(([, body]) => body["owner"]));
    expect(owners).toEqual(new Set([lock.owner]));
  } finally {
    fake.stop();
  }
});

test("an unlock whose first attempt had an unknown outcome counts as done", async () => {
  const fake = startFakeServer();
  try {
    const local = new KahunaClient({ servers: [fake.url] });
    expect((await local.tryLock("r", "me", 5_000)).locked).toBe(true);
    // The server applies the unlock but answers 504, as when a commit was not confirmed.
    fake.failNext(1, 504, true);
    expect(await local.unlock("r", "me")).toBe(true);
    expect(await local.get("r")).toBeNull();
    // A write that is never confirmed ends in an Indeterminate error.
    const impatient = new KahunaClient({ servers: [fake.url], retries: 2 });
    fake.failNext(10, 504);
    const error = await impatient.tryLock("r", "me", 1_000).catch((caught: unknown) => caught);
    expect((error as KahunaError).kind).toBe(KahunaErrorKind.Indeterminate);
    expect((error as KahunaError).message).toMatch(/retry with the same owner/);
  } finally {
    fake.stop();
  }
});

test("servers that only answer 503 end in NoMajority, told apart from Unavailable", async () => {
  const fake = startFakeServer();
  try {
    const local = new KahunaClient({ servers: [fake.url], retries: 2 });
    fake.failNext(10, 503);
    const error = await local.get("r").catch((caught: unknown) => caught);
    expect((error as KahunaError).kind).toBe(KahunaErrorKind.NoMajority);
    expect((error as KahunaError).message).toMatch(
      /^no majority of the cluster is reachable: kahuna servers answered .*after 3 attempts/,
    );
  } finally {
    fake.stop();
  }
});

test("aborting the client's signal ends a call in progress, and no retry starts", async () => {
  const fake = startFakeServer();
  try {
    const controller = new AbortController();
    const local = new KahunaClient({ servers: [fake.url], signal: controller.signal });
    fake.failNext(100, 503);
    const call = local.tryLock("r", "me", 1_000).catch((caught: unknown) => caught);
    for (let polls = 0; polls < 200 && fake.requests.length < 2; polls++) await Bun.sleep(5);
    controller.abort();
    const error = await call;
    expect((error as KahunaError).kind).toBe(KahunaErrorKind.Aborted);
    expect((error as KahunaError).message).toMatch(/may or may not have happened/);
    const sent = fake.requests.length;
    await Bun.sleep(100);
    expect(fake.requests.length).toBe(sent);
    const later = await local.get("r").catch((caught: unknown) => caught);
    expect((later as KahunaError).message).toBe("cancelled before it was sent");
  } finally {
    fake.stop();
  }
});

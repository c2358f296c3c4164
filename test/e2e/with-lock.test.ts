/**
 * client.withLock against a real `kahuna serve` process (ports 28070-28072): the callback's value
 * comes back, the lock is released on return and on throw, a callback running 3× expiresMs keeps
 * the lock (another owner stays Busy), and a server paused by SIGSTOP makes the signal fire
 * before the lease could have let another owner in, for persistent and ephemeral locks.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Durability, KahunaClient, KahunaError, KahunaErrorKind } from "../../src/client/index.ts";
import { startServer } from "../helpers/server.ts";
import type { ServerProcess } from "../helpers/server.ts";

let server: ServerProcess;
let client: KahunaClient;
let counter = 0;

function fresh(name: string): string {
  counter += 1;
  return `with-lock/${name}/${counter}/${Date.now()}`;
}

beforeAll(async () => {
  server = await startServer({ httpPort: 28070, peerPort: 28071, binaryPort: 28072 });
  client = new KahunaClient({ servers: [server.url] });
}, 60_000);

afterAll(async () => {
  server?.process.kill("SIGCONT");
  await server?.cleanup();
});

const durabilities = [
  ["persistent", Durability.Persistent],
  ["ephemeral", Durability.Ephemeral],
] as const;

test("withLock returns the callback's value and releases the lock", async () => {
  const resource = fresh("value");
  const value = await client.withLock(resource, { expiresMs: 5_000 }, async (lock, signal) => {
    expect(lock.isAcquired).toBe(true);
    expect(signal.aborted).toBe(false);
    expect((await client.get(resource))?.owner).toBe(lock.owner);
    return `token ${lock.fencingToken}`;
  });
  expect(value).toBe("token 0");
  expect(await client.get(resource)).toBeNull();
});

test("withLock releases the lock when the callback throws, and rethrows", async () => {
  const resource = fresh("throw");
  const work = client.withLock(resource, { expiresMs: 5_000 }, () => {
    throw new Error("the work failed");
  });
  await expect(work).rejects.toThrow("the work failed");
  expect(await client.get(resource)).toBeNull();
});

test("withLock on a lock another owner holds throws notAcquired, after waitMs", async () => {
  const resource = fresh("busy");
  await client.tryLock(resource, "someone-else", 10_000);
  const started = performance.now();
  let ran = false;
  const error = await client.withLock(resource, { expiresMs: 1_000, waitMs: 300 }, () => {
    ran = true;
  }).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(KahunaError);
  expect((error as KahunaError).kind).toBe(KahunaErrorKind.NotAcquired);
  expect(performance.now() - started).toBeGreaterThanOrEqual(300);
  expect(ran).toBe(false);
});

test("an extend answered does-not-exist aborts the signal at once", async () => {
  const resource = fresh("unlocked-under");
  const expiresMs = 900;
  const reason = await client.withLock(resource, { expiresMs }, async (lock, signal) => {
    await client.unlock(resource, lock.owner); // someone with the owner's name lets go
    const unlockedAtMs = performance.now();
    await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    // The next renewal (a third of the lease) finds the lock gone, well before the deadline.
    expect(performance.now() - unlockedAtMs).toBeLessThan(expiresMs / 3 + 200);
    return signal.reason as KahunaError;
  });
  expect(reason.kind).toBe(KahunaErrorKind.Lost);
  expect(reason.message).toContain("nobody holds it any more");
});

describe.each(durabilities)("%s", (_name, durability) => {
  for (const expiresMs of [300, 1_200]) {
    test(
      `a callback running 3 × ${expiresMs} ms keeps the lock; another owner stays Busy`,
      async () => {
        const resource = fresh(`renew-${expiresMs}`);
        const options = { expiresMs, durability };
        const tries = await client.withLock(resource, options, async (lock, signal) => {
          const endMs = performance.now() + 3 * expiresMs;
          let count = 0;
          while (performance.now() < endMs) {
            const other = await client.tryLock(resource, "intruder", 1_000, durability);
            expect(other.locked).toBe(false);
            expect(signal.aborted).toBe(false);
            count += 1;
            await Bun.sleep(expiresMs / 10);
          }
          expect((await client.get(resource, durability))?.owner).toBe(lock.owner);
          return count;
        });
        expect(tries).toBeGreaterThan(10);
        expect(await client.get(resource, durability)).toBeNull();
      },
      30_000,
    );
  }

  test("a server paused by SIGSTOP: the signal fires before another owner is granted", async () => {
    const resource = fresh("sigstop");
    const expiresMs = 1_500;
    // The other owner's client gives up on an attempt quickly and keeps trying.
    const other = new KahunaClient({
      servers: [server.url],
      timeoutMs: 200,
      retries: 1_000,
      deadlineMs: 60_000,
    });
    let grantedAtMs = Number.POSITIVE_INFINITY;
    let stoppedAtMs = 0;
    let lostAtMs = 0;
    let contending = true;
    const contend = async () => {
      while (contending) {
        const result = await other.tryLock(resource, "other-owner", 10_000, durability);
        if (result.locked) {
          grantedAtMs = performance.now();
          return;
        }
        await Bun.sleep(10);
      }
    };
    let contender: Promise<void> = Promise.resolve();
    await client.withLock(resource, { expiresMs, durability }, async (_lock, signal) => {
      contender = contend();
      await Bun.sleep(expiresMs / 2); // a renewal or so has been confirmed
      server.process.kill("SIGSTOP");
      stoppedAtMs = performance.now();
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      lostAtMs = performance.now();
      // Resume the server once the lease it granted has surely run out on its clock (the last
      // confirmed renewal was applied before the pause), so the other owner gets in as soon as
      // the server allows it; the loss must have come first.
      await Bun.sleep(Math.max(0, stoppedAtMs + expiresMs + 100 - performance.now()));
      server.process.kill("SIGCONT");
      // Keep the callback running (as a careless one would) until the other owner gets in, so
      // that only the server's lease, not our release, lets it in.
      const deadline = performance.now() + 4 * expiresMs;
      while (grantedAtMs === Number.POSITIVE_INFINITY && performance.now() < deadline) {
        await Bun.sleep(20);
      }
    });
    contending = false;
    await contender;
    expect(lostAtMs).toBeGreaterThan(stoppedAtMs);
    // The last confirmed renewal was sent before the pause: the lease ends within expiresMs.
    expect(lostAtMs - stoppedAtMs).toBeLessThan(expiresMs);
    expect(grantedAtMs).toBeLessThan(Number.POSITIVE_INFINITY);
    expect(lostAtMs).toBeLessThan(grantedAtMs);
  }, 60_000);
});

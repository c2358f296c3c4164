import { expect, test } from "bun:test";
import { KahunaError, KahunaErrorKind } from "./errors.ts";
import { type ExtendOutcome, LeaseKeeper, leaseTrustFraction } from "./keep-alive.ts";

const yes: ExtendOutcome = { extended: true };

/** Resolves with the time `signal` aborted. */
function abortedAt(signal: AbortSignal): Promise<number> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(performance.now());
    signal.addEventListener("abort", () => resolve(performance.now()), { once: true });
  });
}

function reasonKind(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof KahunaError ? reason.kind : String(reason);
}

test("an unrenewed lease is lost at sent-at + expiresMs × 99%, not later", async () => {
  const sentAtMs = performance.now();
  const keeper = new LeaseKeeper("r", { sentAtMs, expiresMs: 300 }, () => Promise.resolve(yes));
  const lostAtMs = await abortedAt(keeper.signal);
  expect(lostAtMs - sentAtMs).toBeGreaterThanOrEqual(300 * leaseTrustFraction - 1);
  expect(lostAtMs - sentAtMs).toBeLessThan(300 + 50);
  expect(reasonKind(keeper.signal)).toBe(KahunaErrorKind.Lost);
  expect(keeper.leftMs).toBe(0);
});

test("a not-acquired lease is lost from the start, with the reason notAcquired", () => {
  const keeper = new LeaseKeeper("r", undefined, () => Promise.resolve(yes));
  expect(keeper.signal.aborted).toBe(true);
  expect(reasonKind(keeper.signal)).toBe(KahunaErrorKind.NotAcquired);
});

test("an extend answered not-the-owner loses the lease at once", async () => {
  const keeper = new LeaseKeeper(
    "r",
    { sentAtMs: performance.now(), expiresMs: 10_000 },
    () => Promise.resolve({ extended: false, reason: "notOwner" }),
  );
  expect(await keeper.extend(10_000)).toBe(false);
  expect(keeper.signal.aborted).toBe(true);
  expect((keeper.signal.reason as Error).message).toContain("another owner holds it");
});

test("keepAlive renews about every third of the lease with the same expiresMs", async () => {
  const calls: Array<{ atMs: number; expiresMs: number }> = [];
  const keeper = new LeaseKeeper("r", { sentAtMs: performance.now(), expiresMs: 300 }, (ms) => {
    calls.push({ atMs: performance.now(), expiresMs: ms });
    return Promise.resolve(yes);
  });
  const lost = keeper.keepAlive();
  await Bun.sleep(900);
  keeper.stop();
  expect(lost.aborted).toBe(false);
  expect(calls.length).toBeGreaterThanOrEqual(6);
  expect(calls.length).toBeLessThanOrEqual(10);
  expect(calls.every((call) => call.expiresMs === 300)).toBe(true);
  await Bun.sleep(400);
  expect(lost.aborted).toBe(false); // stopped: released, not lost
});

test("failed extends do not move the deadline; the lease is lost on time", async () => {
  const sentAtMs = performance.now();
  let attempts = 0;
  const keeper = new LeaseKeeper("r", { sentAtMs, expiresMs: 400 }, () => {
    attempts += 1;
    return Promise.reject(new KahunaError(KahunaErrorKind.Unavailable, "no server"));
  });
  const lostAtMs = await abortedAt(keeper.keepAlive());
  expect(lostAtMs - sentAtMs).toBeGreaterThanOrEqual(400 * leaseTrustFraction - 1);
  expect(lostAtMs - sentAtMs).toBeLessThan(400 + 50);
  expect(attempts).toBeGreaterThanOrEqual(2); // retried after each failure
});

test("after a failed extend, a confirmed one counts only the shortest lease either asked", async () => {
  let fail = true;
  const keeper = new LeaseKeeper("r", { sentAtMs: performance.now(), expiresMs: 10_000 }, () => {
    if (fail) return Promise.reject(new KahunaError(KahunaErrorKind.Indeterminate, "unknown"));
    return Promise.resolve(yes);
  });
  // The failed extend asked for 200 ms and might still be applied after the confirmed one.
  await expect(keeper.extend(200)).rejects.toThrow("unknown");
  fail = false;
  expect(await keeper.extend(10_000)).toBe(true);
  expect(keeper.leftMs).toBeLessThanOrEqual(200 * leaseTrustFraction);
});

test("extends run one at a time, in the order asked", async () => {
  const order: string[] = [];
  let inFlight = 0;
  const keeper = new LeaseKeeper(
    "r",
    { sentAtMs: performance.now(), expiresMs: 5_000 },
    async (ms) => {
      inFlight += 1;
      expect(inFlight).toBe(1);
      order.push(`start ${ms}`);
      await Bun.sleep(20);
      order.push(`end ${ms}`);
      inFlight -= 1;
      return yes;
    },
  );
  await Promise.all([keeper.extend(1_000), keeper.extend(2_000)]);
  expect(order).toEqual(["start 1000", "end 1000", "start 2000", "end 2000"]);
  expect(keeper.leftMs).toBeGreaterThan(1_900);
});

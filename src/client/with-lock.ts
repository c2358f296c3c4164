/**
 * `client.withLock(resource, options, work)`: take the lock (waiting up to waitMs), keep it
 * alive while `work` runs, release it when `work` ends however it ends, and return what `work`
 * returned. `work` gets the lock and its `lost` signal: once that aborts, the lease can no
 * longer be counted on, and `work` should stop writing (the fencing token protects the rest).
 */
import type { KahunaClient, LockOptions } from "./client.ts";
import { KahunaError, KahunaErrorKind } from "./errors.ts";
import type { KahunaLock } from "./lock.ts";

/**
 * A grant that came back with less than this fraction of its lease left to count on (the answer
 * was slow, or the server kept the request waiting) is renewed before `work` starts, so `work`
 * never begins on a lease that is about to be presumed lost.
 */
const leaseLeftFractionMin = 2 / 3;

export async function withLock<T>(
  client: KahunaClient,
  resource: string,
  options: LockOptions,
  work: (lock: KahunaLock, signal: AbortSignal) => Promise<T> | T,
): Promise<T> {
  const lock = await client.getOrCreateLock(resource, options);
  if (!lock.isAcquired) {
    const waitMs = options.waitMs ?? 0;
    throw new KahunaError(
      KahunaErrorKind.NotAcquired,
      `the lock on ${JSON.stringify(resource)} is held by another owner` +
        (waitMs > 0 ? ` (waited ${waitMs} ms)` : "") +
        `; give a longer waitMs to wait for it`,
    );
  }
  try {
    if (lock.leaseLeftMs < options.expiresMs * leaseLeftFractionMin) {
      if (!(await lock.tryExtend(options.expiresMs))) {
        throw new KahunaError(
          KahunaErrorKind.Lost,
          `lost the lock on ${JSON.stringify(resource)} before the work could start`,
        );
      }
    }
    return await work(lock, lock.keepAlive());
  } finally {
    // Never throws: when no server answers, the lease runs out on its own.
    await lock[Symbol.asyncDispose]();
  }
}

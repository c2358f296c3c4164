/**
 * Acknowledged persistent locks are never lost (docs/spec.md §2.1):
 * - read-backs: a persistent lock acknowledged to a prober must be what the prober's later
 *   Get of it reads (the simulator probes every hot resource and every group after healing);
 * - durable locks: for every key read by the final client after a full restart, the read
 *   shows the last acknowledged grant (if its owner never tried to unlock and could still
 *   rely on it) and no holder after an acknowledged unlock with nothing tried since;
 * - fenced store: no fenced write refused while its writer could still rely on its lease.
 */
import { clockDriftPpmMax } from "../../src/constants.ts";
import { ResponseType } from "../../src/locks/types.ts";
import { byKey, grantsOf, isOk, reliedUntilMs } from "./grants.ts";
import { describe, type FencedWrite, keyOf, type OpRecord, type Violation } from "./history.ts";

/** A prober's acknowledged lock and its Get after it. */
export type ReadBack = { readonly lock: OpRecord; readonly get: OpRecord };

export function checkReadBacks(readBacks: readonly ReadBack[]): Violation[] {
  const violations: Violation[] = [];
  for (const { lock, get } of readBacks) {
    if (!isOk(lock, ResponseType.Locked)) continue;
    if (
      get.type !== ResponseType.Got || get.gotOwner !== lock.owner ||
      get.fencingToken !== lock.fencingToken
    ) {
      violations.push({
        checker: "durability",
        key: keyOf(lock),
        message: `${describe(lock)} but then ${describe(get)}`,
        atMs: get.ackMs,
        ops: [describe(lock), describe(get)],
      });
    }
  }
  return violations;
}

export function checkDurableLocks(
  history: readonly OpRecord[],
  finalClient: string,
  driftBoundPpm = clockDriftPpmMax,
): Violation[] {
  const violations: Violation[] = [];
  for (const [key, ops] of byKey(history)) {
    const finals = ops.filter((op) =>
      op.client === finalClient && op.op === "get" && op.outcome === "ok"
    );
    if (finals.length === 0) continue;
    const before = ops.filter((op) => op.client !== finalClient && op.outcome !== "failed");
    const lastGrant = grantsOf(before, driftBoundPpm).at(-1);
    const lastUnlock = before.filter((op) => isOk(op, ResponseType.Unlocked)).at(-1);
    for (const final of finals) {
      if (lastGrant !== undefined) {
        const later = before.filter((op) => op.sendMs >= lastGrant.sendMs && op.op !== "get");
        const touched = later.some((op) => op.op === "unlock" || op.owner !== lastGrant.owner);
        // Only a lease its holder could still rely on when the read was sent must show.
        const running = final.sendMs < reliedUntilMs(lastGrant);
        const shows = final.type === ResponseType.Got && final.gotOwner === lastGrant.owner &&
          final.fencingToken === lastGrant.token;
        if (!touched && running && !shows) {
          violations.push({
            checker: "durability",
            key,
            message: `acknowledged lock (${lastGrant.owner.slice(0, 8)}, f${lastGrant.token}) ` +
              "lost after the final restart",
            atMs: final.ackMs,
            ops: [describe(lastGrant.op), describe(final)],
          });
        }
      }
      if (lastUnlock === undefined || final.type !== ResponseType.Got) continue;
      if (final.gotHolders !== undefined) {
        // Shared (docs/spec.md §2.8): one holder's unlock leaves the others; only a holder whose
        // own release was acknowledged, and who has not asked again since, must not show.
        const undone = undoneReleases(before, final.gotHolders);
        if (undone !== undefined) {
          violations.push({
            checker: "durability",
            key,
            message: "an acknowledged unlock of a shared holder was undone after the final restart",
            atMs: final.ackMs,
            ops: [describe(undone), describe(final)],
          });
        }
        continue;
      }
      if (before.some((op) => op.op === "tryLock" && op.sendMs > lastUnlock.sendMs)) continue;
      violations.push({
        checker: "durability",
        key,
        message: "an acknowledged unlock was undone after the final restart",
        atMs: final.ackMs,
        ops: [describe(lastUnlock), describe(final)],
      });
    }
  }
  return violations;
}

/** An acknowledged Unlock of one of `holders` that was not followed by a TryLock of its owner. */
function undoneReleases(
  before: readonly OpRecord[],
  holders: readonly { readonly owner: string; readonly fencingToken: number }[],
): OpRecord | undefined {
  for (const holder of holders) {
    const released = before.find((op) =>
      op.owner === holder.owner && isOk(op, ResponseType.Unlocked) &&
      op.fencingToken === holder.fencingToken &&
      !before.some((o) => o.op === "tryLock" && o.owner === op.owner && o.sendMs > op.sendMs)
    );
    if (released !== undefined) return released;
  }
  return undefined;
}

export function checkFencedWrites(writes: readonly FencedWrite[]): Violation[] {
  return writes.filter((w) => !w.accepted && w.atMs < w.reliedUntilMs).map((w) => ({
    checker: "fenced store",
    key: w.key,
    message: `write with f${w.fencingToken} by ${w.owner.slice(0, 8)} refused (store had ` +
      `f${w.storedToken}) ${(w.reliedUntilMs - w.atMs).toFixed(0)} ms before its lease could ` +
      "have ended",
    atMs: w.atMs,
    ops: [],
  }));
}

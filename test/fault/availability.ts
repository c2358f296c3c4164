/**
 * Availability of a fault run, for its report (not a checker): the share of attempts with a
 * definite answer during faults and outside them.
 */
import type { OpRecord } from "../checkers/history.ts";

/** A window during which a fault was in force. */
export type FaultWindow = {
  readonly kind: string;
  readonly startMs: number;
  readonly endMs: number;
};

type Share = { readonly attempts: number; readonly ok: number; readonly share: number };

export type Availability = { readonly duringFaults: Share; readonly outsideFaults: Share };

export function availability(
  history: readonly OpRecord[],
  windows: readonly FaultWindow[],
): Availability {
  const during = { attempts: 0, ok: 0 };
  const outside = { attempts: 0, ok: 0 };
  for (const op of history) {
    const inFault = windows.some((w) => op.sendMs >= w.startMs && op.sendMs < w.endMs);
    const bucket = inFault ? during : outside;
    bucket.attempts += 1;
    if (op.outcome === "ok") bucket.ok += 1;
  }
  const share = (b: { attempts: number; ok: number }) => ({
    ...b,
    share: b.attempts === 0 ? 1 : b.ok / b.attempts,
  });
  return { duringFaults: share(during), outsideFaults: share(outside) };
}

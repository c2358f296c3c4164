/**
 * Where an event stands in one lock's history (docs/spec.md §2.6). Every grant has its own
 * fencing token and each token's life is: not yet granted (phase 0), acquired (1), ended by
 * release or expiry (2). Positions are ordered by token, then phase, so they are the same on
 * every replica for a persistent lock and keep rising across leaders for both durabilities.
 * A cursor is a position written as `<token>.<phase>`; users treat it as opaque.
 */

export const Phase = { Before: 0, Acquired: 1, Ended: 2 } as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

export type Position = { readonly token: number; readonly phase: Phase };

export function comparePositions(a: Position, b: Position): number {
  return a.token !== b.token ? a.token - b.token : a.phase - b.phase;
}

export function formatCursor(position: Position): string {
  return `${position.token}.${position.phase}`;
}

/** A cursor's form, as a regular expression's source (the API document publishes it). */
export const cursorPatternSource = "^(0|[1-9][0-9]{0,15})\\.([012])$";
const cursorPattern = new RegExp(cursorPatternSource);

/** The position a cursor names, or undefined when it is not one this server writes. */
export function parseCursor(text: string): Position | undefined {
  const match = cursorPattern.exec(text);
  if (match === null) return undefined;
  const token = Number(match[1]);
  if (!Number.isSafeInteger(token)) return undefined;
  return { token, phase: Number(match[2]) as Phase };
}

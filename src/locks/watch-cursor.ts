/**
 * Where an event stands in one lock's history (docs/spec.md §2.6). Every grant has its own
 * fencing token and each token's life is: not yet granted (phase 0), acquired (1), ended by
 * release or expiry (2); while acquired, each new value its holder proclaims counts one up
 * (`seq`). Positions are ordered by token, then phase, then seq, so they are the same on every
 * replica for a persistent lock and keep rising across leaders for both durabilities. A cursor
 * is a position written as `<token>.<phase>`, or `<token>.1.<seq>` after a proclamation; users
 * treat it as opaque.
 */

export const Phase = { Before: 0, Acquired: 1, Ended: 2 } as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

export type Position = { readonly token: number; readonly phase: Phase; readonly seq?: number };

export function comparePositions(a: Position, b: Position): number {
  if (a.token !== b.token) return a.token - b.token;
  if (a.phase !== b.phase) return a.phase - b.phase;
  return (a.seq ?? 0) - (b.seq ?? 0);
}

export function formatCursor(position: Position): string {
  const seq = position.seq ?? 0;
  return seq === 0
    ? `${position.token}.${position.phase}`
    : `${position.token}.${position.phase}.${seq}`;
}

/** A cursor's form, as a regular expression's source (the API document publishes it). */
export const cursorPatternSource = "^(0|[1-9][0-9]{0,15})\\.([012])(\\.(0|[1-9][0-9]{0,15}))?$";
const cursorPattern = new RegExp(cursorPatternSource);

/** The position a cursor names, or undefined when it is not one this server writes. */
export function parseCursor(text: string): Position | undefined {
  const match = cursorPattern.exec(text);
  if (match === null) return undefined;
  const token = Number(match[1]);
  const phase = Number(match[2]) as Phase;
  const seq = match[4] === undefined ? 0 : Number(match[4]);
  if (!Number.isSafeInteger(token) || !Number.isSafeInteger(seq)) return undefined;
  // Only an acquired grant has proclamations; a zero seq is written without it.
  if (match[4] !== undefined && (phase !== Phase.Acquired || seq === 0)) return undefined;
  return seq === 0 ? { token, phase } : { token, phase, seq };
}

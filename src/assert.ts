/**
 * Assertions that stay on in production. A failed assertion means a bug or a broken
 * invariant: it is never caught except at the top of the process, which logs and exits
 * non-zero (STYLE.md §6). Expected outcomes are values, not exceptions.
 */

export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Ends an exhaustive switch: the type checker proves this is never reached. */
export function unreachable(value: never): never {
  throw new AssertionError(`unreachable: ${JSON.stringify(value)}`);
}

/**
 * Assertions that stay on in production. A failed assertion means a bug or a broken
 * invariant: it is never caught except at the top of the process, which logs and exits
 * non-zero. Expected outcomes are values, not exceptions.
 */

export class AssertionError extends Error {
  override name = "AssertionError";
}

/**
 * `message` may be a function, for a message built from values: on hot paths the template
 * string would otherwise be built on every call, failing or not.
 */
export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new AssertionError(typeof message === "string" ? message : message());
}

/** Ends an exhaustive switch: the type checker proves this is never reached. */
export function unreachable(value: never): never {
  throw new AssertionError(`unreachable: ${JSON.stringify(value)}`);
}

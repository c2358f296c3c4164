/**
 * The one error the client throws. Definite answers ("busy", "not the owner", "does not
 * exist") are values, never errors; a KahunaError means the input was invalid or no server
 * gave a definite answer within the retry budget. The two exceptions belong to withLock, whose
 * callback cannot run without the lock: NotAcquired (thrown) and Lost (the signal's reason).
 */

export const KahunaErrorKind = {
  /** The input broke the limits of docs/spec.md §4 (checked locally, or a 400 from the server). */
  InvalidInput: "invalidInput",
  /** No server answered (unreachable, no leader, timeouts) before retries ran out. */
  Unavailable: "unavailable",
  /** A write may or may not have happened: the last attempts' outcomes are unknown. */
  Indeterminate: "indeterminate",
  /**
   * Servers answered, but none could serve the call (HTTP 503 MustRetry, e.g. the lock's
   * partition has no leader because no majority of the cluster is reachable) before retries
   * ran out. Unlike Unavailable, some server is running.
   */
  NoMajority: "noMajority",
  /** The caller's AbortSignal ended the call; a write may or may not have happened. */
  Aborted: "aborted",
  /**
   * withLock could not take the lock (another owner held it past waitMs); also the reason of a
   * not-acquired lock's `lost` signal.
   */
  NotAcquired: "notAcquired",
  /** The reason of `lock.lost`: the lease can no longer be counted on (keep-alive.ts). */
  Lost: "lost",
  /**
   * The server runs with --auth-file and took no token, or not this one (HTTP 401,
   * docs/security.md). Not retried: another server would refuse it too.
   */
  Unauthorized: "unauthorized",
  /** The token's client may not do this to this resource (HTTP 403); the message says why. */
  Forbidden: "forbidden",
} as const;
export type KahunaErrorKind = (typeof KahunaErrorKind)[keyof typeof KahunaErrorKind];

export class KahunaError extends Error {
  override name = "KahunaError";
  readonly kind: KahunaErrorKind;

  constructor(kind: KahunaErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

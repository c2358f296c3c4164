/** Exit statuses of every CLI command (docs/cli.md). */
export const ExitStatus = {
  Ok: 0,
  /** A definite "no": busy, not the owner, does not exist. Also: a server that cannot start. */
  No: 1,
  Usage: 2,
  /** No server could be reached, or the outcome of a write is unknown. */
  Unavailable: 3,
  /**
   * `kahuna lock R MS -- CMD`: another owner held the lock (past --wait), so CMD did not run.
   * EX_TEMPFAIL of sysexits.h, "try again later"; distinct from any status the old form uses.
   */
  NotAcquired: 75,
  /**
   * `kahuna lock R MS -- CMD`: the lease was lost while CMD ran, so CMD was stopped (SIGTERM,
   * then SIGKILL), whatever status it then exited with; the status timeout(1) gives a command
   * it stopped.
   */
  Lost: 124,
  /** `kahuna lock R MS -- CMD`: CMD exists but could not be run (as shells say: 126). */
  CannotRun: 126,
  /** `kahuna lock R MS -- CMD`: CMD was not found (as shells say: 127). */
  NotFound: 127,
  /** Ctrl-C (SIGINT), as shells report a command that SIGINT ended: 128 + 2. */
  Interrupted: 130,
  /** SIGTERM: 128 + 15. */
  Terminated: 143,
} as const;
export type ExitStatus = (typeof ExitStatus)[keyof typeof ExitStatus];

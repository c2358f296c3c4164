/** Exit statuses of every CLI command (docs/cli.md). */
export const ExitStatus = {
  Ok: 0,
  /** A definite "no": busy, not the owner, does not exist. Also: a server that cannot start. */
  No: 1,
  Usage: 2,
  /** No server could be reached, or the outcome of a write is unknown. */
  Unavailable: 3,
  /** Ctrl-C (SIGINT), as shells report a command that SIGINT ended: 128 + 2. */
  Interrupted: 130,
  /** SIGTERM: 128 + 15. */
  Terminated: 143,
} as const;
export type ExitStatus = (typeof ExitStatus)[keyof typeof ExitStatus];

/**
 * Where the CLI writes. Commands take an Io instead of touching process.stdout, so the same
 * code serves one-shot commands and the interactive shell.
 */
import process from "node:process";

export type Io = {
  out(line: string): void;
  err(line: string): void;
};

export const processIo: Io = {
  out(line) {
    process.stdout.write(`${line}\n`);
  },
  err(line) {
    process.stderr.write(`${line}\n`);
  },
};

/** What went wrong, as `--format json` names it in the `error` field. */
export type FailureKind =
  | "usage"
  | "invalidInput"
  | "unreachable"
  | "noMajority"
  | "unknownOutcome"
  | "interrupted"
  | "notReleased"
  | "notAcquired"
  | "lost"
  | "cannotRun"
  | "unauthorized"
  | "forbidden";

export type Failure = {
  readonly kind: FailureKind;
  readonly status: number;
  readonly message: string;
  readonly op?: string;
};

/**
 * An error, on stderr: `kahuna: MESSAGE` as text; with --format json one object
 * `{"error":KIND,"message":…,"exitStatus":N}` (and `op` when a command was running), so a
 * script reads results on stdout and errors on stderr, each one JSON object a line.
 */
export function reportFailure(io: Io, format: "text" | "json", failure: Failure): void {
  if (format === "text") {
    io.err(`kahuna: ${failure.message}`);
    return;
  }
  const { kind, status, message, op } = failure;
  io.err(
    JSON.stringify({
      ...(op === undefined ? {} : { op }),
      error: kind,
      message,
      exitStatus: status,
    }),
  );
}

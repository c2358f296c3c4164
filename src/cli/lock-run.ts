/**
 * `kahuna lock RESOURCE EXPIRES_MS [--wait 30s] [--kill-after 10s] -- COMMAND ARGS…` (docs/cli.md):
 * take the lock (waiting up to --wait), run COMMAND with KAHUNA_FENCING_TOKEN and KAHUNA_OWNER in
 * its environment while the lease is renewed every third of it, and release the lock when
 * COMMAND exits. Exit status: COMMAND's own (128 + N when signal N ended it), or
 * - 75 (NotAcquired): another owner held the lock, COMMAND did not run;
 * - 124 (Lost): the lease could no longer be counted on while COMMAND ran, so COMMAND was sent
 *   SIGTERM, then SIGKILL after --kill-after, whatever status it then exited with;
 * - 126 / 127: COMMAND could not be run / was not found, as shells say; 2 and 3 as for every
 *   lock command (usage, no server).
 * SIGINT and SIGTERM sent to kahuna are passed on to COMMAND; kahuna then waits for it to exit.
 * Only node:child_process is used, which Bun, Deno and Node all provide.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";
import process from "node:process";
import type { Durability, KahunaLock } from "../client/index.ts";
import { KahunaError, KahunaErrorKind } from "../client/index.ts";
import { clientFor, cliMessage, failureOf } from "./commands.ts";
import type { Connection, Format } from "./commands.ts";
import { formatDuration } from "./duration.ts";
import { ExitStatus } from "./exit-status.ts";
import { type Io, reportFailure } from "./io.ts";

export type LockRun = {
  readonly resource: string;
  readonly expiresMs: number;
  readonly owner: string;
  readonly durability: Durability;
  readonly waitMs: number;
  /** A shared lock's limit; undefined for an exclusive lock. */
  readonly limit?: number;
  readonly killAfterMs: number;
  /** COMMAND and its arguments; never empty. */
  readonly command: readonly string[];
};

export const killAfterMsDefault = 10_000;

/** Runs the command under the lock; the exit status. Never throws for an expected failure. */
export async function runUnderLock(
  run: LockRun,
  connection: Connection,
  format: Format,
  io: Io,
): Promise<number> {
  const client = clientFor(connection);
  const { resource, expiresMs, owner, durability, waitMs } = run;
  const report = (
    kind: Parameters<typeof reportFailure>[2]["kind"],
    status: number,
    message: string,
  ) => reportFailure(io, format, { kind, status, message, op: "lock" });
  try {
    const options = {
      expiresMs,
      owner,
      durability,
      waitMs,
      ...(run.limit === undefined ? {} : { limit: run.limit }),
    };
    return await client.withLock(
      resource,
      options,
      (lock, lost) => runChild(run, lock, lost, report),
    );
  } catch (error) {
    if (!(error instanceof KahunaError)) throw error;
    if (error.kind === KahunaErrorKind.NotAcquired) {
      const waited = waitMs > 0 ? ` (waited ${formatDuration(waitMs)})` : "";
      const taken = run.limit === undefined
        ? "is held by another owner"
        : "has no free place (or an exclusive holder)";
      report(
        "notAcquired",
        ExitStatus.NotAcquired,
        `the lock on ${JSON.stringify(resource)} ${taken}${waited}; ` +
          `${JSON.stringify(run.command[0])} did not run (give --wait 30s to wait for it)`,
      );
      return ExitStatus.NotAcquired;
    }
    const [kind, status] = failureOf(error.kind);
    report(kind, status, cliMessage(error));
    return status;
  }
}

export type Report = (kind: "lost" | "cannotRun", status: number, message: string) => void;

/**
 * Spawns the command and settles with the exit status once it has exited (or failed to start);
 * `lost` aborting stops it (SIGTERM, then SIGKILL after killAfterMs). Shared with `kahuna elect`.
 */
export function runChild(
  run: Pick<LockRun, "command" | "killAfterMs">,
  lock: Pick<KahunaLock, "fencingToken" | "owner">,
  lost: AbortSignal,
  report: Report,
): Promise<number> {
  const [file, ...args] = run.command;
  if (file === undefined) throw new Error("runChild needs a command");
  if (lost.aborted) return Promise.resolve(reportLost(lost, "did not start", report));
  return new Promise((resolve) => {
    const env = {
      ...process.env,
      KAHUNA_FENCING_TOKEN: String(lock.fencingToken),
      KAHUNA_OWNER: lock.owner,
    };
    const child = spawn(file, args, { stdio: "inherit", env });
    let wasLost = false;
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const onLost = () => {
      wasLost = true;
      const grace = formatDuration(run.killAfterMs);
      reportLost(
        lost,
        `stopping ${JSON.stringify(file)} (SIGTERM, then SIGKILL after ${grace})`,
        report,
      );
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), run.killAfterMs);
    };
    const onSigint = () => child.kill("SIGINT");
    const onSigterm = () => child.kill("SIGTERM");
    lost.addEventListener("abort", onLost, { once: true });
    process.on("SIGINT", onSigint);
    process.on("SIGTERM", onSigterm);
    let settled = false;
    const settle = (status: number) => {
      if (settled) return;
      settled = true;
      lost.removeEventListener("abort", onLost);
      process.off("SIGINT", onSigint);
      process.off("SIGTERM", onSigterm);
      clearTimeout(killTimer);
      resolve(wasLost ? ExitStatus.Lost : status);
    };
    child.once("error", (error: NodeJS.ErrnoException) => {
      const notFound = error.code === "ENOENT";
      const status = notFound ? ExitStatus.NotFound : ExitStatus.CannotRun;
      report(
        "cannotRun",
        status,
        `cannot run ${JSON.stringify(file)}: ${notFound ? "command not found" : error.message}`,
      );
      settle(status);
    });
    child.once("exit", (code, signal) => {
      settle(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)));
    });
  });
}

function reportLost(lost: AbortSignal, doing: string, report: Report): number {
  const reason: unknown = lost.reason;
  const why = reason instanceof Error ? reason.message : "lost the lock";
  report("lost", ExitStatus.Lost, `${why}; ${doing}`);
  return ExitStatus.Lost;
}

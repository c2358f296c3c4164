/**
 * `kahuna elect NAME VALUE [-- COMMAND ARGS…]` and `kahuna elect --observe NAME` (docs/cli.md):
 * campaign to lead NAME with VALUE (waiting in the lock's line), print the election, then lead
 * until Ctrl-C or SIGTERM (resign, exit 0) or until the leadership is lost (exit 124); with
 * COMMAND, run it while leading (KAHUNA_FENCING_TOKEN is the term), stop it on loss as
 * `kahuna lock … -- COMMAND` does, and resign when it exits, with its status. `--observe`
 * prints who leads, then each change, one line each.
 */
import process from "node:process";
import { Durability, KahunaError, KahunaErrorKind, type Leader } from "../client/index.ts";
import { checkResource, checkValue } from "../client/validate.ts";
import { clientFor, cliMessage, failureOf } from "./commands.ts";
import type { Connection, Format } from "./commands.ts";
import { formatDuration, parseDurationMs } from "./duration.ts";
import { ExitStatus } from "./exit-status.ts";
import { parseFlags } from "./flags.ts";
import { type Io, reportFailure } from "./io.ts";
import { killAfterMsDefault, runChild } from "./lock-run.ts";
import { connectionFlags, connectionOptions } from "./lock-commands.ts";
import { parseCount, printStream } from "./stream-output.ts";

export const electUsage =
  "usage: kahuna elect NAME VALUE [--lease 10s] [--wait 30s] [--kill-after 10s] " +
  "[client flags] [-- COMMAND [ARGS...]]\n" +
  "       kahuna elect --observe NAME [--count N] [client flags]\n" +
  "  client flags: [--ephemeral] [--server URL] [--ca FILE] [--token T] [--timeout 5s] " +
  "[--format json]";

type Common = {
  readonly name: string;
  readonly durability: Durability;
  readonly connection: Connection;
  readonly format: Format;
};

export type ElectCommand =
  | Common & {
    readonly kind: "campaign";
    readonly value: string;
    readonly leaseMs: number;
    /** Undefined: campaign until elected or interrupted. */
    readonly waitMs: number | undefined;
    readonly killAfterMs: number;
    readonly command: readonly string[];
  }
  | Common & { readonly kind: "observe"; readonly count: number | undefined };

export function parseElectCommand(
  args: readonly string[],
): ElectCommand | { kind: "help" } | { kind: "usage"; message: string } {
  const dash = args.indexOf("--");
  const own = dash < 0 ? args : args.slice(0, dash);
  const command = dash < 0 ? [] : args.slice(dash + 1);
  const flags = parseFlags(own, {
    observe: "boolean",
    count: "string",
    lease: "string",
    wait: "string",
    "kill-after": "string",
    ...connectionFlags,
  });
  if (typeof flags === "string") return { kind: "usage", message: flags };
  if (flags.booleans.has("help")) return { kind: "help" };
  const observe = flags.booleans.has("observe");
  const words = flags.positionals;
  const wanted = observe ? 1 : 2;
  if (words.length !== wanted) {
    return {
      kind: "usage",
      message: observe
        ? `elect --observe takes NAME, got ${words.length} words`
        : `elect takes NAME and VALUE, got ${words.length} words`,
    };
  }
  if (dash >= 0 && (observe || command.length === 0)) {
    return {
      kind: "usage",
      message: "-- COMMAND goes with a campaign: kahuna elect NAME VALUE -- COMMAND",
    };
  }
  const [name, value] = words as [string, string | undefined];
  try {
    checkResource(name);
    if (value !== undefined) checkValue(value);
  } catch (error) {
    if (error instanceof KahunaError) return { kind: "usage", message: error.message };
    throw error;
  }
  const options = connectionOptions(flags);
  if (typeof options === "string") return { kind: "usage", message: options };
  const common = { name, ...options };
  if (observe) {
    const count = parseCount(flags.strings.get("count"));
    if (typeof count === "object") return { kind: "usage", message: count.error };
    return { ...common, kind: "observe", count };
  }
  const leaseMs = parseDurationMs("--lease", flags.strings.get("lease") ?? "10s");
  if (typeof leaseMs === "string") return { kind: "usage", message: leaseMs };
  if (leaseMs < 1) return { kind: "usage", message: "--lease must be more than 0" };
  const waitText = flags.strings.get("wait");
  const waitMs = waitText === undefined ? undefined : parseDurationMs("--wait", waitText);
  if (typeof waitMs === "string") return { kind: "usage", message: waitMs };
  const killText = flags.strings.get("kill-after");
  const killAfterMs = killText === undefined
    ? killAfterMsDefault
    : parseDurationMs("--kill-after", killText);
  if (typeof killAfterMs === "string") return { kind: "usage", message: killAfterMs };
  return {
    ...common,
    kind: "campaign",
    value: value!,
    leaseMs,
    waitMs,
    killAfterMs,
    command,
  };
}

export function leaderLine(leader: Leader | null): string {
  return leader === null
    ? "no leader"
    : `leader ${JSON.stringify(leader.value)} term ${leader.term} (owner ${leader.owner})`;
}

export async function runElect(command: ElectCommand, io: Io): Promise<number> {
  return command.kind === "observe"
    ? await runObserve(command, io)
    : await runCampaign(command, io);
}

async function runObserve(
  command: Extract<ElectCommand, { kind: "observe" }>,
  io: Io,
): Promise<number> {
  const client = clientFor(command.connection);
  return await printStream({
    client,
    items: (signal) => client.observe(command.name, { durability: command.durability, signal }),
    line: (leader) =>
      command.format === "json"
        ? JSON.stringify({ op: "observe", name: command.name, leader })
        : leaderLine(leader),
    count: command.count,
    format: command.format,
    op: "observe",
    io,
  });
}

async function runCampaign(
  command: Extract<ElectCommand, { kind: "campaign" }>,
  io: Io,
): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const client = clientFor(command.connection);
  const report = (
    kind: Parameters<typeof reportFailure>[2]["kind"],
    status: number,
    message: string,
  ) => reportFailure(io, command.format, { kind, status, message, op: "elect" });
  try {
    let leadership;
    try {
      leadership = await client.campaign(command.name, command.value, {
        expiresMs: command.leaseMs,
        durability: command.durability,
        signal: stop.signal,
        ...(command.waitMs === undefined ? {} : { waitMs: command.waitMs }),
      });
    } catch (error) {
      if (!(error instanceof KahunaError)) throw error;
      if (error.kind === KahunaErrorKind.Aborted) return ExitStatus.Interrupted;
      if (error.kind === KahunaErrorKind.NotAcquired) {
        report(
          "notAcquired",
          ExitStatus.NotAcquired,
          `not elected leader of ${JSON.stringify(command.name)} within ` +
            `${formatDuration(command.waitMs ?? 0)}: another candidate leads`,
        );
        return ExitStatus.NotAcquired;
      }
      throw error;
    }
    const elected = { value: command.value, term: leadership.term, owner: leadership.owner };
    io.out(
      command.format === "json"
        ? JSON.stringify({ op: "elect", name: command.name, elected: true, ...elected })
        : `elected ${
          JSON.stringify(command.value)
        } term ${leadership.term} (owner ${leadership.owner})`,
    );
    try {
      if (command.command.length > 0) {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        const term = { fencingToken: leadership.term, owner: leadership.owner };
        return await runChild(
          command,
          term,
          leadership.lost,
          (kind, status, message) => report(kind, status, message),
        );
      }
      // Lead until interrupted, or until the leadership is lost.
      const lost = leadership.lost;
      await new Promise<void>((resolve) => {
        if (lost.aborted || stop.signal.aborted) return resolve();
        lost.addEventListener("abort", () => resolve(), { once: true });
        stop.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      if (lost.aborted) {
        const reason: unknown = lost.reason;
        report(
          "lost",
          ExitStatus.Lost,
          reason instanceof Error ? reason.message : "lost the leadership",
        );
        return ExitStatus.Lost;
      }
      return ExitStatus.Ok;
    } finally {
      await leadership[Symbol.asyncDispose]();
    }
  } catch (error) {
    if (!(error instanceof KahunaError)) throw error;
    const [kind, status] = failureOf(error.kind);
    report(kind, status, cliMessage(error));
    return status;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    client.close();
  }
}

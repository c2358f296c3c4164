/**
 * The CLI's entry (docs/cli.md): `kahuna <subcommand>`, or the seed's kahuna-cli when invoked
 * under that name or as `kahuna cli`. Returns the exit status; never calls process.exit, so
 * output is flushed before the process ends.
 *
 * A usage error is one line on stderr, `kahuna: WHAT WAS WRONG; run "…--help" for the usage`
 * (with --format json, one JSON object), and exit status 2.
 */
import { parseWatchCommand, runWatch, watchUsage } from "./watch-command.ts";
import { electUsage, parseElectCommand, runElect } from "./elect-command.ts";
import process from "node:process";
import { clientFor, runLockCommand } from "./commands.ts";
import { ExitStatus } from "./exit-status.ts";
import { asksForJson } from "./flags.ts";
import { processIo, reportFailure } from "./io.ts";
import type { Io } from "./io.ts";
import { commandUsage, isLockCommandName, parseLockCommand } from "./lock-commands.ts";
import { runUnderLock } from "./lock-run.ts";
import { parseSeedFlags, seedUsage } from "./seed-flags.ts";
import { parseServeOptions, runServe, serveUsage } from "./serve.ts";
import { runShell } from "./shell.ts";
import { longUsage } from "./usage.ts";
import { versionLine } from "../version.ts";

export async function runCli(
  argv: string[],
  invokedAs: "kahuna" | "kahuna-cli",
  io: Io = processIo,
): Promise<number> {
  if (invokedAs === "kahuna-cli") return await runKahunaCli(argv, io);
  const [name, ...rest] = argv;
  const json = asksForJson(argv);
  if (name === undefined) return usageError("no command given", "kahuna help", json, io);
  if (name === "help" || name === "--help" || name === "-h") return help(longUsage, io);
  if (name === "version" || name === "--version") return help(versionLine(), io);
  if (name === "cli") return await runKahunaCli(rest, io);
  if (name === "serve") {
    const parsed = parseServeOptions(rest, process.env);
    if (parsed.kind === "help") return help(serveUsage, io);
    if (parsed.kind === "usage") return usageError(parsed.message, "kahuna serve --help", json, io);
    return await runServe(parsed.options, io);
  }
  if (name === "repair") {
    const { parseRepairCommand, repairUsage, runRepair } = await import("./repair-command.ts");
    const parsed = parseRepairCommand(rest, process.env);
    if (parsed.kind === "help") return help(repairUsage, io);
    if (parsed.kind === "usage") {
      return usageError(parsed.message, "kahuna repair --help", json, io);
    }
    return await runRepair(parsed.dataDir, io);
  }
  if (name === "auth") {
    const { authUsage, runAuthCommand } = await import("./auth-command.ts");
    const result = runAuthCommand(rest, io);
    if (result === "help") return help(authUsage, io);
    if (typeof result === "number") return result;
    return usageError(result.usage, "kahuna auth --help", false, io);
  }
  if (name === "bench") {
    // Loaded only when asked for: the other commands start without it.
    const { runBenchCommand } = await import("../bench/command.ts");
    return await runBenchCommand(rest, io);
  }
  if (name === "elect") {
    const parsed = parseElectCommand(rest);
    if (parsed.kind === "help") return help(electUsage, io);
    if (parsed.kind === "usage") return usageError(parsed.message, "kahuna elect --help", json, io);
    return await runElect(parsed, io);
  }
  if (name === "watch") {
    const parsed = parseWatchCommand(rest);
    if ("kind" in parsed && parsed.kind === "help") return help(watchUsage, io);
    if ("kind" in parsed) return usageError(parsed.message, "kahuna watch --help", json, io);
    return await runWatch(parsed, io);
  }
  if (isLockCommandName(name)) {
    const parsed = parseLockCommand(name, rest);
    if (parsed.kind === "help") return help(commandUsage(name), io);
    if (parsed.kind === "usage") {
      return usageError(parsed.message, `kahuna ${name} --help`, json, io);
    }
    if (parsed.kind === "runUnderLock") {
      return await runUnderLock(parsed.run, parsed.connection, parsed.format, io);
    }
    const client = clientFor(parsed.connection);
    return (await runLockCommand(client, parsed.command, parsed.format, io)).status;
  }
  const what = name.startsWith("-") ? "option" : "command";
  return usageError(
    `unknown ${what} ${JSON.stringify(name)}; the commands are lock, unlock, extend-lock, ` +
      `get-lock, watch, elect, serve, repair, cli, bench, auth and help`,
    "kahuna help",
    json,
    io,
  );
}

async function runKahunaCli(argv: string[], io: Io): Promise<number> {
  const [first, ...rest] = argv;
  // `kahuna-cli lock R MS` works too: the subcommand form under the seed's name.
  if (isLockCommandName(first)) return await runCli([first, ...rest], "kahuna", io);
  if (first === "help") return help(seedUsage, io);
  if (first === "--version") return help(versionLine(), io);
  const parsed = parseSeedFlags(argv);
  if (parsed.kind === "help") return help(seedUsage, io);
  if (parsed.kind === "usage") {
    return usageError(parsed.message, "kahuna-cli --help", asksForJson(argv), io);
  }
  if (parsed.kind === "shell") {
    return await runShell({
      connection: parsed.connection,
      format: parsed.format,
      owner: parsed.owner,
      io,
    });
  }
  const client = clientFor(parsed.connection);
  return (await runLockCommand(client, parsed.command, parsed.format, io)).status;
}

/** Prints a text asked for (help, version) on stdout: exit status 0. */
function help(text: string, io: Io): number {
  io.out(text);
  return ExitStatus.Ok;
}

function usageError(message: string, helpCommand: string, json: boolean, io: Io): number {
  reportFailure(io, json ? "json" : "text", {
    kind: "usage",
    status: ExitStatus.Usage,
    message: `${message}; run "${helpCommand}" for the usage`,
  });
  return ExitStatus.Usage;
}

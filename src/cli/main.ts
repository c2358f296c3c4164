/**
 * The CLI's entry (SPEC.md §4): `kahuna <subcommand>`, or the seed's kahuna-cli when invoked
 * under that name or as `kahuna cli`. Returns the exit status; never calls process.exit, so
 * output is flushed before the process ends.
 */
import process from "node:process";
import { runLockCommand } from "./commands.ts";
import { ExitStatus } from "./exit-status.ts";
import { processIo } from "./io.ts";
import type { Io } from "./io.ts";
import { commandUsage, isLockCommandName, parseLockCommand } from "./lock-commands.ts";
import { parseSeedFlags, seedUsage } from "./seed-flags.ts";
import { parseServeOptions, runServe, serveUsage } from "./serve.ts";
import { runShell } from "./shell.ts";
import { longUsage, shortUsage } from "./usage.ts";

export async function runCli(
  argv: string[],
  invokedAs: "kahuna" | "kahuna-cli",
  io: Io = processIo,
): Promise<number> {
  if (invokedAs === "kahuna-cli") return await runKahunaCli(argv, io);
  const [name, ...rest] = argv;
  if (name === undefined) return usageError("no command given", shortUsage, io);
  if (name === "help" || name === "--help" || name === "-h") {
    io.out(longUsage);
    return ExitStatus.Ok;
  }
  if (name === "cli") return await runKahunaCli(rest, io);
  if (name === "serve") {
    const parsed = parseServeOptions(rest, process.env);
    if (parsed.kind === "help") return help(serveUsage, io);
    if (parsed.kind === "usage") return usageError(parsed.message, serveUsage, io);
    return await runServe(parsed.options, io);
  }
  if (name === "bench") {
    // Loaded only when asked for: the other commands start without it.
    const { runBenchCommand } = await import("../bench/command.ts");
    return await runBenchCommand(rest, io);
  }
  if (isLockCommandName(name)) {
    const parsed = parseLockCommand(name, rest);
    if (parsed.kind === "help") return help(commandUsage(name), io);
    if (parsed.kind === "usage") return usageError(parsed.message, commandUsage(name), io);
    return (await runLockCommand(parsed.client, parsed.command, parsed.format, io)).status;
  }
  return usageError(`unknown command ${JSON.stringify(name)}`, shortUsage, io);
}

async function runKahunaCli(argv: string[], io: Io): Promise<number> {
  const [first, ...rest] = argv;
  // `kahuna-cli lock R MS` works too: the subcommand form under the seed's name.
  if (isLockCommandName(first)) return await runCli([first, ...rest], "kahuna", io);
  if (first === "help") return help(seedUsage, io);
  const parsed = parseSeedFlags(argv);
  if (parsed.kind === "help") return help(seedUsage, io);
  if (parsed.kind === "usage") return usageError(parsed.message, seedUsage, io);
  if (parsed.kind === "shell") {
    return await runShell({
      client: parsed.client,
      format: parsed.format,
      owner: parsed.owner,
      io,
    });
  }
  return (await runLockCommand(parsed.client, parsed.command, parsed.format, io)).status;
}

function help(text: string, io: Io): number {
  io.out(text);
  return ExitStatus.Ok;
}

function usageError(message: string, usage: string, io: Io): number {
  io.err(`kahuna: ${message}`);
  io.err(usage);
  return ExitStatus.Usage;
}

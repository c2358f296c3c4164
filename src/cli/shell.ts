/**
 * The interactive shell of kahuna-cli (SPEC.md §4): one owner id for the whole session,
 * line editing and history (node:readline), history kept in $KAHUNA_HISTORY or
 * ~/.kahuna_history across runs, and every lock still held released on exit, EOF or Ctrl-C.
 *
 * When stdin is not a terminal (a pipe, a file) the shell reads the same commands but prints
 * no prompt, so its output is just the result lines.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { Durability, randomOwner } from "../client/index.ts";
import type { KahunaClient } from "../client/index.ts";
import { parseExpiresMs, runLockCommand } from "./commands.ts";
import type { Format, LockCommand } from "./commands.ts";
import { ExitStatus } from "./exit-status.ts";
import type { Io } from "./io.ts";
import { shellHelp } from "./usage.ts";

export const prompt = "kahuna-cli> ";
const historyLinesMax = 1_000;

export type ShellOptions = {
  readonly client: KahunaClient;
  readonly format: Format;
  readonly owner: string | undefined;
  readonly io: Io;
};

type Held = { readonly resource: string; readonly durability: Durability };

export function historyPath(): string {
  const configured = process.env["KAHUNA_HISTORY"];
  if (configured !== undefined && configured !== "") return configured;
  return join(homedir(), ".kahuna_history");
}

/** The saved history, oldest first, at most historyLinesMax lines. */
function loadHistory(path: string): string[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, "utf8").split("\n").filter((line) => line.trim() !== "");
  return lines.slice(-historyLinesMax);
}

export async function runShell(options: ShellOptions): Promise<number> {
  const { client, format, io } = options;
  const owner = options.owner ?? randomOwner();
  const path = historyPath();
  const history = loadHistory(path);
  // Rewrite the file trimmed, so it never grows without bound.
  trySaveHistory(path, history, io);
  const interactive = process.stdin.isTTY === true;
  const reader = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: interactive,
    // readline wants the newest entry first.
    history: [...history].reverse(),
    historySize: historyLinesMax,
    prompt,
  });
  const held = new Map<string, Held>();
  io.out(`session owner ${owner}`);
  const stop = () => reader.close();
  reader.on("SIGINT", stop);
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  if (interactive) reader.prompt();
  try {
    for await (const raw of reader) {
      const line = raw.trim();
      if (line !== "") {
        history.push(line);
        tryAppendHistory(path, line, io);
      }
      const keepGoing = await runLine(line, { client, format, io, owner, held, history });
      if (!keepGoing) break;
      if (interactive) reader.prompt();
    }
  } finally {
    reader.close();
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  return await releaseAll(client, owner, held, io);
}

type LineContext = {
  readonly client: KahunaClient;
  readonly format: Format;
  readonly io: Io;
  readonly owner: string;
  readonly held: Map<string, Held>;
  readonly history: readonly string[];
};

/** Runs one line; false when the session should end. */
async function runLine(line: string, context: LineContext): Promise<boolean> {
  const { io } = context;
  const words = line.split(/\s+/).filter((word) => word !== "");
  const [name, ...args] = words;
  if (name === undefined) return true;
  if (name === "exit" || name === "quit") return false;
  if (name === "help") {
    io.out(shellHelp);
    return true;
  }
  if (name === "history") {
    context.history.forEach((entry, index) => io.out(`${String(index + 1).padStart(5)}  ${entry}`));
    return true;
  }
  const command = shellCommand(name, args, context.owner);
  if (typeof command === "string") {
    io.err(command);
    return true;
  }
  const outcome = await runLockCommand(context.client, command, context.format, io);
  const key = `${command.durability}/${command.resource}`;
  if (outcome.holds === true) {
    context.held.set(key, { resource: command.resource, durability: command.durability });
  } else if (outcome.holds === false) {
    context.held.delete(key);
  }
  return true;
}

function shellCommand(name: string, args: readonly string[], owner: string): LockCommand | string {
  const ephemeral = name.startsWith("e") && name !== "extend-lock";
  const base = ephemeral ? name.slice(1) : name;
  const durability = ephemeral ? Durability.Ephemeral : Durability.Persistent;
  const takesExpires = base === "lock" || base === "extend-lock";
  const known = takesExpires || base === "unlock" || base === "get-lock";
  if (!known) return `unknown command ${JSON.stringify(name)}; type help for the list`;
  const expected = takesExpires ? 2 : 1;
  if (args.length !== expected) {
    return `usage: ${name} RESOURCE${takesExpires ? " EXPIRES_MS" : ""}`;
  }
  const resource = args[0]!;
  if (base === "get-lock") return { op: "get-lock", resource, durability };
  if (base === "unlock") return { op: "unlock", resource, owner, durability };
  const expiresMs = parseExpiresMs(args[1]);
  if (typeof expiresMs === "string") return expiresMs;
  if (base === "lock") return { op: "lock", resource, expiresMs, owner, durability };
  return { op: "extend-lock", resource, expiresMs, owner, durability };
}

/** Releases what the session still holds, in the order it was taken. */
async function releaseAll(
  client: KahunaClient,
  owner: string,
  held: Map<string, Held>,
  io: Io,
): Promise<number> {
  let status: number = ExitStatus.Ok;
  for (const { resource, durability } of held.values()) {
    try {
      const result = await client.unlockDetail(resource, owner, durability);
      if (result.unlocked) io.out(`f${result.fencingToken} released ${resource}`);
    } catch (error) {
      io.err(
        `kahuna: could not release ${resource} (${(error as Error).message}); ` +
          `its lease will run out on its own`,
      );
      status = ExitStatus.Unavailable;
    }
  }
  held.clear();
  return status;
}

function trySaveHistory(path: string, history: readonly string[], io: Io): void {
  try {
    if (history.length > 0) writeFileSync(path, history.map((line) => `${line}\n`).join(""));
  } catch (error) {
    io.err(
      `kahuna: cannot write history file ${path} (${(error as Error).message}); set KAHUNA_HISTORY`,
    );
  }
}

function tryAppendHistory(path: string, line: string, io: Io): void {
  try {
    appendFileSync(path, `${line}\n`);
  } catch (error) {
    io.err(
      `kahuna: cannot write history file ${path} (${(error as Error).message}); set KAHUNA_HISTORY`,
    );
  }
}

/**
 * The interactive shell of kahuna-cli (docs/cli.md): one owner id for the whole session, line
 * editing, Tab completion and history (node:readline), words split with shell quoting, and
 * every lock the session may hold released when it ends.
 *
 * Invariants:
 * - The session never leaves a lock behind silently: at `exit`, Ctrl-D, end of input,
 *   Ctrl-C during a request, SIGINT or SIGTERM it unlocks everything it took (and a lock
 *   whose request was cancelled, since that write may have happened), and prints each lock it
 *   could not release.
 * - Ctrl-C on a line being typed only clears the line, as in bash.
 * - Exit status: 130 after an interrupt (143 after SIGTERM); on a terminal 0, or 3 when a
 *   lock could not be released; with piped input the highest status of its commands, so a
 *   script sees a failure.
 * - History is kept only for a person at a terminal: piped input is never written to it.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { Durability, randomOwner } from "../client/index.ts";
import type { KahunaClient } from "../client/index.ts";
import { clientFor, parseExpiresMs, runLockCommand } from "./commands.ts";
import type { Connection, Format, LockCommand } from "./commands.ts";
import { ExitStatus } from "./exit-status.ts";
import { reportFailure } from "./io.ts";
import type { Io } from "./io.ts";
import { quoteWord, splitWords } from "./shell-words.ts";
import { shellHelp } from "./usage.ts";

export const prompt = "kahuna-cli> ";
const historyLinesMax = 1_000;
const leaveHint = "(to leave, type exit or press Ctrl-D)";

export const shellCommands = [
  "lock",
  "unlock",
  "extend-lock",
  "get-lock",
  "elock",
  "eunlock",
  "eextend-lock",
  "eget-lock",
  "history",
  "help",
  "exit",
] as const;

export type ShellOptions = {
  readonly connection: Connection;
  readonly format: Format;
  readonly owner: string | undefined;
  readonly io: Io;
};

type Held = { readonly resource: string; readonly durability: Durability };
type Signal = "SIGINT" | "SIGTERM";
type Event = { readonly kind: "line"; readonly text: string } | { readonly kind: "end" };

type Session = {
  readonly connection: Connection;
  readonly format: Format;
  readonly io: Io;
  readonly owner: string;
  readonly interactive: boolean;
  readonly historyFile: string;
  readonly history: string[];
  /** What the session may hold, by durability and resource, in the order it was taken. */
  readonly held: Map<string, Held>;
  /** The highest exit status of the commands so far. */
  status: number;
  /** Aborts the request in flight, or the releases at the end. */
  inFlight: AbortController | undefined;
  interrupted: Signal | undefined;
};

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
  const interactive = process.stdin.isTTY === true;
  const historyFile = historyPath();
  const session: Session = {
    ...options,
    owner: options.owner ?? randomOwner(),
    interactive,
    historyFile,
    history: loadHistory(historyFile),
    held: new Map(),
    status: ExitStatus.Ok,
    inFlight: undefined,
    interrupted: undefined,
  };
  // Rewrite the file trimmed, so it never grows without bound.
  if (interactive) trySaveHistory(historyFile, session.history, session.io);
  const reader = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: interactive,
    // readline wants the newest entry first.
    history: [...session.history].reverse(),
    historySize: historyLinesMax,
    prompt,
    ...(interactive ? { completer: (line: string) => complete(line, session.held) } : {}),
  });
  const events = eventQueue();
  let open = true;
  reader.on("line", (text) => events.push({ kind: "line", text }));
  reader.on("close", () => {
    // Ctrl-D leaves the cursor after the prompt: end that line, as shells do.
    if (open && interactive) process.stdout.write("\n");
    open = false;
    events.push({ kind: "end" });
  });
  const interrupt = (signal: Signal) => {
    session.interrupted ??= signal;
    session.inFlight?.abort();
    events.push({ kind: "end" });
  };
  // On a terminal readline turns Ctrl-C into this event instead of a signal.
  reader.on("SIGINT", () => {
    if (session.inFlight !== undefined) interrupt("SIGINT");
    else clearLine(reader);
  });
  const onSigint = () => interrupt("SIGINT");
  const onSigterm = () => interrupt("SIGTERM");
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigterm);
  try {
    session.io.out(`session owner ${session.owner}`);
    if (interactive) reader.prompt();
    for (;;) {
      const event = await events.next();
      if (event.kind === "end" || session.interrupted !== undefined) break;
      const keepGoing = await runLine(event.text, session);
      if (!keepGoing || session.interrupted !== undefined) break;
      if (interactive && open) reader.prompt();
    }
    if (open) {
      open = false;
      reader.close();
    }
    return await leave(session);
  } finally {
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigterm);
  }
}

/** Ctrl-C at the prompt: the line typed so far is dropped and a fresh prompt shown. */
function clearLine(reader: ReturnType<typeof createInterface>): void {
  const editor = reader as unknown as { line: string; cursor: number };
  const hadText = editor.line !== "";
  editor.line = "";
  editor.cursor = 0;
  process.stdout.write(hadText ? "^C\n" : `^C\n${leaveHint}\n`);
  reader.prompt();
}

/** Releases what the session holds; the exit status of the whole session. */
async function leave(session: Session): Promise<number> {
  const { interrupted } = session;
  const controller = new AbortController();
  session.inFlight = controller;
  const released = await releaseAll(clientFor(session.connection, controller.signal), session);
  session.inFlight = undefined;
  if (interrupted === "SIGINT") return ExitStatus.Interrupted;
  if (interrupted === "SIGTERM") return ExitStatus.Terminated;
  const worst = Math.max(released, session.interactive ? ExitStatus.Ok : session.status);
  return worst;
}

/** Runs one line; false when the session should end. */
async function runLine(raw: string, session: Session): Promise<boolean> {
  const { io, format } = session;
  const line = raw.trim();
  if (line !== "") {
    session.history.push(line);
    if (session.interactive) tryAppendHistory(session.historyFile, line, io);
  }
  const words = splitWords(line);
  if (typeof words === "string") return usage(session, words);
  const [name, ...args] = words;
  if (name === undefined) return true;
  if (name === "exit" || name === "quit") return false;
  if (name === "help") {
    io.out(shellHelp);
    return true;
  }
  if (name === "history") {
    session.history.forEach((entry, index) => io.out(`${String(index + 1).padStart(5)}  ${entry}`));
    return true;
  }
  const command = shellCommand(name, args, session.owner);
  if (typeof command === "string") return usage(session, command);
  const controller = new AbortController();
  session.inFlight = controller;
  const client = clientFor(session.connection, controller.signal);
  const outcome = await runLockCommand(client, command, format, io);
  session.inFlight = undefined;
  session.status = Math.max(session.status, outcome.status);
  const key = `${command.durability}/${command.resource}`;
  const maybeTaken = outcome.status === ExitStatus.Interrupted && command.op !== "get-lock";
  if (outcome.holds === true || maybeTaken) {
    session.held.set(key, { resource: command.resource, durability: command.durability });
  } else if (outcome.holds === false) {
    session.held.delete(key);
  }
  if (outcome.status === ExitStatus.Interrupted) {
    reportFailure(io, format, {
      kind: "interrupted",
      status: ExitStatus.Interrupted,
      op: command.op,
      message: `interrupted: ${command.op} ${quoteWord(command.resource)} was cancelled ` +
        `(a write may or may not have happened); releasing this session's locks`,
    });
  }
  return true;
}

function usage(session: Session, message: string): boolean {
  session.status = Math.max(session.status, ExitStatus.Usage);
  reportFailure(session.io, session.format, { kind: "usage", status: ExitStatus.Usage, message });
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
    const spaces = args.length > expected ? ` (quote a resource with spaces: "a b")` : "";
    return `usage: ${name} RESOURCE${takesExpires ? " EXPIRES_MS" : ""}${spaces}`;
  }
  const resource = args[0]!;
  if (base === "get-lock") return { op: "get-lock", resource, durability };
  if (base === "unlock") return { op: "unlock", resource, owner, durability };
  const expiresMs = parseExpiresMs(args[1]);
  if (typeof expiresMs === "string") return expiresMs;
  if (base === "lock") return { op: "lock", resource, expiresMs, owner, durability };
  return { op: "extend-lock", resource, expiresMs, owner, durability };
}

/**
 * Tab: the command names for the first word; after unlock, extend-lock or get-lock (and
 * their ephemeral twins), the resources this session holds of that durability.
 */
export function complete(line: string, held: ReadonlyMap<string, Held>): [string[], string] {
  const match = /^\s*(\S*)(?:\s+(\S*))?$/.exec(line);
  if (match === null) return [[], line];
  const [, name = "", partial] = match;
  if (partial === undefined) {
    return [shellCommands.filter((command) => command.startsWith(name)).map((c) => `${c} `), name];
  }
  const ephemeral = name.startsWith("e") && name !== "extend-lock";
  const base = ephemeral ? name.slice(1) : name;
  if (base !== "unlock" && base !== "extend-lock" && base !== "get-lock") return [[], partial];
  const durability = ephemeral ? Durability.Ephemeral : Durability.Persistent;
  const resources = [...held.values()].filter((entry) => entry.durability === durability)
    .map((entry) => quoteWord(entry.resource)).filter((word) => word.startsWith(partial));
  return [resources, partial];
}

/** Releases what the session may still hold, in the order it was taken; the exit status. */
async function releaseAll(client: KahunaClient, session: Session): Promise<number> {
  let status: number = ExitStatus.Ok;
  for (const { resource, durability } of session.held.values()) {
    try {
      const result = await client.unlockDetail(resource, session.owner, durability);
      if (result.unlocked) session.io.out(`f${result.fencingToken} released ${resource}`);
    } catch (error) {
      status = ExitStatus.Unavailable;
      reportFailure(session.io, session.format, {
        kind: "notReleased",
        status,
        op: "unlock",
        message: `could not release ${quoteWord(resource)} (${(error as Error).message}); ` +
          `its lease runs out on its own`,
      });
    }
  }
  session.held.clear();
  return status;
}

/** Lines and the end of input, in the order they came, for one reader at a time. */
function eventQueue() {
  const queued: Event[] = [];
  let wake: (() => void) | undefined;
  return {
    push(event: Event) {
      queued.push(event);
      wake?.();
      wake = undefined;
    },
    async next(): Promise<Event> {
      while (queued.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return queued.shift()!;
    },
  };
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

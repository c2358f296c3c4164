/**
 * `kahuna watch RESOURCE` (docs/cli.md): prints a lock's state, then each change of holder as it
 * happens (acquired, released, expired), one line each, until `--count` events were printed,
 * the servers stay unreachable, or Ctrl-C.
 */
import { Durability, KahunaError, type LockChange } from "../client/index.ts";
import { printStream } from "./stream-output.ts";
import { checkResource } from "../client/validate.ts";
import { parseCursor } from "../locks/watch-cursor.ts";
import { clientFor, makeConnection, parseFormat } from "./commands.ts";
import type { Connection, Format } from "./commands.ts";
import { parseFlags } from "./flags.ts";
import type { Io } from "./io.ts";

export const watchUsage =
  "usage: kahuna watch RESOURCE [--after CURSOR] [--count N] [--ephemeral] [--server URL] " +
  "[--ca FILE] [--token TOKEN] [--timeout 5s] [--format json]";

export type WatchCommand = {
  readonly resource: string;
  readonly durability: Durability;
  readonly after: string | undefined;
  /** Stop after this many events; undefined: until interrupted. */
  readonly count: number | undefined;
  readonly connection: Connection;
  readonly format: Format;
};

export function parseWatchCommand(
  args: readonly string[],
): WatchCommand | { kind: "help" } | { kind: "usage"; message: string } {
  const flags = parseFlags(args, {
    after: "string",
    count: "string",
    ephemeral: "boolean",
    server: "strings",
    ca: "string",
    token: "string",
    timeout: "string",
    format: "string",
    help: "boolean",
  });
  if (typeof flags === "string") return { kind: "usage", message: flags };
  if (flags.booleans.has("help")) return { kind: "help" };
  if (flags.positionals.length !== 1) {
    return {
      kind: "usage",
      message: `watch takes RESOURCE, got ${flags.positionals.length} words`,
    };
  }
  const resource = flags.positionals[0]!;
  try {
    checkResource(resource);
  } catch (error) {
    if (error instanceof KahunaError) return { kind: "usage", message: error.message };
    throw error;
  }
  const after = flags.strings.get("after");
  if (after !== undefined && parseCursor(after) === undefined) {
    return {
      kind: "usage",
      message: `--after must be a cursor a watch printed, such as 12.1, got ${
        JSON.stringify(after)
      }`,
    };
  }
  const countText = flags.strings.get("count");
  const count = countText === undefined ? undefined : Number(countText);
  if (count !== undefined && (!Number.isSafeInteger(count) || count < 1)) {
    return { kind: "usage", message: `--count must be a whole number from 1, got ${countText}` };
  }
  const format = parseFormat(flags.strings.get("format"));
  if (format !== "text" && format !== "json") return { kind: "usage", message: format };
  const connection = makeConnection(
    flags.lists.get("server") ?? [],
    flags.strings.get("timeout"),
    flags.strings.get("ca"),
    flags.strings.get("token"),
  );
  if (typeof connection === "string") return { kind: "usage", message: connection };
  const durability = flags.booleans.has("ephemeral") ? Durability.Ephemeral : Durability.Persistent;
  return { resource, durability, after, count, connection, format };
}

/** One event as a line: `acquired w1 token 0 lease 10000 ms cursor 0.1`. */
export function changeLine(change: LockChange): string {
  const who = change.owner === "" ? "free" : change.owner;
  const lease = change.expiresMs === undefined ? "" : ` lease ${change.expiresMs} ms`;
  const value = change.value === undefined ? "" : ` value ${JSON.stringify(change.value)}`;
  const missed = change.missed ? " (changes before it were missed)" : "";
  return `${change.kind} ${who} token ${change.fencingToken}${lease}${value} cursor ` +
    `${change.cursor}${missed}`;
}

export async function runWatch(command: WatchCommand, io: Io): Promise<number> {
  const client = clientFor(command.connection);
  return await printStream({
    client,
    items: (signal) =>
      client.watch(command.resource, {
        durability: command.durability,
        signal,
        ...(command.after === undefined ? {} : { after: command.after }),
      }),
    line: (change) =>
      command.format === "json"
        ? JSON.stringify({ op: "watch", resource: command.resource, ...change })
        : changeLine(change),
    count: command.count,
    format: command.format,
    op: "watch",
    io,
  });
}

/**
 * `kahuna watch RESOURCE` (docs/cli.md): prints a lock's state, then each change of holder as it
 * happens (acquired, released, expired), one line each, until `--count` events were printed,
 * the servers stay unreachable, or Ctrl-C.
 */
import { Durability, KahunaError, type LockChange } from "../client/index.ts";
import { parseCount, printStream } from "./stream-output.ts";
import { connectionFlags, connectionOptions } from "./lock-commands.ts";
import { checkResource } from "../client/validate.ts";
import { parseCursor } from "../locks/watch-cursor.ts";
import { clientFor } from "./commands.ts";
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
  const flags = parseFlags(args, { after: "string", count: "string", ...connectionFlags });
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
  const count = parseCount(flags.strings.get("count"));
  if (typeof count === "object") return { kind: "usage", message: count.error };
  const options = connectionOptions(flags);
  if (typeof options === "string") return { kind: "usage", message: options };
  const { format, connection, durability } = options;
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

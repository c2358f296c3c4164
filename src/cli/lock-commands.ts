/**
 * `kahuna lock|unlock|extend-lock|get-lock …` (docs/cli.md): positional arguments and flags
 * become a LockCommand, or a usage message that says what was wrong.
 */
import { Durability, KahunaError, randomOwner } from "../client/index.ts";
import { checkOwner, checkResource } from "../client/validate.ts";
import { sharedLimitMax } from "../constants.ts";
import { makeConnection, parseExpiresMs, parseFormat } from "./commands.ts";
import type { Connection, Format, LockCommand } from "./commands.ts";
import { parseDurationMs } from "./duration.ts";
import { parseFlags } from "./flags.ts";
import type { Flags, FlagSpec } from "./flags.ts";
import { killAfterMsDefault, type LockRun } from "./lock-run.ts";

export type Parsed =
  | {
    readonly kind: "run";
    readonly command: LockCommand;
    readonly connection: Connection;
    readonly format: Format;
  }
  | {
    readonly kind: "runUnderLock";
    readonly run: LockRun;
    readonly connection: Connection;
    readonly format: Format;
  }
  | { readonly kind: "help" }
  | { readonly kind: "usage"; readonly message: string };

export const lockCommandNames = ["lock", "unlock", "extend-lock", "get-lock"] as const;
export type LockCommandName = (typeof lockCommandNames)[number];

export function isLockCommandName(name: string | undefined): name is LockCommandName {
  return lockCommandNames.some((known) => known === name);
}

const synopsis: Record<LockCommandName, string> = {
  "lock": "kahuna lock RESOURCE EXPIRES_MS [--owner O] [--shared] [--limit N]",
  "unlock": "kahuna unlock RESOURCE --owner O",
  "extend-lock": "kahuna extend-lock RESOURCE EXPIRES_MS --owner O",
  "get-lock": "kahuna get-lock RESOURCE",
};

const commonFlags =
  "[--ephemeral] [--server URL] [--ca FILE] [--token TOKEN] [--timeout 5s] [--format json]";

export function commandUsage(name: LockCommandName): string {
  const usage = `usage: ${synopsis[name]} ${commonFlags}`;
  if (name !== "lock") return usage;
  return `${usage}\n       kahuna lock RESOURCE EXPIRES_MS [--owner O] [--shared] [--limit N] ` +
    `[--wait 30s] [--kill-after 10s] ${commonFlags} -- COMMAND [ARGS...]`;
}

/** The flags of every command that talks to a server: which lock, where, and how to print. */
export const connectionFlags: FlagSpec = {
  ephemeral: "boolean",
  server: "strings",
  ca: "string",
  token: "string",
  timeout: "string",
  format: "string",
  help: "boolean",
};

/** The flags every lock command takes. */
export const clientFlags: FlagSpec = { owner: "string", ...connectionFlags };

/** What the connection flags say, or a usage message naming the flag that is wrong. */
export function connectionOptions(
  flags: Flags,
): { format: Format; connection: Connection; durability: Durability } | string {
  const format = parseFormat(flags.strings.get("format"));
  if (format !== "text" && format !== "json") return format;
  const connection = makeConnection(
    flags.lists.get("server") ?? [],
    flags.strings.get("timeout"),
    flags.strings.get("ca"),
    flags.strings.get("token"),
  );
  if (typeof connection === "string") return connection;
  const durability = flags.booleans.has("ephemeral") ? Durability.Ephemeral : Durability.Persistent;
  return { format, connection, durability };
}

/** The flags that make `kahuna lock` shared (docs/cli.md): --shared, --limit N. */
const shareFlags: FlagSpec = { shared: "boolean", limit: "string" };

/** The flags of `kahuna lock R MS … -- COMMAND`. */
const runFlags: FlagSpec = {
  ...clientFlags,
  ...shareFlags,
  wait: "string",
  "kill-after": "string",
};

/**
 * A shared lock's limit from --shared and --limit N (a limit alone means shared; --shared
 * alone, the largest limit), undefined for an exclusive lock, or what is wrong.
 */
function parseShare(flags: Flags): { limit: number | undefined } | string {
  const text = flags.strings.get("limit");
  if (text === undefined) {
    return { limit: flags.booleans.has("shared") ? sharedLimitMax : undefined };
  }
  const limit = Number(text);
  if (!/^\d+$/.test(text) || limit < 1 || limit > sharedLimitMax) {
    return `--limit must be a whole number from 1 to ${sharedLimitMax} (the most holders at ` +
      `once), got ${JSON.stringify(text)}`;
  }
  return { limit };
}

export function parseLockCommand(name: LockCommandName, args: readonly string[]): Parsed {
  if (name === "lock") {
    const runForm = parseRunForm(args);
    if (runForm !== undefined) return runForm;
    if (args.some((arg) => /^--(wait|kill-after)(=|$)/.test(arg))) {
      return {
        kind: "usage",
        message: "--wait and --kill-after go with a command to run under the lock: " +
          "kahuna lock RESOURCE EXPIRES_MS --wait 30s -- COMMAND [ARGS...]",
      };
    }
  }
  const lockFlags = { owner: "string", ...shareFlags, ...connectionFlags } as const;
  const flags = parseFlags(args, name === "lock" ? lockFlags : clientFlags);
  if (typeof flags === "string") return { kind: "usage", message: flags };
  const { strings, positionals } = flags;
  if (flags.booleans.has("help")) return { kind: "help" };
  const takesExpires = name === "lock" || name === "extend-lock";
  const expected = takesExpires ? 2 : 1;
  if (positionals.length !== expected) {
    const what = takesExpires ? "RESOURCE and EXPIRES_MS" : "RESOURCE";
    const got = positionals.length === 0
      ? "nothing"
      : positionals.map((word) => JSON.stringify(word)).join(" ");
    return {
      kind: "usage",
      message: `${name} takes ${what}, got ${got}` +
        (positionals.length > expected ? ` (quote a resource with spaces: "a b")` : ""),
    };
  }
  const resource = positionals[0]!;
  const options = connectionOptions(flags);
  if (typeof options === "string") return { kind: "usage", message: options };
  const { format, connection, durability } = options;
  const command = buildCommand(name, resource, positionals[1], strings.get("owner"), durability);
  if (typeof command === "string") return { kind: "usage", message: command };
  if (command.op !== "lock") return { kind: "run", command, connection, format };
  const share = parseShare(flags);
  if (typeof share === "string") return { kind: "usage", message: share };
  const shared = share.limit === undefined ? command : { ...command, limit: share.limit };
  return { kind: "run", command: shared, connection, format };
}

/**
 * `lock RESOURCE EXPIRES_MS [flags] -- COMMAND…`, or undefined when `args` are the old form: no
 * `--`, nothing after it, or not two arguments before it (`lock -- -name 1000` names a lock).
 */
function parseRunForm(args: readonly string[]): Parsed | undefined {
  const dash = args.indexOf("--");
  if (dash < 0 || dash === args.length - 1) return undefined;
  const flags = parseFlags(args.slice(0, dash), runFlags);
  if (typeof flags !== "string" && flags.positionals.length !== 2) return undefined;
  if (typeof flags === "string") return { kind: "usage", message: flags };
  if (flags.booleans.has("help")) return { kind: "help" };
  const { strings } = flags;
  const options = connectionOptions(flags);
  if (typeof options === "string") return { kind: "usage", message: options };
  const { format, connection, durability } = options;
  const [resource, expiresText] = flags.positionals as [string, string];
  const lock = buildCommand("lock", resource, expiresText, strings.get("owner"), durability);
  if (typeof lock === "string") return { kind: "usage", message: lock };
  if (lock.op !== "lock") throw new Error("buildCommand(lock) builds a lock command");
  const waitMs = parseDurationMs("--wait", strings.get("wait") ?? "0");
  if (typeof waitMs === "string") return { kind: "usage", message: waitMs };
  const killAfter = strings.get("kill-after");
  const killAfterMs = killAfter === undefined
    ? killAfterMsDefault
    : parseDurationMs("--kill-after", killAfter);
  if (typeof killAfterMs === "string") return { kind: "usage", message: killAfterMs };
  const share = parseShare(flags);
  if (typeof share === "string") return { kind: "usage", message: share };
  const { owner, expiresMs } = lock;
  const command = args.slice(dash + 1);
  const run = {
    resource,
    expiresMs,
    owner,
    durability,
    waitMs,
    killAfterMs,
    command,
    ...(share.limit === undefined ? {} : { limit: share.limit }),
  };
  return { kind: "runUnderLock", run, connection, format };
}

/** Shared with the seed flags: the same checks, the same messages. */
export function buildCommand(
  name: LockCommandName,
  resource: string,
  expiresText: string | undefined,
  owner: string | undefined,
  durability: Durability,
): LockCommand | string {
  const problem = inputProblem(resource, owner);
  if (problem !== undefined) return problem;
  if (name === "get-lock") {
    if (owner !== undefined) {
      return "get-lock does not take --owner: it shows whoever holds the lock";
    }
    return { op: name, resource, durability };
  }
  if (name !== "lock" && owner === undefined) {
    return `${name} needs --owner O: the owner printed when the lock was acquired`;
  }
  if (name === "unlock") return { op: name, resource, owner: owner!, durability };
  const expiresMs = parseExpiresMs(expiresText);
  if (typeof expiresMs === "string") return expiresMs;
  if (name === "lock") {
    return { op: name, resource, expiresMs, owner: owner ?? randomOwner(), durability };
  }
  return { op: name, resource, expiresMs, owner: owner!, durability };
}

/** The client's own checks, run before anything is sent so a mistake is a usage error. */
function inputProblem(resource: string, owner: string | undefined): string | undefined {
  try {
    checkResource(resource);
    if (owner !== undefined) checkOwner(owner);
    return undefined;
  } catch (error) {
    if (error instanceof KahunaError) return error.message;
    throw error;
  }
}

/**
 * The four lock commands, shared by `kahuna lock …`, the seed flags of kahuna-cli and the
 * interactive shell, so all three print the same lines (docs/cli.md):
 *   f1 acquired <owner> | f0 not acquired
 *   f1 unlocked         | f0 not unlocked: not the owner | f0 not unlocked: does not exist
 *   f1 extended <owner> | f0 not extended: not the owner | f0 not extended: does not exist
 *   f1 <owner>          | f0 not found
 * The number after `f` is the fencing token in the server's answer.
 */
import process from "node:process";
import { readFileSync } from "node:fs";
import { unreachable } from "../assert.ts";
import { Durability, KahunaClient, KahunaError, KahunaErrorKind } from "../client/index.ts";
import { cliTimeoutMsDefault, cliTimeoutMsMax, expiresMsMax, expiresMsMin } from "../constants.ts";
import { ExitStatus } from "./exit-status.ts";
import { reportFailure } from "./io.ts";
import type { FailureKind, Io } from "./io.ts";

export type LockCommand =
  | {
    readonly op: "lock";
    readonly resource: string;
    readonly expiresMs: number;
    readonly owner: string;
    readonly durability: Durability;
    /** A shared lock's limit (--shared, --limit N); undefined for an exclusive lock. */
    readonly limit?: number;
  }
  | {
    readonly op: "unlock";
    readonly resource: string;
    readonly owner: string;
    readonly durability: Durability;
  }
  | {
    readonly op: "extend-lock";
    readonly resource: string;
    readonly expiresMs: number;
    readonly owner: string;
    readonly durability: Durability;
  }
  | { readonly op: "get-lock"; readonly resource: string; readonly durability: Durability };

export type Format = "text" | "json";

/** Where a command sends its requests, and how long it may take in all. */
export type Connection = {
  readonly servers: readonly string[];
  readonly timeoutMs: number;
  /** PEM text of the CA that signed https servers' certificates (--ca FILE, KAHUNA_CA). */
  readonly ca?: string | undefined;
  /** The client token for servers with --auth-file (--token, KAHUNA_TOKEN). */
  readonly token?: string | undefined;
};

export type CommandOutcome = {
  readonly status: ExitStatus;
  /** Whether the owner holds the lock afterwards; undefined when the command cannot tell. */
  readonly holds: boolean | undefined;
  readonly fencingToken: number;
};

export const defaultServer = "http://127.0.0.1:2070";

/**
 * Runs one command and prints its line; never throws for an expected failure. An aborted
 * command prints nothing: the shell, which aborts, says what it does next.
 */
export async function runLockCommand(
  client: KahunaClient,
  command: LockCommand,
  format: Format,
  io: Io,
): Promise<CommandOutcome> {
  try {
    return await execute(client, command, format, io);
  } catch (error) {
    if (!(error instanceof KahunaError)) throw error;
    if (error.kind === KahunaErrorKind.Aborted) {
      return { status: ExitStatus.Interrupted, holds: undefined, fencingToken: 0 };
    }
    const [kind, status] = failureOf(error.kind);
    reportFailure(io, format, { kind, status, message: cliMessage(error), op: command.op });
    return { status, holds: undefined, fencingToken: 0 };
  }
}

/** A KahunaError's message in the CLI's words: the library says `token`, the CLI its flag. */
export function cliMessage(error: KahunaError): string {
  if (error.kind !== KahunaErrorKind.Unauthorized) return error.message;
  return error.message
    .replace("pass token to KahunaClient", "pass --token or set KAHUNA_TOKEN")
    .replace("check the token,", "check --token or KAHUNA_TOKEN,");
}

/** How the CLI reports a KahunaError: the `error` kind of --format json, and the status. */
export function failureOf(kind: KahunaErrorKind): [FailureKind, ExitStatus] {
  switch (kind) {
    case KahunaErrorKind.InvalidInput:
      return ["invalidInput", ExitStatus.Usage];
    case KahunaErrorKind.Unavailable:
      return ["unreachable", ExitStatus.Unavailable];
    case KahunaErrorKind.NoMajority:
      return ["noMajority", ExitStatus.Unavailable];
    case KahunaErrorKind.Indeterminate:
      return ["unknownOutcome", ExitStatus.Unavailable];
    case KahunaErrorKind.Aborted:
      return ["interrupted", ExitStatus.Interrupted];
    case KahunaErrorKind.NotAcquired:
      return ["notAcquired", ExitStatus.NotAcquired];
    case KahunaErrorKind.Lost:
      return ["lost", ExitStatus.Lost];
    // A token problem is fixed on the command line (--token, KAHUNA_TOKEN), like a usage error.
    case KahunaErrorKind.Unauthorized:
      return ["unauthorized", ExitStatus.Usage];
    case KahunaErrorKind.Forbidden:
      return ["forbidden", ExitStatus.Usage];
    default:
      return unreachable(kind);
  }
}

async function execute(
  client: KahunaClient,
  command: LockCommand,
  format: Format,
  io: Io,
): Promise<CommandOutcome> {
  const print = (text: string, json: Record<string, unknown>) => {
    const base = {
      op: command.op,
      resource: command.resource,
      durability: durabilityName(command.durability),
    };
    io.out(format === "json" ? JSON.stringify({ ...base, ...json }) : text);
  };
  switch (command.op) {
    case "lock": {
      const { resource, owner, expiresMs, durability, limit } = command;
      const share = limit === undefined ? {} : { limit };
      const { locked, fencingToken } = await client.tryLock(
        resource,
        owner,
        expiresMs,
        durability,
        undefined,
        share,
      );
      const text = locked ? `f${fencingToken} acquired ${owner}` : `f${fencingToken} not acquired`;
      print(text, { owner, acquired: locked, fencingToken, expiresMs, ...share });
      return { status: locked ? ExitStatus.Ok : ExitStatus.No, holds: locked, fencingToken };
    }
    case "unlock": {
      const { resource, owner, durability } = command;
      const result = await client.unlockDetail(resource, owner, durability);
      const { fencingToken } = result;
      if (result.unlocked) {
        print(`f${fencingToken} unlocked`, { owner, unlocked: true, fencingToken });
        return { status: ExitStatus.Ok, holds: false, fencingToken };
      }
      print(`f${fencingToken} not unlocked: ${reasonText(result.reason)}`, {
        owner,
        unlocked: false,
        reason: result.reason,
        fencingToken,
      });
      return { status: ExitStatus.No, holds: false, fencingToken };
    }
    case "extend-lock": {
      const { resource, owner, expiresMs, durability } = command;
      const result = await client.extendDetail(resource, owner, expiresMs, durability);
      const { fencingToken } = result;
      if (result.extended) {
        print(`f${fencingToken} extended ${owner}`, {
          owner,
          extended: true,
          fencingToken,
          expiresMs,
        });
        return { status: ExitStatus.Ok, holds: true, fencingToken };
      }
      print(`f${fencingToken} not extended: ${reasonText(result.reason)}`, {
        owner,
        extended: false,
        reason: result.reason,
        fencingToken,
      });
      return { status: ExitStatus.No, holds: false, fencingToken };
    }
    case "get-lock": {
      const info = await client.get(command.resource, command.durability);
      if (info === null) {
        print("f0 not found", { found: false, fencingToken: 0 });
        return { status: ExitStatus.No, holds: undefined, fencingToken: 0 };
      }
      // A shared lock: one line per holder, oldest grant first.
      const holders = info.holders ?? [info];
      print(holders.map((h) => `f${h.fencingToken} ${h.owner}`).join("\n"), {
        found: true,
        ...info,
      });
      return { status: ExitStatus.Ok, holds: undefined, fencingToken: info.fencingToken };
    }
    default:
      return unreachable(command);
  }
}

function reasonText(reason: "notOwner" | "doesNotExist"): string {
  return reason === "notOwner" ? "not the owner" : "does not exist";
}

function durabilityName(durability: Durability): string {
  return durability === Durability.Ephemeral ? "ephemeral" : "persistent";
}

/** EXPIRES_MS as typed by a person: digits only, within the int32 range. */
export function parseExpiresMs(text: string | undefined): number | string {
  const problem = `EXPIRES_MS must be an integer from ${expiresMsMin} to ${expiresMsMax}`;
  if (text === undefined) return `${problem}, got nothing`;
  if (!/^[0-9]+$/.test(text)) return `${problem}, got ${JSON.stringify(text)}`;
  const value = Number(text);
  if (value < expiresMsMin || value > expiresMsMax) return `${problem}, got ${text}`;
  return value;
}

/** --server values (each may be comma-separated), else $KAHUNA_SERVER, else the default. */
export function serverList(flags: readonly string[], env: string | undefined): string[] {
  const raw = flags.length > 0
    ? flags
    : [env !== undefined && env.trim() !== "" ? env : defaultServer];
  return raw.flatMap((value) => value.split(",")).map((value) => value.trim())
    .filter((value) => value !== "");
}

export function parseFormat(value: string | undefined): Format | string {
  if (value === undefined || value === "text") return "text";
  if (value === "json") return "json";
  return `--format must be "json" or "text", got ${JSON.stringify(value)}`;
}

/**
 * --timeout as typed: milliseconds (`2500`, `2500ms`) or seconds (`3s`, `1.5s`); the limit on
 * one whole command, retries included.
 */
export function parseTimeout(text: string | undefined): number | string {
  if (text === undefined) return cliTimeoutMsDefault;
  const match = /^([0-9]+(?:\.[0-9]+)?)(ms|s)?$/.exec(text);
  const value = match === null ? NaN : Number(match[1]) * (match[2] === "s" ? 1_000 : 1);
  if (!Number.isFinite(value) || value < 1 || value > cliTimeoutMsMax) {
    return `--timeout must be a duration from 1ms to ${cliTimeoutMsMax / 1_000}s ` +
      `(like 500ms or 5s), got ${JSON.stringify(text)}`;
  }
  return Math.round(value);
}

/**
 * The connection, or a usage message when the server list, the timeout, the CA file (--ca,
 * else $KAHUNA_CA) or the token (--token, else $KAHUNA_TOKEN) is not valid.
 */
export function makeConnection(
  serverFlags: readonly string[],
  timeoutText: string | undefined,
  caFlag?: string,
  tokenFlag?: string,
): Connection | string {
  const servers = serverList(serverFlags, process.env["KAHUNA_SERVER"]);
  const timeoutMs = parseTimeout(timeoutText);
  if (typeof timeoutMs === "string") return timeoutMs;
  const caFile = caFlag ?? (process.env["KAHUNA_CA"] === "" ? undefined : process.env["KAHUNA_CA"]);
  let ca: string | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile, "utf8");
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      return `--ca ${caFile} ${code === "ENOENT" ? "does not exist" : `cannot be read (${code})`}`;
    }
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) {
      return `--ca ${caFile} is not a PEM certificate`;
    }
  }
  const fromEnv = process.env["KAHUNA_TOKEN"]?.trim();
  const token = tokenFlag ?? (fromEnv === "" ? undefined : fromEnv);
  try {
    clientFor({ servers, timeoutMs, ca, token });
  } catch (error) {
    if (error instanceof KahunaError) {
      return error.message.replace(/^servers/, "--server")
        .replace(/^token must/, `${tokenFlag === undefined ? "KAHUNA_TOKEN" : "--token"} must`);
    }
    throw error;
  }
  return { servers, timeoutMs, ca, token };
}

/**
 * A client bounded by the connection's timeout. Each attempt gets half of it, so a server
 * that accepts but never answers leaves time to try the next one.
 */
export function clientFor(connection: Connection, signal?: AbortSignal): KahunaClient {
  const { servers, timeoutMs, ca, token } = connection;
  const attemptMs = Math.max(1, Math.ceil(timeoutMs / 2));
  return new KahunaClient({
    servers,
    ...(ca === undefined ? {} : { ca }),
    ...(token === undefined ? {} : { token }),
    deadlineMs: timeoutMs,
    timeoutMs: attemptMs,
    ...(signal === undefined ? {} : { signal }),
  });
}

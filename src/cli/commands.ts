/**
 * The four lock commands, shared by `kahuna lock …`, the seed flags of kahuna-cli and the
 * interactive shell, so all three print the same lines (SPEC.md §4):
 *   f1 acquired <owner> | f0 not acquired
 *   f1 unlocked         | f0 not unlocked: not the owner | f0 not unlocked: does not exist
 *   f1 extended <owner> | f0 not extended: not the owner | f0 not extended: does not exist
 *   f1 <owner>          | f0 not found
 * The number after `f` is the fencing token in the server's answer.
 */
import { unreachable } from "../assert.ts";
import { Durability, KahunaClient, KahunaError, KahunaErrorKind } from "../client/index.ts";
import { expiresMsMax, expiresMsMin } from "../constants.ts";
import { ExitStatus } from "./exit-status.ts";
import type { Io } from "./io.ts";

export type LockCommand =
  | {
    readonly op: "lock";
    readonly resource: string;
    readonly expiresMs: number;
    readonly owner: string;
    readonly durability: Durability;
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

export type CommandOutcome = {
  readonly status: ExitStatus;
  /** Whether the owner holds the lock afterwards; undefined when the command cannot tell. */
  readonly holds: boolean | undefined;
  readonly fencingToken: number;
};

export const defaultServer = "http://127.0.0.1:2070";

/** Runs one command and prints its line; never throws for an expected failure. */
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
    io.err(`kahuna: ${error.message}`);
    const status = error.kind === KahunaErrorKind.InvalidInput
      ? ExitStatus.Usage
      : ExitStatus.Unavailable;
    return { status, holds: undefined, fencingToken: 0 };
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
      const { resource, owner, expiresMs, durability } = command;
      const { locked, fencingToken } = await client.tryLock(resource, owner, expiresMs, durability);
      const text = locked ? `f${fencingToken} acquired ${owner}` : `f${fencingToken} not acquired`;
      print(text, { owner, acquired: locked, fencingToken, expiresMs });
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
      print(`f${info.fencingToken} ${info.owner}`, { found: true, ...info });
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

/** Makes a client, or a usage message when the server list is not valid. */
export function makeClient(servers: string[]): KahunaClient | string {
  try {
    return new KahunaClient({ servers });
  } catch (error) {
    if (error instanceof KahunaError) return error.message.replace(/^servers/, "--server");
    throw error;
  }
}

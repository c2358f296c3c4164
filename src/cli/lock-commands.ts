/**
 * `kahuna lock|unlock|extend-lock|get-lock …` (SPEC.md §4): positional arguments and flags
 * become a LockCommand, or a usage message that says what was wrong.
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { Durability, KahunaError, randomOwner } from "../client/index.ts";
import { checkOwner, checkResource } from "../client/validate.ts";
import type { KahunaClient } from "../client/index.ts";
import { makeClient, parseExpiresMs, parseFormat, serverList } from "./commands.ts";
import type { Format, LockCommand } from "./commands.ts";

export type Parsed =
  | {
    readonly kind: "run";
    readonly command: LockCommand;
    readonly client: KahunaClient;
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
  "lock": "kahuna lock RESOURCE EXPIRES_MS [--owner O]",
  "unlock": "kahuna unlock RESOURCE --owner O",
  "extend-lock": "kahuna extend-lock RESOURCE EXPIRES_MS --owner O",
  "get-lock": "kahuna get-lock RESOURCE",
};

export function commandUsage(name: LockCommandName): string {
  return `usage: ${synopsis[name]} [--ephemeral] [--server URL] [--format json]`;
}

export function parseLockCommand(name: LockCommandName, args: readonly string[]): Parsed {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        owner: { type: "string" },
        ephemeral: { type: "boolean" },
        server: { type: "string", multiple: true },
        format: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    return { kind: "usage", message: (error as Error).message };
  }
  const { values, positionals } = parsed;
  if (values.help === true) return { kind: "help" };
  const takesExpires = name === "lock" || name === "extend-lock";
  const expected = takesExpires ? 2 : 1;
  if (positionals.length !== expected) {
    const what = takesExpires ? "RESOURCE and EXPIRES_MS" : "RESOURCE";
    return { kind: "usage", message: `${name} takes ${what}, got ${positionals.length} arguments` };
  }
  const resource = positionals[0]!;
  const format = parseFormat(values.format);
  if (format !== "text" && format !== "json") return { kind: "usage", message: format };
  const client = makeClient(serverList(values.server ?? [], process.env["KAHUNA_SERVER"]));
  if (typeof client === "string") return { kind: "usage", message: client };
  const durability = values.ephemeral === true ? Durability.Ephemeral : Durability.Persistent;
  const command = buildCommand(name, resource, positionals[1], values.owner, durability);
  if (typeof command === "string") return { kind: "usage", message: command };
  return { kind: "run", command, client, format };
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

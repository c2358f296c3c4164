/**
 * kahuna-cli's flag form, as in the seed (SPEC.md §4): `--lock R --expires MS`,
 * `--unlock-lock R --owner O` (alias `--unlock`), `--extend-lock R --owner O --expires MS`,
 * `--get-lock R`. With no action flag, kahuna-cli opens the interactive shell.
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { Durability } from "../client/index.ts";
import type { KahunaClient } from "../client/index.ts";
import { makeClient, parseFormat, serverList } from "./commands.ts";
import type { Format, LockCommand } from "./commands.ts";
import { buildCommand } from "./lock-commands.ts";
import type { LockCommandName } from "./lock-commands.ts";

export type SeedParsed =
  | {
    readonly kind: "run";
    readonly command: LockCommand;
    readonly client: KahunaClient;
    readonly format: Format;
  }
  | {
    readonly kind: "shell";
    readonly client: KahunaClient;
    readonly format: Format;
    readonly owner: string | undefined;
  }
  | { readonly kind: "help" }
  | { readonly kind: "usage"; readonly message: string };

export const seedUsage = [
  "usage: kahuna-cli --lock R --expires MS [--owner O]",
  "       kahuna-cli --unlock-lock R --owner O     (alias --unlock)",
  "       kahuna-cli --extend-lock R --owner O --expires MS",
  "       kahuna-cli --get-lock R",
  "       kahuna-cli                               (interactive shell)",
  "  each also takes [--ephemeral] [--server URL] [--format json]",
].join("\n");

export function parseSeedFlags(args: readonly string[]): SeedParsed {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: false,
      strict: true,
      options: {
        "lock": { type: "string" },
        "unlock-lock": { type: "string" },
        "unlock": { type: "string" },
        "extend-lock": { type: "string" },
        "get-lock": { type: "string" },
        "expires": { type: "string" },
        "owner": { type: "string" },
        "ephemeral": { type: "boolean" },
        "server": { type: "string", multiple: true },
        "format": { type: "string" },
        "help": { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    return { kind: "usage", message: (error as Error).message };
  }
  const { values } = parsed;
  if (values.help === true) return { kind: "help" };
  const format = parseFormat(values.format);
  if (format !== "text" && format !== "json") return { kind: "usage", message: format };
  const client = makeClient(serverList(values.server ?? [], process.env["KAHUNA_SERVER"]));
  if (typeof client === "string") return { kind: "usage", message: client };

  const actions: Array<[LockCommandName, string]> = [];
  if (values.lock !== undefined) actions.push(["lock", values.lock]);
  if (values["unlock-lock"] !== undefined) actions.push(["unlock", values["unlock-lock"]]);
  if (values.unlock !== undefined) actions.push(["unlock", values.unlock]);
  if (values["extend-lock"] !== undefined) actions.push(["extend-lock", values["extend-lock"]]);
  if (values["get-lock"] !== undefined) actions.push(["get-lock", values["get-lock"]]);
  if (actions.length > 1) {
    return {
      kind: "usage",
      message: "give one of --lock, --unlock-lock, --extend-lock, --get-lock",
    };
  }
  const action = actions[0];
  if (action === undefined) {
    if (values.expires !== undefined) {
      return { kind: "usage", message: "--expires goes with --lock or --extend-lock" };
    }
    if (values.ephemeral === true) {
      return {
        kind: "usage",
        message: "--ephemeral goes with an action; in the shell use elock, eunlock, …",
      };
    }
    return { kind: "shell", client, format, owner: values.owner };
  }
  const [name, resource] = action;
  if ((name === "unlock" || name === "get-lock") && values.expires !== undefined) {
    return {
      kind: "usage",
      message: `--expires does not go with --${name === "unlock" ? "unlock-lock" : name}`,
    };
  }
  if ((name === "lock" || name === "extend-lock") && values.expires === undefined) {
    return { kind: "usage", message: `--${name} needs --expires MS` };
  }
  const durability = values.ephemeral === true ? Durability.Ephemeral : Durability.Persistent;
  const command = buildCommand(name, resource, values.expires, values.owner, durability);
  if (typeof command === "string") {
    return { kind: "usage", message: command.replace("EXPIRES_MS", "--expires") };
  }
  return { kind: "run", command, client, format };
}

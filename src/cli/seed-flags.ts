/**
 * kahuna-cli's flag form, as in the seed (docs/cli.md): `--lock R --expires MS`,
 * `--unlock-lock R --owner O` (alias `--unlock`), `--extend-lock R --owner O --expires MS`,
 * `--get-lock R`. With no action flag, kahuna-cli opens the interactive shell.
 */
import { Durability } from "../client/index.ts";
import { makeConnection, parseFormat } from "./commands.ts";
import type { Connection, Format, LockCommand } from "./commands.ts";
import { parseFlags } from "./flags.ts";
import { buildCommand, clientFlags } from "./lock-commands.ts";
import type { LockCommandName } from "./lock-commands.ts";

export type SeedParsed =
  | {
    readonly kind: "run";
    readonly command: LockCommand;
    readonly connection: Connection;
    readonly format: Format;
  }
  | {
    readonly kind: "shell";
    readonly connection: Connection;
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
  "       kahuna-cli --version",
  "  each also takes [--ephemeral] [--server URL] [--ca FILE] [--token TOKEN] [--timeout 5s]",
  "                  [--format json]",
].join("\n");

export function parseSeedFlags(args: readonly string[]): SeedParsed {
  const flags = parseFlags(args, {
    ...clientFlags,
    "lock": "string",
    "unlock-lock": "string",
    "unlock": "string",
    "extend-lock": "string",
    "get-lock": "string",
    "expires": "string",
  });
  if (typeof flags === "string") return { kind: "usage", message: flags };
  if (flags.booleans.has("help")) return { kind: "help" };
  const extra = flags.positionals[0];
  if (extra !== undefined) {
    return {
      kind: "usage",
      message: `kahuna-cli takes flags or a command (lock, unlock, extend-lock, get-lock), ` +
        `got ${JSON.stringify(extra)}`,
    };
  }
  const value = (name: string) => flags.strings.get(name);
  const format = parseFormat(value("format"));
  if (format !== "text" && format !== "json") return { kind: "usage", message: format };
  const connection = makeConnection(
    flags.lists.get("server") ?? [],
    value("timeout"),
    value("ca"),
    value("token"),
  );
  if (typeof connection === "string") return { kind: "usage", message: connection };
  const values = {
    lock: value("lock"),
    "unlock-lock": value("unlock-lock"),
    unlock: value("unlock"),
    "extend-lock": value("extend-lock"),
    "get-lock": value("get-lock"),
    expires: value("expires"),
    owner: value("owner"),
    ephemeral: flags.booleans.has("ephemeral"),
  };

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
    return { kind: "shell", connection, format, owner: values.owner };
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
  return { kind: "run", command, connection, format };
}

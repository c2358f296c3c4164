/**
 * `kahuna auth add|list|remove` (docs/security.md): edits the auth file a node reads with
 * --auth-file. `add` makes a token, prints it once on stdout (so `TOKEN=$(kahuna auth add …)`
 * keeps it) and writes only its digest.
 *
 * Invariants:
 * - The file is replaced atomically: the new text goes to a temporary file beside it, created
 *   with mode 0600 and fsynced, which is then renamed over it. A node reading it on SIGHUP,
 *   or a crash mid-write, sees the old file or the new one, never half of one.
 * - A file that does not parse is never rewritten: the command stops and says what is wrong,
 *   with the same words a node would use.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import process from "node:process";
import {
  type AuthClient,
  type AuthConfig,
  clientNamePattern,
  emptyAuthConfig,
  formatAuthFile,
  prefixProblem,
} from "../auth/auth-file.ts";
import { makeToken, tokenDigest } from "../auth/token.ts";
import { AuthFileError, loadAuthFile } from "../runtime/auth-load.ts";
import { ExitStatus } from "./exit-status.ts";
import { parseFlags } from "./flags.ts";
import type { Io } from "./io.ts";

export const authUsage = [
  "usage: kahuna auth add NAME --file FILE [--prefix P]... [--read-only] [--admin]",
  "       kahuna auth list --file FILE",
  "       kahuna auth remove NAME --file FILE",
  "  --file defaults to $KAHUNA_AUTH_FILE. add prints the new client's token once; the file",
  "  keeps only its digest. --prefix P: the client may lock (or with --read-only, only read)",
  '  the resources whose names start with P ("" is every resource); --admin: it may read',
  "  /metrics and /v1/cluster. Send the nodes SIGHUP to use the changed file.",
].join("\n");

type Usage = { readonly usage: string };

/** Runs one `kahuna auth` command; the exit status. Usage errors come back as `{ usage }`. */
export function runAuthCommand(args: readonly string[], io: Io): number | Usage | "help" {
  const [action, ...rest] = args;
  if (action === undefined || action === "help" || action === "--help" || action === "-h") {
    return action === undefined ? { usage: "auth needs add, list or remove" } : "help";
  }
  if (action !== "add" && action !== "list" && action !== "remove") {
    return { usage: `auth takes add, list or remove, got ${JSON.stringify(action)}` };
  }
  const flags = parseFlags(rest, {
    file: "string",
    prefix: "strings",
    "read-only": "boolean",
    admin: "boolean",
    help: "boolean",
  });
  if (typeof flags === "string") return { usage: flags };
  if (flags.booleans.has("help")) return "help";
  const envFile = process.env["KAHUNA_AUTH_FILE"];
  const file = flags.strings.get("file") ?? (envFile === "" ? undefined : envFile);
  if (file === undefined || file.trim() === "") {
    return { usage: `auth ${action} needs --file FILE (or KAHUNA_AUTH_FILE): the auth file` };
  }
  const names = flags.positionals;
  if (action === "list") {
    if (names.length > 0) {
      return { usage: `auth list takes no NAME, got ${JSON.stringify(names[0])}` };
    }
    if (
      flags.lists.has("prefix") || flags.booleans.has("read-only") || flags.booleans.has("admin")
    ) {
      return { usage: "auth list takes only --file" };
    }
    return withFile(file, false, io, (config) => {
      for (const client of config.clients) io.out(describe(client));
      return ExitStatus.Ok;
    });
  }
  if (names.length !== 1) {
    return {
      usage: `auth ${action} takes one NAME, got ${
        names.length === 0 ? "nothing" : names.map((n) => JSON.stringify(n)).join(" ")
      }`,
    };
  }
  const name = names[0]!;
  if (!clientNamePattern.test(name)) {
    return {
      usage: `NAME must be 1 to 64 letters, digits, '.', '_', '@' or '-', got ${
        JSON.stringify(name)
      }`,
    };
  }
  if (action === "remove") {
    if (
      flags.lists.has("prefix") || flags.booleans.has("read-only") || flags.booleans.has("admin")
    ) {
      return { usage: "auth remove takes only NAME and --file" };
    }
    return withFile(file, false, io, (config) => {
      if (!config.clients.some((client) => client.name === name)) {
        io.err(`kahuna: there is no client ${JSON.stringify(name)} in ${file}`);
        return ExitStatus.No;
      }
      write(file, { ...config, clients: config.clients.filter((c) => c.name !== name) });
      io.err(`kahuna: removed client ${JSON.stringify(name)} from ${file}; send the nodes SIGHUP`);
      return ExitStatus.Ok;
    });
  }
  const prefixes = flags.lists.get("prefix") ?? [];
  for (const prefix of prefixes) {
    const problem = prefixProblem(prefix);
    if (problem !== undefined) return { usage: `--prefix ${problem}` };
  }
  const readOnly = flags.booleans.has("read-only");
  const admin = flags.booleans.has("admin");
  if (prefixes.length === 0 && !admin) {
    return {
      usage: 'auth add needs --prefix P (the resources it may lock; "" for every one) or --admin',
    };
  }
  if (readOnly && prefixes.length === 0) return { usage: "--read-only goes with --prefix P" };
  return withFile(file, true, io, (config) => {
    if (config.clients.some((client) => client.name === name)) {
      io.err(
        `kahuna: client ${JSON.stringify(name)} is already in ${file}; pick another name, or ` +
          `remove it first (kahuna auth remove ${name})`,
      );
      return ExitStatus.No;
    }
    const token = makeToken();
    const client: AuthClient = {
      name,
      digest: tokenDigest(token),
      lock: readOnly ? [] : prefixes,
      read: readOnly ? prefixes : [],
      admin,
    };
    write(file, { ...config, clients: [...config.clients, client] });
    io.out(token);
    io.err(
      `kahuna: added client ${JSON.stringify(name)} to ${file}. Its token is printed above, ` +
        `once: the file keeps only its digest. Send the nodes SIGHUP to use it.`,
    );
    return ExitStatus.Ok;
  });
}

/** Runs `change` on the file's config; a missing file is empty when `mayCreate`. */
function withFile(
  file: string,
  mayCreate: boolean,
  io: Io,
  change: (config: AuthConfig) => number,
): number {
  let config: AuthConfig;
  try {
    config = loadAuthFile(file, "--file");
  } catch (error) {
    if (!(error instanceof AuthFileError)) throw error;
    if (!(mayCreate && /does not exist/.test(error.message))) {
      io.err(`kahuna: ${error.message}`);
      return ExitStatus.No;
    }
    config = emptyAuthConfig;
  }
  try {
    return change(config);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    io.err(`kahuna: cannot write ${file}: ${String(code ?? error)}`);
    return ExitStatus.No;
  }
}

/** One client as `auth list` prints it: `NAME lock [...] read [...] admin BOOL`. */
function describe(client: AuthClient): string {
  return `${client.name} lock ${JSON.stringify(client.lock)} read ${JSON.stringify(client.read)} ` +
    `admin ${client.admin}`;
}

/** Writes the file atomically: a 0600 temporary file beside it, fsynced, renamed over it. */
function write(file: string, config: AuthConfig): void {
  const temporary = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const fd = openSync(temporary, "wx", 0o600);
  try {
    writeSync(fd, formatAuthFile(config));
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  // The rename itself is durable once the directory is: best effort, as not every system lets
  // a directory be opened for fsync.
  try {
    const directory = openSync(dirname(file), "r");
    try {
      fsyncSync(directory);
    } finally {
      closeSync(directory);
    }
  } catch {
    // The new file is in place either way.
  }
}

/**
 * The auth file (`kahuna serve --auth-file FILE`, docs/security.md): the clients a node accepts,
 * each with a name, the SHA-256 digest of its token (never the token itself) and what it may do.
 * Pure: text in, a checked AuthConfig (or one line saying what is wrong) out, and back.
 *
 *   {
 *     "version": 1,
 *     "clients": [
 *       { "name": "deployer", "digest": "<64 hex>", "lock": ["deploys/"], "read": [], "admin": false }
 *     ]
 *   }
 *
 * Invariants of a parsed config:
 * - names and digests are unique (a token names exactly one client);
 * - every digest is 64 lowercase hex digits;
 * - every prefix is a string a resource could start with: at most 512 UTF-8 bytes, no NUL,
 *   well-formed Unicode ("" is every resource).
 * A field the format does not have is an error, not ignored: a typo such as "locks" must not
 * silently leave a client with fewer (or, read as a default, more) permissions than meant.
 */
import { authClientsMax, resourceBytesMax } from "../constants.ts";
import { echo, utf8Bytes } from "../codec/lock-request.ts";

export const authFileVersion = 1;
/** Client names: what logs, metrics and 403 answers show. */
export const clientNamePattern = /^[A-Za-z0-9_.@-]{1,64}$/;
const digestPattern = /^[0-9a-f]{64}$/;
const unpairedSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export type AuthClient = {
  readonly name: string;
  /** SHA-256 of the token's UTF-8 bytes, lowercase hex. */
  readonly digest: string;
  /** Resource prefixes it may TryLock, Extend and Unlock (and Get). */
  readonly lock: readonly string[];
  /** Resource prefixes it may Get. */
  readonly read: readonly string[];
  /** Whether it may read /metrics and /v1/cluster. */
  readonly admin: boolean;
};

export type AuthConfig = {
  readonly version: typeof authFileVersion;
  readonly clients: readonly AuthClient[];
};

export const emptyAuthConfig: AuthConfig = { version: authFileVersion, clients: [] };

const topFields = ["version", "clients"];
const clientFields = ["name", "digest", "lock", "read", "admin"];

class FileProblem extends Error {}

/** The file's text as a config, or `{ error }`: one line naming the entry and the field. */
export function parseAuthFile(text: string): AuthConfig | { readonly error: string } {
  try {
    return parse(text);
  } catch (error) {
    if (error instanceof FileProblem) return { error: error.message };
    throw error;
  }
}

function parse(text: string): AuthConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new FileProblem(`is not valid JSON (${why.slice(0, 100)})`);
  }
  if (!isObject(value)) throw new FileProblem(`must be a JSON object, got ${echo(value)}`);
  unknownFields(value, topFields, "");
  if (value["version"] !== authFileVersion) {
    throw new FileProblem(
      `version must be ${authFileVersion}, got ${echo(value["version"])}`,
    );
  }
  const list = value["clients"];
  if (!Array.isArray(list)) {
    throw new FileProblem(`clients must be a list of clients, got ${echo(list)}`);
  }
  if (list.length > authClientsMax) {
    throw new FileProblem(`clients must list at most ${authClientsMax}, got ${list.length}`);
  }
  const clients: AuthClient[] = [];
  const names = new Set<string>();
  const digests = new Map<string, string>();
  list.forEach((item, index) => {
    const client = parseClient(item, index);
    const where = entryName(index, client.name);
    if (names.has(client.name)) {
      throw new FileProblem(`${where}: name ${JSON.stringify(client.name)} is listed twice`);
    }
    const other = digests.get(client.digest);
    if (other !== undefined) {
      throw new FileProblem(
        `${where}: digest is also the digest of client ${JSON.stringify(other)}; ` +
          `each client needs its own token`,
      );
    }
    names.add(client.name);
    digests.set(client.digest, client.name);
    clients.push(client);
  });
  return { version: authFileVersion, clients };
}

function parseClient(item: unknown, index: number): AuthClient {
  const at = `clients[${index}]`;
  if (!isObject(item)) throw new FileProblem(`${at} must be an object, got ${echo(item)}`);
  const rawName = item["name"];
  if (typeof rawName !== "string" || !clientNamePattern.test(rawName)) {
    throw new FileProblem(
      `${at}: name must be 1 to 64 letters, digits, '.', '_', '@' or '-', got ${echo(rawName)}`,
    );
  }
  const where = entryName(index, rawName);
  unknownFields(item, clientFields, `${where}: `);
  const digest = item["digest"];
  if (typeof digest !== "string" || !digestPattern.test(digest)) {
    throw new FileProblem(
      `${where}: digest must be the SHA-256 of the token as 64 lowercase hex digits ` +
        `(kahuna auth add writes it), got ${echo(digest)}`,
    );
  }
  const admin = item["admin"] ?? false;
  if (typeof admin !== "boolean") {
    throw new FileProblem(`${where}: admin must be true or false, got ${echo(admin)}`);
  }
  return {
    name: rawName,
    digest,
    lock: prefixes(item["lock"], `${where}: lock`),
    read: prefixes(item["read"], `${where}: read`),
    admin,
  };
}

function prefixes(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new FileProblem(`${field} must be a list of resource prefixes, got ${echo(value)}`);
  }
  return value.map((prefix, index) => {
    const problem = prefixProblem(prefix);
    if (problem !== undefined) throw new FileProblem(`${field}[${index}] ${problem}`);
    return prefix as string;
  });
}

/** Why `prefix` cannot start a resource name, or undefined when it can. */
export function prefixProblem(prefix: unknown): string | undefined {
  const allowed = `must be a string of at most ${resourceBytesMax} UTF-8 bytes without NUL`;
  if (typeof prefix !== "string") return `${allowed}, got ${echo(prefix)}`;
  if (prefix.includes("\0")) return `${allowed}, got one with a NUL`;
  if (unpairedSurrogate.test(prefix)) return `${allowed}, got one that is not well-formed Unicode`;
  const bytes = utf8Bytes(prefix);
  if (bytes > resourceBytesMax) return `${allowed}, got ${bytes} bytes`;
  return undefined;
}

function unknownFields(
  value: Record<string, unknown>,
  allowed: readonly string[],
  where: string,
): void {
  const unknown = Object.keys(value).find((key) => !allowed.includes(key));
  if (unknown !== undefined) {
    throw new FileProblem(
      `${where}unknown field ${JSON.stringify(unknown)}; allowed fields are ${allowed.join(", ")}`,
    );
  }
}

function entryName(index: number, name: string): string {
  return `clients[${index}] (${JSON.stringify(name)})`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The file's text for a config: what `kahuna auth add` writes, one client per entry. */
export function formatAuthFile(config: AuthConfig): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}

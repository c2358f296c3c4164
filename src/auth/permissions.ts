/**
 * What an authenticated client may do (docs/security.md), decided from its auth file entry.
 * Pure.
 *
 * - TryLock, Extend and Unlock of a resource need one of the client's `lock` prefixes to start
 *   it; Get and Watch need a `lock` or a `read` prefix (a client that may hold a lock may look
 *   at it).
 * - /metrics and /v1/cluster need `admin`.
 * A prefix matches by the resource's first characters, exactly ("" matches every resource):
 * "jobs/" covers "jobs/nightly" but not "jobs" nor "Jobs/nightly".
 */
import type { LockOp } from "../locks/types.ts";
import type { AuthClient } from "./auth-file.ts";

export type AuthAction =
  | { readonly kind: "lock"; readonly op: LockOp; readonly resource: string }
  | { readonly kind: "admin"; readonly what: string };

const verbs: Readonly<Record<LockOp, string>> = {
  tryLock: "lock",
  extend: "extend",
  unlock: "unlock",
  get: "read",
  watch: "watch",
};

/** Undefined when `client` may do `action`; otherwise the 403 message, naming what was refused. */
export function refusal(client: AuthClient, action: AuthAction): string | undefined {
  const who = `client ${JSON.stringify(client.name)}`;
  if (action.kind === "admin") {
    if (client.admin) return undefined;
    return `${who} may not read ${action.what}: that needs an admin client ` +
      `("admin": true in the auth file)`;
  }
  // A watch shows what a Get shows, as it changes: reading.
  const reads = action.op === "get" || action.op === "watch";
  const allowed = reads ? [...client.lock, ...client.read] : client.lock;
  if (allowed.some((prefix) => action.resource.startsWith(prefix))) return undefined;
  const verb = verbs[action.op];
  const resource = shortName(action.resource);
  const kind = reads ? "lock or read" : "lock";
  const has = allowed.length === 0
    ? `it has no ${kind} prefixes`
    : `its ${kind} prefixes are ${[...new Set(allowed)].map(quote).join(", ")}`;
  return `${who} may not ${verb} ${resource}: ${has}`;
}

function quote(prefix: string): string {
  return prefix === "" ? '"" (every resource)' : shortName(prefix);
}

/** A resource or prefix in a message: quoted, and cut at 80 characters. */
function shortName(name: string): string {
  return JSON.stringify(name.length <= 80 ? name : `${name.slice(0, 80)}…`);
}

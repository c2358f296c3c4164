/**
 * Client tokens (docs/security.md): `kahuna_` and 32 random bytes in base64url, made by
 * `kahuna auth add` and shown once. The auth file keeps only their SHA-256 digest, so a copy of
 * the file does not let anyone in; a node digests the token a request presents and looks the
 * digest up.
 *
 * Invariant: a presented digest is compared with every client's, each with
 * crypto.timingSafeEqual and none skipped, so how long a lookup takes says nothing about how
 * close a guess came, nor which client it was close to. (node:crypto works in Bun and Deno.)
 */
import { Buffer } from "node:buffer";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { AuthClient } from "./auth-file.ts";

export { tokenCharsMax } from "../constants.ts";

export const tokenPrefix = "kahuna_";
const tokenBytes = 32;

/** A fresh token: 256 bits from the system's random source. */
export function makeToken(): string {
  return tokenPrefix + randomBytes(tokenBytes).toString("base64url");
}

/** What the auth file stores for `token`: SHA-256 of its UTF-8 bytes, lowercase hex. */
export function tokenDigest(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** The client whose digest is `digest` (64 hex digits), compared in constant time. */
export function clientOfDigest(
  clients: readonly AuthClient[],
  digest: string,
): AuthClient | undefined {
  const presented = Buffer.from(digest, "hex");
  let found: AuthClient | undefined;
  for (const client of clients) {
    const stored = Buffer.from(client.digest, "hex");
    // Both are 32 bytes (the file's digests are checked, the presented one is ours), so
    // timingSafeEqual never throws; the loop goes on after a match.
    if (stored.length === presented.length && timingSafeEqual(stored, presented)) {
      found = client;
    }
  }
  return found;
}

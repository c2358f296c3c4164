/**
 * A node's client authentication when it runs with --auth-file (docs/security.md): who a token
 * is, what that client may do, and how many requests were refused and why. The REST app and
 * the binary listener share one, so both ways in answer alike; a SIGHUP swaps its config
 * (`replace`), and every request after that is judged by the new one, on connections already
 * open too.
 *
 * A refusal is a value: 401 (no token, or one that matches no client: Unauthorized) or 403 (a
 * known client asking for what its entry does not allow: Forbidden), with a message that says
 * what to do. Nothing here throws on what a client sends.
 */
import type { PrometheusText } from "../metrics/text-format.ts";
import type { AuthClient, AuthConfig } from "./auth-file.ts";
import { type AuthAction, refusal } from "./permissions.ts";
import { clientOfDigest, tokenCharsMax, tokenDigest } from "./token.ts";

export type RefusalReason = "missing" | "invalid" | "forbidden";

export type Identity =
  | { readonly kind: "client"; readonly client: AuthClient }
  | {
    readonly kind: "refused";
    readonly status: 401;
    readonly reason: "missing" | "invalid";
    readonly error: string;
  };

export type Permission =
  | { readonly kind: "allowed" }
  | {
    readonly kind: "refused";
    readonly status: 403;
    readonly reason: "forbidden";
    readonly error: string;
  };

export const missingTokenError =
  "this server requires a token: send it as the header Authorization: Bearer TOKEN " +
  "(the binary protocol: an auth item first on the connection)";
export const invalidTokenError =
  "the token is not valid on this server: it matches no client of its auth file " +
  "(a new token comes from kahuna auth add)";

/** A token the binary handshake presented, digested once for the connection's life. */
export type PresentedToken = { readonly digest: string };

export class Authenticator {
  #config: AuthConfig;
  #generation = 0;
  readonly #refused: Record<RefusalReason, number> = { missing: 0, invalid: 0, forbidden: 0 };

  constructor(config: AuthConfig) {
    this.#config = config;
  }

  /** Bumped by every `replace`: connections re-identify their token when it moves. */
  get generation(): number {
    return this.#generation;
  }

  get clientCount(): number {
    return this.#config.clients.length;
  }

  replace(config: AuthConfig): void {
    this.#config = config;
    this.#generation += 1;
  }

  /** The client of a REST request's Authorization header (null: none sent). */
  identifyHeader(header: string | null | undefined): Identity {
    if (header === null || header === undefined || header.trim() === "") {
      return this.#refuse("missing", missingTokenError);
    }
    const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) {
      return this.#refuse(
        "invalid",
        'the Authorization header must be "Bearer TOKEN" (the token kahuna auth add printed)',
      );
    }
    return this.identifyToken(match[1]!);
  }

  /** The client of a token as sent (REST header or binary handshake). */
  identifyToken(token: string): Identity {
    const presented = present(token);
    if (presented === undefined) return this.#refuse("invalid", invalidTokenError);
    return this.identifyPresented(presented);
  }

  /** The client of a token digested earlier; refusals are counted, like any request's. */
  identifyPresented(presented: PresentedToken | undefined): Identity {
    if (presented === undefined) return this.#refuse("missing", missingTokenError);
    const client = clientOfDigest(this.#config.clients, presented.digest);
    if (client === undefined) return this.#refuse("invalid", invalidTokenError);
    return { kind: "client", client };
  }

  /** Whether `client` may do `action`; a refusal is counted. */
  check(client: AuthClient, action: AuthAction): Permission {
    const why = refusal(client, action);
    if (why === undefined) return { kind: "allowed" };
    this.#refused.forbidden += 1;
    return { kind: "refused", status: 403, reason: "forbidden", error: why };
  }

  /** Counts a refusal made elsewhere (a binary request sent before any handshake). */
  countRefusal(reason: RefusalReason): void {
    this.#refused[reason] += 1;
  }

  writeMetrics(out: PrometheusText): void {
    out.family(
      "kahuna_auth_refused_total",
      "counter",
      "Client requests refused by --auth-file: missing (no token: 401), invalid (a token that " +
        "matches no client: 401), forbidden (a client asking beyond its permissions: 403).",
    );
    for (const reason of ["missing", "invalid", "forbidden"] as const) {
      out.sample(this.#refused[reason], { reason });
    }
    out.family("kahuna_auth_clients", "gauge", "Clients in the auth file in use.");
    out.sample(this.#config.clients.length);
  }

  #refuse(reason: "missing" | "invalid", error: string): Identity {
    this.#refused[reason] += 1;
    return { kind: "refused", status: 401, reason, error };
  }
}

/** A token digested for lookups; undefined when it is too long to be one. */
export function present(token: string): PresentedToken | undefined {
  if (token.length === 0 || token.length > tokenCharsMax) return undefined;
  return { digest: tokenDigest(token) };
}

/**
 * Sends one REST call (docs/api.md) to a list of servers until one gives a definite answer.
 *
 * Invariants:
 * - The request body is sent unchanged on every attempt: the owner never changes across
 *   retries, which is what makes a retried TryLock safe (it is idempotent for one owner).
 * - Attempts are bounded by `retries + 1` and by `deadlineMs`; every wait between attempts is
 *   an exponential backoff with jitter, capped, and never past the deadline.
 * - A 400 is not retried: the same input would be refused again.
 * Uses only fetch, AbortSignal.timeout and setTimeout, so it runs in Bun, Deno and Node 20.
 */
import {
  type LockHolder,
  ResponseType,
  type WatchAnswer,
  type WatchEvent,
} from "../locks/types.ts";
import { KahunaError, KahunaErrorKind } from "./errors.ts";
import { fetchOptionsForCa } from "./tls-fetch.ts";

export type FailoverOptions = {
  readonly servers: readonly string[];
  /** Per-attempt limit on one HTTP request. */
  readonly timeoutMs: number;
  /** Attempts after the first. */
  readonly retries: number;
  /** Limit on the whole call, retries and waits included. */
  readonly deadlineMs: number;
  /** Ends every call in progress (and later ones) with an Aborted error. */
  readonly signal?: AbortSignal | undefined;
  /**
   * TLS (docs/security.md): `ca` is the PEM text of the CA that signed the servers'
   * certificates; the binary transport uses TLS when this is set.
   */
  readonly tls?: { readonly ca?: string | undefined } | undefined;
  /** The client token for servers with --auth-file (docs/security.md): sent on every attempt. */
  readonly token?: string | undefined;
};

/** A definite answer: one of the lock outcomes of docs/api.md (HTTP 200). */
export type Answer = {
  readonly type: number;
  readonly fencingToken: number;
  readonly owner: string | null;
  readonly expiresMs: number;
  /** True when an earlier attempt of this call had an unknown outcome (504, timeout). */
  readonly afterUnknownOutcome: boolean;
  /** Only for a watch. */
  readonly watch?: WatchAnswer;
  /** Only for get-info: the holder's published value. */
  readonly value?: string;
  /** Only for get-info of a shared lock: its holders, and the most it admits now. */
  readonly holders?: readonly LockHolder[];
  readonly limit?: number;
};

type Attempt =
  | { readonly kind: "answer"; readonly answer: Omit<Answer, "afterUnknownOutcome"> }
  | { readonly kind: "invalid"; readonly message: string }
  | { readonly kind: "refused"; readonly error: KahunaError }
  | {
    readonly kind: "retry";
    readonly problem: string;
    readonly unknownOutcome: boolean;
    /** A server answered MustRetry: it runs, but cannot serve this lock now. */
    readonly mustRetry?: boolean;
  };

const backoffBaseMs = 25;
const backoffCapMs = 1_000;

/** Answers that settle a call: a lock outcome, yes or no. Anything else is retried. */
export const definiteTypes: ReadonlySet<number> = new Set([
  ResponseType.Locked,
  ResponseType.Busy,
  ResponseType.Extended,
  ResponseType.Unlocked,
  ResponseType.Got,
  ResponseType.LockDoesNotExist,
  ResponseType.InvalidOwner,
  ResponseType.Watched,
]);

export class Failover {
  readonly #options: FailoverOptions;
  /** Added to every fetch: how this runtime's fetch is told to trust `tls.ca`. */
  readonly #fetchOptions: Record<string, unknown>;
  readonly #headers: Record<string, string>;
  /** The server that answered last: the next call starts there. */
  #preferred = 0;

  constructor(options: FailoverOptions) {
    this.#options = options;
    const ca = options.tls?.ca;
    this.#fetchOptions = ca === undefined ? {} : fetchOptionsForCa(ca);
    this.#headers = {
      "content-type": "application/json",
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
    };
  }

  get servers(): readonly string[] {
    return this.#options.servers;
  }

  /**
   * `waitUntilMs` (a performance.now() reading) makes a TryLock wait in line until then: each
   * attempt asks for the wait that is left, and its time-out and the call's deadline grow by it.
   */
  async call(
    path: string,
    body: Record<string, unknown>,
    waitUntilMs?: number,
    callSignal?: AbortSignal,
  ): Promise<Answer> {
    const { servers, retries } = this.#options;
    const signal = bothSignals(this.#options.signal, callSignal);
    const started = performance.now();
    const deadlineMs = this.#options.deadlineMs + waitLeftMs(waitUntilMs, started);
    const problems: string[] = [];
    let unknownOutcome = false;
    let mustRetry = false;
    for (let attempt = 0; attempt <= retries; attempt++) {
      const index = (this.#preferred + attempt) % servers.length;
      const server = servers[index]!;
      const remainingMs = deadlineMs - (performance.now() - started);
      throwIfAborted(signal, attempt > 0);
      const waitMs = waitLeftMs(waitUntilMs, performance.now());
      const sent = waitUntilMs === undefined ? body : { ...body, waitMs };
      const outcome = await this.#attempt(server, path, sent, remainingMs, waitMs, signal);
      throwIfAborted(signal, true);
      if (outcome.kind === "answer") {
        this.#preferred = index;
        return { ...outcome.answer, afterUnknownOutcome: unknownOutcome };
      }
      if (outcome.kind === "invalid") {
        throw new KahunaError(KahunaErrorKind.InvalidInput, outcome.message);
      }
      if (outcome.kind === "refused") throw outcome.error;
      unknownOutcome ||= outcome.unknownOutcome;
      mustRetry ||= outcome.mustRetry === true;
      problems.push(`${server}: ${outcome.problem}`);
      const pauseMs = backoffMs(attempt);
      if (performance.now() - started + pauseMs >= deadlineMs) break;
      if (attempt < retries) await sleep(pauseMs, signal);
    }
    throwIfAborted(signal, true);
    throw exhausted(problems, { unknownOutcome, mustRetry }, servers);
  }

  async #attempt(
    server: string,
    path: string,
    body: Record<string, unknown>,
    remainingMs: number,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Attempt> {
    const timeoutMs = Math.max(
      1,
      Math.min(this.#options.timeoutMs + waitMs, Math.floor(remainingMs)),
    );
    let response: Response;
    try {
      response = await fetch(`${server}${path}`, {
        ...this.#fetchOptions,
        method: "POST",
        headers: this.#headers,
        body: JSON.stringify(body),
        signal: withTimeout(signal, timeoutMs),
      });
    } catch (error) {
      const timedOut = error instanceof Error &&
        (error.name === "TimeoutError" || error.name === "AbortError");
      // A request that timed out may have reached the server and been applied.
      if (timedOut) {
        return { kind: "retry", problem: `no answer within ${timeoutMs} ms`, unknownOutcome: true };
      }
      return {
        kind: "retry",
        problem: `unreachable (${networkReason(error)})`,
        unknownOutcome: false,
      };
    }
    return await readResponse(response, this.#options.token !== undefined);
  }
}

async function readResponse(response: Response, tokenGiven: boolean): Promise<Attempt> {
  let json: unknown;
  try {
    json = await response.json();
  } catch {
    return {
      kind: "retry",
      problem: `HTTP ${response.status} with a body that is not JSON (is this a kahuna server?)`,
      unknownOutcome: false,
    };
  }
  const record = typeof json === "object" && json !== null ? json as Record<string, unknown> : {};
  if (response.status === 400) {
    const message = typeof record["error"] === "string" ? record["error"] : "invalid input";
    return { kind: "invalid", message: `the server refused the request: ${message}` };
  }
  if (response.status === 401 || response.status === 403) {
    const error = typeof record["error"] === "string" ? record["error"] : undefined;
    return { kind: "refused", error: refusedError(response.status, error, tokenGiven) };
  }
  // The body's type decides even when a proxy in between rewrote the status.
  if (response.status === 503 || record["type"] === ResponseType.MustRetry) {
    const why = typeof record["error"] === "string" ? record["error"] : "no leader yet; retry";
    return {
      kind: "retry",
      problem: `answered 503 (${why.replace(/; retry$/, "")})`,
      unknownOutcome: false,
      mustRetry: true,
    };
  }
  if (response.status === 504 || record["type"] === ResponseType.Indeterminate) {
    return {
      kind: "retry",
      problem: "outcome unknown (write not confirmed)",
      unknownOutcome: true,
    };
  }
  if (response.status !== 200) {
    const detail = typeof record["error"] === "string" ? `: ${record["error"]}` : "";
    // A 5xx may come after the write was applied; any other status is not kahuna's answer.
    const unknownOutcome = response.status >= 500;
    return { kind: "retry", problem: `HTTP ${response.status}${detail}`, unknownOutcome };
  }
  const type = record["type"];
  const fencingToken = record["fencingToken"] ?? 0;
  if (typeof type !== "number" || !definiteTypes.has(type) || typeof fencingToken !== "number") {
    return {
      kind: "retry",
      problem: `unexpected answer ${JSON.stringify(json)} (is this a kahuna server?)`,
      unknownOutcome: false,
    };
  }
  const owner = typeof record["owner"] === "string" ? record["owner"] : null;
  const expiresMs = typeof record["expiresMs"] === "number" ? record["expiresMs"] : 0;
  if (type !== ResponseType.Watched) {
    const value = typeof record["value"] === "string" ? { value: record["value"] } : {};
    const shared = readHolders(record);
    return {
      kind: "answer",
      answer: { type, fencingToken, owner, expiresMs, ...value, ...shared },
    };
  }
  const watch = readWatch(record);
  if (watch === undefined) {
    return {
      kind: "retry",
      problem: `a watch answer without its events ${JSON.stringify(json).slice(0, 200)}`,
      unknownOutcome: false,
    };
  }
  return { kind: "answer", answer: { type, fencingToken, owner, expiresMs, watch } };
}

/** A shared lock's get-info fields, `holders` and `limit`, when they have their shape. */
function readHolders(
  record: Record<string, unknown>,
): { holders: LockHolder[]; limit: number } | Record<string, never> {
  const { holders, limit } = record;
  if (!Array.isArray(holders) || typeof limit !== "number") return {};
  const read: LockHolder[] = [];
  for (const item of holders as unknown[]) {
    if (typeof item !== "object" || item === null) return {};
    const h = item as Record<string, unknown>;
    const { owner, fencingToken, expiresMs, value } = h;
    if (
      typeof owner !== "string" || typeof fencingToken !== "number" ||
      typeof expiresMs !== "number"
    ) {
      return {};
    }
    read.push({ owner, fencingToken, expiresMs, ...(typeof value === "string" ? { value } : {}) });
  }
  return { holders: read, limit };
}

/** A watch answer's fields, checked for their shape (docs/api.md). */
function readWatch(record: Record<string, unknown>): WatchAnswer | undefined {
  const { cursor, missed, events } = record;
  if (typeof cursor !== "string" || typeof missed !== "boolean" || !Array.isArray(events)) {
    return undefined;
  }
  const read: WatchEvent[] = [];
  for (const item of events as unknown[]) {
    if (typeof item !== "object" || item === null) return undefined;
    const e = item as Record<string, unknown>;
    const kind = e["kind"];
    if (
      kind !== "state" && kind !== "acquired" && kind !== "proclaimed" && kind !== "released" &&
      kind !== "expired"
    ) {
      return undefined;
    }
    if (
      typeof e["cursor"] !== "string" || typeof e["owner"] !== "string" ||
      typeof e["fencingToken"] !== "number"
    ) {
      return undefined;
    }
    read.push({
      kind,
      cursor: e["cursor"],
      owner: e["owner"],
      fencingToken: e["fencingToken"],
      ...(typeof e["expiresMs"] === "number" ? { expiresMs: e["expiresMs"] } : {}),
      ...(typeof e["value"] === "string" ? { value: e["value"] } : {}),
    });
  }
  return { cursor, missed, events: read };
}

/**
 * The error once every attempt failed. `listening` ends the advice: what should be running
 * at the servers ("is running", or "listens for the binary protocol").
 */
export function exhausted(
  problems: string[],
  seen: { readonly unknownOutcome: boolean; readonly mustRetry: boolean },
  servers: readonly string[],
  listening = "is running",
): KahunaError {
  const tried = problems.length;
  // The same problem from every attempt is said once.
  const distinct = [...new Set(problems)].slice(-3).join("; ");
  if (seen.unknownOutcome) {
    return new KahunaError(
      KahunaErrorKind.Indeterminate,
      `outcome unknown after ${tried} attempts (${distinct}); check the lock with get-lock ` +
        `and retry with the same owner`,
    );
  }
  if (seen.mustRetry && problems.every((problem) => problem.includes("too many"))) {
    // The servers answered, but are at a bound (a lock's line, requests in flight).
    return new KahunaError(
      KahunaErrorKind.NoMajority,
      `the servers are at a limit and could not take this call after ${tried} attempts ` +
        `(${distinct}); retry later`,
    );
  }
  if (seen.mustRetry) {
    return new KahunaError(
      KahunaErrorKind.NoMajority,
      `no majority of the cluster is reachable: kahuna servers answered but could not serve ` +
        `this lock after ${tried} attempts (${distinct}); check that most of the cluster's ` +
        `nodes are running and can reach each other`,
    );
  }
  return new KahunaError(
    KahunaErrorKind.Unavailable,
    `no kahuna server answered after ${tried} attempts (${distinct}); check that a server ` +
      `${listening} at ${servers.join(", ")}`,
  );
}

/**
 * The error of a 401 or a 403 (docs/security.md), saying what to do. The CLI says `--token`
 * where this says `token` (cli/commands.ts).
 */
export function refusedError(
  status: 401 | 403,
  serverError: string | undefined,
  tokenGiven: boolean,
): KahunaError {
  if (status === 403) {
    return new KahunaError(
      KahunaErrorKind.Forbidden,
      `403: ${serverError ?? "this client may not do that"}; ask for a token that may`,
    );
  }
  return new KahunaError(
    KahunaErrorKind.Unauthorized,
    tokenGiven
      ? "401: the server does not accept this token (it matches no client of the server's " +
        "--auth-file): check the token, or get a new one (kahuna auth add)"
      : "401: this server requires a token: pass token to KahunaClient",
  );
}

/** The wait left until `waitUntilMs` at `nowMs`, whole ms; 0 when there is none. */
export function waitLeftMs(waitUntilMs: number | undefined, nowMs: number): number {
  return waitUntilMs === undefined ? 0 : Math.max(0, Math.floor(waitUntilMs - nowMs));
}

/** Exponential backoff with "equal jitter": half fixed, half random, capped. */
export function backoffMs(attempt: number): number {
  const ceilingMs = Math.min(backoffCapMs, backoffBaseMs * 2 ** attempt);
  return Math.round(ceilingMs / 2 + Math.random() * (ceilingMs / 2));
}

/** A short reason for a failed connection, worded the same in every runtime. */
function networkReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  const causeCode = typeof cause === "object" && cause !== null
    ? (cause as { code?: unknown }).code
    : undefined;
  const code = causeCode ?? (error as { code?: unknown }).code;
  const text = `${String(code ?? "")} ${error.message} ${
    cause instanceof Error ? cause.message : ""
  }`;
  if (/ECONNREFUSED|connection refused/i.test(text)) return "connection refused";
  if (/ECONNRESET|connection reset/i.test(text)) return "connection reset";
  if (/ENOTFOUND|EAI_AGAIN|dns|lookup/i.test(text)) return "host name not found";
  if (/EHOSTUNREACH|ENETUNREACH|unreachable/i.test(text)) return "host unreachable";
  return typeof code === "string" ? code : error.message;
}

/** Waits `ms`, or less when `signal` aborts (the caller then checks it). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** The client's signal and one call's, as one; either may be missing. */
export function bothSignals(
  a: AbortSignal | undefined,
  b: AbortSignal | undefined,
): AbortSignal | undefined {
  if (a === undefined) return b;
  return b === undefined ? a : AbortSignal.any([a, b]);
}

function withTimeout(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
}

/**
 * The error of a call its caller aborted. `sent` says whether a request may already have
 * reached a server: then a write's outcome is unknown.
 */
export function throwIfAborted(signal: AbortSignal | undefined, sent: boolean): void {
  if (signal?.aborted !== true) return;
  throw new KahunaError(
    KahunaErrorKind.Aborted,
    sent ? "cancelled; a write may or may not have happened" : "cancelled before it was sent",
  );
}

/**
 * The binary-protocol twin of failover.ts: sends one lock call to a list of servers
 * ("host:port" of their --binary-port) until one gives a definite answer, over one pipelined
 * connection per server, opened on first use and reopened after a failure.
 *
 * It keeps failover.ts's promises: the request is sent unchanged on every attempt (the owner
 * never changes, so a retried TryLock is safe); attempts are bounded by `retries + 1` and by
 * `deadlineMs`, with capped, jittered exponential backoff between them; InvalidInput is not
 * retried. It takes the same REST paths as failover.ts so KahunaClient can use either.
 *
 * The connection module (and with it the msgpack codec) is loaded on the first call, so a
 * REST-only client never loads it.
 *
 * Routing: with several servers, it asks each (a route request) which node it is and where
 * it sees each partition's leader, at most once a second and again after a MustRetry, and
 * sends each call first to its partition's leader. A stale map only costs a hop: a node that
 * does not lead the partition forwards the request.
 */
import { Durability, type LockRequest, type LockResponse, ResponseType } from "../locks/types.ts";
import type { RouteInfo } from "../codec/lock-wire.ts";
import { type BinaryAddress, parseBinaryAddress } from "./binary-address.ts";
import type { BinaryConnection } from "./binary-connection.ts";
import { KahunaError, KahunaErrorKind } from "./errors.ts";
import { leaderOf, mergeRoutes, type RouteMap } from "./routes.ts";
import {
  type Answer,
  backoffMs,
  bothSignals,
  definiteTypes,
  exhausted,
  type FailoverOptions,
  refusedError,
  sleep,
  throwIfAborted,
  waitLeftMs,
} from "./failover.ts";

const routesRefreshMs = 1_000;

type Attempt =
  | { readonly kind: "answer"; readonly response: LockResponse }
  | { readonly kind: "invalid"; readonly message: string }
  | { readonly kind: "refused"; readonly error: KahunaError }
  | {
    readonly kind: "retry";
    readonly problem: string;
    readonly unknownOutcome: boolean;
    readonly mustRetry?: boolean;
  };

export class BinaryFailover {
  readonly #options: FailoverOptions;
  readonly #addresses: readonly BinaryAddress[];
  readonly #connections: (Promise<BinaryConnection> | undefined)[];
  #preferred = 0;
  /** The node id of each server, once it answered a route request. */
  readonly #nodes: (string | undefined)[];
  #routes: RouteMap | undefined;
  #routesAtMs = Number.NEGATIVE_INFINITY;
  #refreshing = false;

  /** Throws InvalidInput when a server is not host:port. */
  constructor(options: FailoverOptions) {
    this.#options = options;
    this.#addresses = options.servers.map((server) => {
      const address = parseBinaryAddress(server);
      if ("error" in address) throw new KahunaError(KahunaErrorKind.InvalidInput, address.error);
      return address;
    });
    this.#connections = this.#addresses.map(() => undefined);
    this.#nodes = this.#addresses.map(() => undefined);
  }

  get servers(): readonly string[] {
    return this.#options.servers;
  }

  /** Takes the REST path of the operation and its JSON body, already validated. */
  async call(
    path: string,
    body: Record<string, unknown>,
    waitUntilMs?: number,
    callSignal?: AbortSignal,
  ): Promise<Answer> {
    const request = toRequest(path, body);
    const { servers, retries } = this.#options;
    // A request already sent is not taken back; the signal stops the retries.
    const signal = bothSignals(this.#options.signal, callSignal);
    const started = performance.now();
    const deadlineMs = this.#options.deadlineMs + waitLeftMs(waitUntilMs, started);
    const problems: string[] = [];
    let unknownOutcome = false;
    let mustRetry = false;
    this.#refreshRoutes();
    const leader = this.#leaderIndex(request.resource);
    const first = leader ?? this.#preferred;
    for (let attempt = 0; attempt <= retries; attempt++) {
      const index = (first + attempt) % servers.length;
      throwIfAborted(signal, attempt > 0);
      const waitMs = waitLeftMs(waitUntilMs, performance.now());
      const waits = request.op === "tryLock" || request.op === "watch";
      const sent = waitMs > 0 && waits ? { ...request, waitMs } : request;
      const outcome = await this.#attempt(index, sent, waitMs);
      throwIfAborted(signal, true);
      if (outcome.kind === "answer") {
        if (leader === undefined || attempt > 0) this.#preferred = index;
        const r = outcome.response;
        return {
          type: r.type,
          fencingToken: r.fencingToken,
          owner: r.owner ?? null,
          expiresMs: r.expiresMs ?? 0,
          afterUnknownOutcome: unknownOutcome,
          ...(r.watch === undefined ? {} : { watch: r.watch }),
          ...(r.value === undefined ? {} : { value: r.value }),
          ...(r.holders === undefined ? {} : { holders: r.holders, limit: r.limit ?? 1 }),
        };
      }
      if (outcome.kind === "invalid") {
        throw new KahunaError(KahunaErrorKind.InvalidInput, outcome.message);
      }
      if (outcome.kind === "refused") throw outcome.error;
      unknownOutcome ||= outcome.unknownOutcome;
      mustRetry ||= outcome.mustRetry === true;
      this.#routesAtMs = Number.NEGATIVE_INFINITY; // leaders may have moved: ask again
      problems.push(`${servers[index]}: ${outcome.problem}`);
      const pauseMs = backoffMs(attempt);
      if (performance.now() - started + pauseMs >= deadlineMs) break;
      if (attempt < retries) await sleep(pauseMs, signal);
    }
    throwIfAborted(signal, true);
    throw exhausted(
      problems,
      { unknownOutcome, mustRetry },
      servers,
      "listens for the binary protocol",
    );
  }

  /** The server that leads `resource`'s partition, if the route map knows it. */
  #leaderIndex(resource: string): number | undefined {
    const leader = leaderOf(this.#routes, resource);
    if (leader === undefined) return undefined;
    const index = this.#nodes.indexOf(leader);
    return index >= 0 ? index : undefined;
  }

  /** Refreshes the route map in the background when it is old; calls never wait for it. */
  #refreshRoutes(): void {
    if (this.#addresses.length < 2 || this.#refreshing) return;
    if (performance.now() - this.#routesAtMs < routesRefreshMs) return;
    this.#refreshing = true;
    this.#routesAtMs = performance.now();
    const asks = this.#addresses.map((_, index) =>
      this.#connection(index).then((connection) => connection.route())
    );
    Promise.allSettled(asks).then((answers) => {
      this.#refreshing = false;
      const routes: RouteInfo[] = [];
      answers.forEach((answer, index) => {
        if (answer.status !== "fulfilled") return;
        this.#nodes[index] = answer.value.node;
        routes.push(answer.value);
      });
      this.#routes = mergeRoutes(routes);
    });
  }

  /** Closes every connection; later calls open new ones. */
  close(): void {
    const connections = this.#connections.splice(
      0,
      this.#connections.length,
      ...this.#addresses.map(() => undefined),
    );
    for (const connection of connections) {
      connection?.then((c) => c.close(), () => {});
    }
  }

  async #attempt(index: number, request: LockRequest, waitMs: number): Promise<Attempt> {
    let response: LockResponse;
    try {
      const connection = await this.#connection(index);
      response = await connection.execute(request, waitMs);
    } catch (error) {
      const { BinaryConnectionError } = await connectionModule();
      if (!(error instanceof BinaryConnectionError)) throw error;
      this.#connections[index] = undefined;
      // Only a call that never reached a server is known not to have happened.
      return {
        kind: "retry",
        problem: error.message,
        unknownOutcome: error.failure !== "unreachable",
      };
    }
    if (definiteTypes.has(response.type)) return { kind: "answer", response };
    if (response.type === ResponseType.InvalidInput) {
      return {
        kind: "invalid",
        message: `the server refused the request: ${response.error ?? "invalid input"}`,
      };
    }
    if (response.type === ResponseType.Unauthorized || response.type === ResponseType.Forbidden) {
      const status = response.type === ResponseType.Unauthorized ? 401 : 403;
      return {
        kind: "refused",
        error: refusedError(status, response.error, this.#options.token !== undefined),
      };
    }
    if (response.type === ResponseType.MustRetry) {
      return {
        kind: "retry",
        problem: response.error ?? "not ready (no leader yet)",
        unknownOutcome: false,
        mustRetry: true,
      };
    }
    // Indeterminate, Errored (a bug on the server) or a type this client does not know.
    return {
      kind: "retry",
      problem: response.type === ResponseType.Indeterminate
        ? "outcome unknown (write not confirmed)"
        : `server error ${response.type}${
          response.error === undefined ? "" : `: ${response.error}`
        }`,
      unknownOutcome: true,
    };
  }

  #connection(index: number): Promise<BinaryConnection> {
    const existing = this.#connections[index];
    if (existing !== undefined) {
      return existing.then((connection) => connection.isOpen ? connection : this.#reopen(index));
    }
    return this.#reopen(index);
  }

  #reopen(index: number): Promise<BinaryConnection> {
    const address = this.#addresses[index]!;
    const opening = connectionModule().then(({ BinaryConnection }) =>
      BinaryConnection.open(
        address,
        this.#options.timeoutMs,
        this.#options.tls,
        this.#options.token,
      )
    );
    this.#connections[index] = opening;
    opening.catch(() => {
      if (this.#connections[index] === opening) this.#connections[index] = undefined;
    });
    return opening;
  }
}

let loaded: Promise<typeof import("./binary-connection.ts")> | undefined;

function connectionModule(): Promise<typeof import("./binary-connection.ts")> {
  loaded ??= import("./binary-connection.ts");
  return loaded;
}

const opsByPath: Readonly<Record<string, LockRequest["op"]>> = {
  "/v1/locks/try-lock": "tryLock",
  "/v1/locks/try-unlock": "unlock",
  "/v1/locks/try-extend": "extend",
  "/v1/locks/get-info": "get",
  "/v1/locks/watch": "watch",
};

function toRequest(path: string, body: Record<string, unknown>): LockRequest {
  const op = opsByPath[path];
  if (op === undefined) throw new Error(`no binary operation for ${path}`);
  const resource = body["resource"] as string;
  const durability = (body["durability"] ?? Durability.Persistent) as Durability;
  if (op === "get") return { op, resource, durability };
  if (op === "watch") {
    const after = body["after"];
    return typeof after === "string"
      ? { op, resource, durability, after }
      : { op, resource, durability };
  }
  const owner = body["owner"] as string;
  if (op === "unlock") return { op, resource, owner, durability };
  const value = body["value"];
  const request = { op, resource, owner, expiresMs: body["expiresMs"] as number, durability };
  const valued = typeof value === "string" ? { ...request, value } : request;
  const limit = body["limit"];
  return op === "tryLock" && typeof limit === "number" ? { ...valued, op, limit } : valued;
}

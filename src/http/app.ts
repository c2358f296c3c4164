/**
 * The REST API of docs/api.md as a Hono app. Runtime-neutral: it speaks Web Request/Response
 * only, so Bun.serve, Deno.serve and `app.request()` in tests all run the same routes.
 *
 * The routes come from one table (api-routes.ts), which the OpenAPI document served at
 * /v1/openapi.json is generated from too: every route here is in the document.
 *
 * Every answer is JSON with a `type` (except health, cluster, metrics and the dashboard page,
 * /ui), and no input can crash the process: bad input is 400/404/405/413 with type 100, and a
 * thrown exception is logged and answered 500 with type 99. With an Authenticator, a request
 * without a valid token is 401 (type 106) and one beyond its client's permissions 403 (107).
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AuthClient } from "../auth/auth-file.ts";
import { type Authenticator, missingTokenError } from "../auth/authenticator.ts";
import { isLockRequestError, parseLockRequest } from "../codec/lock-request.ts";
import { httpBodyBytesMax } from "../constants.ts";
import {
  type LockOp,
  type LockResponse,
  type LockService,
  ResponseType,
  waitMsOf,
} from "../locks/types.ts";
import type { AuthAction } from "../auth/permissions.ts";
import { endpointList, lockRoutes, readRoutes } from "./api-routes.ts";
import type { ReadRoute } from "./api-routes.ts";
import { errored, invalidInput, lockAnswer, refused, retryAfterSeconds } from "./lock-answer.ts";
import type { HttpAnswer } from "./lock-answer.ts";
import { dashboardContentSecurityPolicy, dashboardPage } from "./dashboard/dashboard-page.ts";
import { openApiDocument } from "./openapi.ts";
import { readBodyText } from "./read-body.ts";

export { lockRoutes };

export type HttpDeps = {
  service: LockService;
  health(): { ok: boolean; reason?: string };
  /** JSON for GET /v1/cluster, produced by the host. */
  cluster(): unknown;
  /** Prometheus text for GET /metrics. */
  metrics(): string;
  /** For get-info "expires" (display only). */
  wallMs(): number;
  /** Where unexpected exceptions are logged; console.error when omitted. */
  log?: (message: string) => void;
  /** The version the API document names; "0.0.0" when omitted (tests). */
  version?: string;
  /**
   * Client authentication (--auth-file, docs/security.md); omitted: every request is served.
   * With it, every path but health, the API document and the dashboard page needs a token.
   */
  auth?: Authenticator;
};

/** Paths served without a token: nothing in them is a lock, a client or the cluster's state. */
const openRoutes: ReadonlySet<ReadRoute["id"]> = new Set(["health", "openapi", "ui"]);
/** Read routes that need an admin client when auth is on. */
const adminRoutes: ReadonlySet<ReadRoute["id"]> = new Set(["cluster", "metrics"]);

/**
 * What the runtime passes with each request (Hono's `env`): `holdOpen` lifts the server's idle
 * timeout for a request that waits in line, which may take up to waitMsMax.
 */
export type HttpEnv = { readonly holdOpen?: () => void };

type ReadHandler = (c: Context<{ Bindings: HttpEnv }>) => Response;

export function createApp(deps: HttpDeps): Hono<{ Bindings: HttpEnv }> {
  const log = deps.log ?? ((message: string) => console.error(message));
  const app = new Hono<{ Bindings: HttpEnv }>();
  // Built once: the document is a pure function of the tables and the version.
  const document = JSON.stringify(openApiDocument({ version: deps.version ?? "0.0.0" }));
  const dashboard = dashboardPage();
  // Who sent each request, once its token is checked (the middleware below).
  const clients = new WeakMap<Request, AuthClient>();
  const auth = deps.auth;
  if (auth !== undefined) {
    const open: ReadonlySet<string> = new Set(
      readRoutes.filter((r) => openRoutes.has(r.id)).map((r) => r.path),
    );
    // Every path but the open ones, unknown paths included, needs a token before anything else
    // is looked at: a request without one learns nothing, not even which paths exist.
    app.use("*", async (c, next) => {
      if (open.has(c.req.path)) return await next();
      const identity = auth.identifyHeader(c.req.header("authorization"));
      if (identity.kind === "refused") {
        return send(c, refused(ResponseType.Unauthorized, identity.error));
      }
      clients.set(c.req.raw, identity.client);
      return await next();
    });
  }
  const permission = (raw: Request, action: AuthAction): HttpAnswer | undefined => {
    if (auth === undefined) return undefined;
    const client = clients.get(raw);
    // The middleware identified every request that gets here; if one ever was not (a route
    // made open by mistake), it is refused, not served.
    if (client === undefined) return refused(ResponseType.Unauthorized, missingTokenError);
    const checked = auth.check(client, action);
    return checked.kind === "allowed" ? undefined : refused(ResponseType.Forbidden, checked.error);
  };

  for (const { path, op } of lockRoutes) {
    app.post(
      path,
      async (c) => send(c, await handleLock(deps, log, op, c.req.raw, c.env, permission)),
    );
    app.all(path, (c) => methodNotAllowed(c, "POST"));
  }

  const readHandlers: Record<ReadRoute["id"], ReadHandler> = {
    health: (c) => {
      const health = deps.health();
      if (health.ok) return c.json({ ok: true }, 200);
      const reason = health.reason ?? "this node cannot serve requests yet";
      return c.json({ ok: false, reason }, 503, { "Retry-After": String(retryAfterSeconds) });
    },
    cluster: (c) => c.json(deps.cluster() as object, 200),
    metrics: (c) =>
      c.text(deps.metrics(), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" }),
    openapi: (c) => c.body(document, 200, { "Content-Type": "application/json" }),
    ui: (c) =>
      c.html(dashboard, 200, { "Content-Security-Policy": dashboardContentSecurityPolicy }),
  };
  for (const route of readRoutes) {
    const handler = readHandlers[route.id];
    if (adminRoutes.has(route.id)) {
      app.get(route.path, (c) => {
        const refusal = permission(c.req.raw, { kind: "admin", what: route.path });
        return refusal === undefined ? handler(c) : send(c, refusal);
      });
    } else {
      app.get(route.path, handler);
    }
    app.all(route.path, (c) => methodNotAllowed(c, "GET"));
  }

  app.notFound((c) => {
    const endpoints = endpointList().join(", ");
    return send(
      c,
      invalidInput(
        404,
        `no such endpoint: ${c.req.method} ${pathOf(c)}; endpoints are ${endpoints}`,
      ),
    );
  });
  app.onError((error, c) => {
    log(`http: ${c.req.method} ${pathOf(c)} failed: ${describeError(error)}`);
    return send(c, errored("internal error; the server logged it"));
  });
  return app;
}

async function handleLock(
  deps: HttpDeps,
  log: (message: string) => void,
  op: LockOp,
  raw: Request,
  env: HttpEnv | undefined,
  permission: (raw: Request, action: AuthAction) => HttpAnswer | undefined,
): Promise<HttpAnswer> {
  const read = await readBodyText(raw, httpBodyBytesMax);
  if (read.kind === "tooLarge") {
    return invalidInput(413, `request body must be at most ${read.bytesMax} bytes`);
  }
  if (read.kind === "notUtf8") return invalidInput(400, "request body must be UTF-8 JSON");
  if (read.text.trim() === "") {
    return invalidInput(400, "request body is empty: send a JSON object");
  }
  let body: unknown;
  try {
    // Parsed as JSON whatever the Content-Type: `curl -d` sends form type (docs/api.md).
    body = JSON.parse(read.text);
  } catch (error) {
    return invalidInput(400, `request body is not valid JSON: ${shortMessage(error)}`);
  }
  const request = parseLockRequest(op, body);
  if (isLockRequestError(request)) return invalidInput(400, request.error);
  // Judged before the request reaches the service, so a TryLock that may wait is refused
  // before it joins a lock's line, and nothing is forwarded for a client that may not ask.
  const refusal = permission(raw, { kind: "lock", op, resource: request.resource });
  if (refusal !== undefined) return refusal;

  let response: LockResponse;
  try {
    // A TryLock that waits is held open up to its waitMs; it leaves the line if the client
    // goes away (the request's signal aborts when the connection closes).
    if (waitMsOf(request) > 0) env?.holdOpen?.();
    response = await deps.service.execute(request, raw.signal);
  } catch (error) {
    // The service answers expected outcomes as values; a throw is a bug, never a crash.
    log(`http: ${op} ${JSON.stringify(request.resource)} threw: ${describeError(error)}`);
    return errored("internal error; the server logged it");
  }
  return lockAnswer(op, response, deps.wallMs());
}

function send(c: Context, answer: HttpAnswer): Response {
  return c.json(answer.body, answer.status, answer.headers);
}

function methodNotAllowed(c: Context, allowed: "GET" | "POST"): Response {
  const answer = invalidInput(405, `${pathOf(c)} takes ${allowed}, not ${c.req.method}`);
  return c.json(answer.body, 405, { Allow: allowed });
}

function pathOf(c: Context): string {
  const path = c.req.path;
  return path.length <= 100 ? path : `${path.slice(0, 100)}…`;
}

function shortMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length <= 100 ? message : `${message.slice(0, 100)}…`;
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

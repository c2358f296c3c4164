/**
 * Every endpoint of the REST API, in one table: the app (app.ts) registers its routes, its
 * 405 answers and its 404 list of endpoints from it, and the OpenAPI document (openapi.ts) is
 * generated from it. A route that is not here is not served, and a route that is served is in
 * the document.
 *
 * A lock route's request body is the op's fields (src/codec/lock-fields.ts) and its outcomes
 * are the response types the lock rules answer that op with. A read route (GET) has no body;
 * its responses are described here, as JSON Schema, because only the app produces them.
 */
import { assert } from "../assert.ts";
import { ResponseType } from "../locks/types.ts";
import type { LockOp } from "../locks/types.ts";

/** A JSON Schema (2020-12, the dialect of OpenAPI 3.1), as plain data. */
export type JsonSchema = { readonly [keyword: string]: unknown };

type RouteText = {
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description: string;
};

export type LockRoute = RouteText & {
  readonly kind: "lock";
  readonly method: "POST";
  readonly op: LockOp;
  /** The response types a definite answer (HTTP 200) to this op can have. */
  readonly outcomes: readonly ResponseType[];
};

export type ReadResponse = {
  readonly description: string;
  readonly contentType: "application/json" | "text/plain" | "text/html";
  readonly schema: JsonSchema;
  /** Headers the answer carries, with what they say. */
  readonly headers?: Readonly<Record<string, string>>;
};

export type ReadRoute = RouteText & {
  readonly kind: "read";
  readonly method: "GET";
  readonly id: "health" | "cluster" | "metrics" | "openapi" | "ui";
  readonly responses: Readonly<Record<number, ReadResponse>>;
};

export type ApiRoute = LockRoute | ReadRoute;

export const lockRoutes = [
  {
    kind: "lock",
    method: "POST",
    path: "/v1/locks/try-lock",
    op: "tryLock",
    operationId: "tryLock",
    summary: "Take a lock",
    description: "Grants the lock to `owner` for `expiresMs` unless another owner holds it. " +
      "Asking again as the holder answers Locked with the same token and leaves the lease as " +
      "it was, so a retry with the same owner is safe.",
    outcomes: [ResponseType.Locked, ResponseType.Busy],
  },
  {
    kind: "lock",
    method: "POST",
    path: "/v1/locks/try-unlock",
    op: "unlock",
    operationId: "tryUnlock",
    summary: "Release a lock",
    description: "Releases the lock if `owner` holds it. The next grant continues the token " +
      "sequence.",
    outcomes: [ResponseType.Unlocked, ResponseType.LockDoesNotExist, ResponseType.InvalidOwner],
  },
  {
    kind: "lock",
    method: "POST",
    path: "/v1/locks/try-extend",
    op: "extend",
    operationId: "tryExtend",
    summary: "Keep a lock",
    description: "Renews the holder's lease for `expiresMs` from now; the token does not " +
      "change. LockDoesNotExist means the lease already ran out: stop and take the lock again.",
    outcomes: [ResponseType.Extended, ResponseType.LockDoesNotExist, ResponseType.InvalidOwner],
  },
  {
    kind: "lock",
    method: "POST",
    path: "/v1/locks/get-info",
    op: "get",
    operationId: "getInfo",
    summary: "Look at a lock",
    description: "Who holds the lock, its token and the lease left. A persistent get-info is " +
      "linearizable.",
    outcomes: [ResponseType.Got, ResponseType.LockDoesNotExist],
  },
  {
    kind: "lock",
    method: "POST",
    path: "/v1/locks/watch",
    op: "watch",
    operationId: "watch",
    summary: "Watch a lock",
    description: "A long poll for the lock's changes of holder (acquired, released, expired) " +
      "after `after`, the cursor of the last event seen. Answered at once when there are " +
      "some; otherwise held open for up to `waitMs` for the next, and answered with no event " +
      "when the time is up. Without `after`, the answer is the lock's state now. Send each " +
      "answer's `cursor` as the next request's `after` and no change is lost.",
    outcomes: [ResponseType.Watched],
  },
] as const satisfies readonly LockRoute[];

const retryAfter = "Seconds to wait before retrying.";

const snapshotProgress: JsonSchema = {
  type: "object",
  description: "Only while this node receives a snapshot of the partition, in chunks.",
  required: ["from", "index", "receivedBytes", "totalBytes"],
  properties: {
    from: { type: "string", description: "The node id of the sending leader." },
    index: { type: "integer", description: "The snapshot's last log index." },
    receivedBytes: { type: "integer" },
    totalBytes: { type: "integer" },
  },
};

const partitionStatus: JsonSchema = {
  type: "object",
  required: ["group", "role", "leader", "term", "commit", "applied", "records"],
  properties: {
    group: { type: "integer", minimum: 0, description: "The partition (Raft group) number." },
    role: { type: "string", description: "This node's Raft role in the partition." },
    leader: { type: "string", description: "The leader this node knows; empty when none." },
    term: { type: "integer", minimum: 0 },
    commit: { type: "integer", minimum: 0, description: "The committed log index." },
    applied: { type: "integer", minimum: 0, description: "The applied log index." },
    records: {
      type: "integer",
      minimum: 0,
      description: "Lock records this node keeps: held locks, and released or expired ones " +
        "not yet swept.",
    },
    locks: {
      type: "integer",
      minimum: 0,
      description: "Locks held now, persistent and ephemeral; only on the partition's leader.",
    },
    recovering: {
      const: true,
      description: "Only while this node recovers the partition after losing its data directory.",
    },
    replicas: {
      type: "array",
      description: "Only on the partition's leader: how far each voter's log matches the " +
        "leader's, in node id order.",
      items: {
        type: "object",
        required: ["id", "match", "lag"],
        properties: {
          id: { type: "string", description: "The voter's node id (the leader's own too)." },
          match: {
            type: "integer",
            minimum: 0,
            description: "The highest log index the leader knows this voter holds.",
          },
          lag: {
            type: "integer",
            minimum: 0,
            description: "Entries of the leader's log this voter is not known to hold.",
          },
        },
      },
    },
    snapshotReceiving: snapshotProgress,
  },
};

export const readRoutes = [
  {
    kind: "read",
    method: "GET",
    path: "/v1/health",
    id: "health",
    operationId: "getHealth",
    summary: "Whether this node can serve",
    description: "200 when every partition has a leader this node knows (and serving, if it " +
      "is this node); point load balancers and readiness probes at it.",
    responses: {
      200: {
        description: "This node can serve requests.",
        contentType: "application/json",
        schema: {
          type: "object",
          required: ["ok"],
          properties: { ok: { const: true } },
        },
      },
      503: {
        description: "This node cannot serve requests yet; `reason` says why.",
        contentType: "application/json",
        schema: {
          type: "object",
          required: ["ok", "reason"],
          properties: { ok: { const: false }, reason: { type: "string" } },
        },
        headers: { "Retry-After": retryAfter },
      },
    },
  },
  {
    kind: "read",
    method: "GET",
    path: "/v1/cluster",
    id: "cluster",
    operationId: "getCluster",
    summary: "The nodes and partitions as this node sees them",
    description: "The cluster's nodes and, for each partition, this node's role, the leader " +
      "it knows, the term, and how far its log is committed and applied.",
    responses: {
      200: {
        description: "This node's view of the cluster.",
        contentType: "application/json",
        schema: {
          type: "object",
          required: ["nodeId", "nodes", "partitions"],
          properties: {
            nodeId: { type: "string", description: "The id of the node that answered." },
            nodes: {
              type: "array",
              items: {
                type: "object",
                required: ["id", "peerAddress", "reachable"],
                properties: {
                  id: { type: "string" },
                  peerAddress: { type: "string", description: "host:port of its peer port." },
                  reachable: {
                    type: "boolean",
                    description: "Whether this node's peer connection to it is open now " +
                      "(always true for the answering node).",
                  },
                },
              },
            },
            partitions: { type: "array", items: partitionStatus },
          },
        },
      },
    },
  },
  {
    kind: "read",
    method: "GET",
    path: "/metrics",
    id: "metrics",
    operationId: "getMetrics",
    summary: "Prometheus metrics",
    description: "Prometheus text exposition format 0.0.4.",
    responses: {
      200: {
        description: "The metrics of this node.",
        contentType: "text/plain",
        schema: { type: "string" },
      },
    },
  },
  {
    kind: "read",
    method: "GET",
    path: "/v1/openapi.json",
    id: "openapi",
    operationId: "getOpenApi",
    summary: "This document",
    description: "The OpenAPI 3.1 document of this API, generated from the tables the server " +
      "validates requests with.",
    responses: {
      200: {
        description: "An OpenAPI 3.1 document.",
        contentType: "application/json",
        schema: {
          type: "object",
          required: ["openapi", "info", "paths"],
          properties: { openapi: { type: "string", pattern: "^3\\.1\\.\\d+$" } },
        },
      },
    },
  },
  {
    kind: "read",
    method: "GET",
    path: "/ui",
    id: "ui",
    operationId: "getDashboard",
    summary: "The dashboard",
    description: "A web page for people: the nodes and whether this node reaches them, the " +
      "partitions with their leader, term, replicas and lag, the locks held, the request rate " +
      "and latency, and a box to look a lock up. It reads /v1/cluster and /metrics of this " +
      "node every second and loads nothing from elsewhere (docs/operations.md, Dashboard).",
    responses: {
      200: {
        description: "An HTML document with its scripts and styles inline.",
        contentType: "text/html",
        schema: { type: "string" },
      },
    },
  },
] as const satisfies readonly ReadRoute[];

export const apiRoutes: readonly ApiRoute[] = [...lockRoutes, ...readRoutes];

/** The endpoints as people write them, "POST /v1/locks/try-lock", in table order. */
export function endpointList(): string[] {
  return apiRoutes.map((route) => `${route.method} ${route.path}`);
}

assert(
  new Set(apiRoutes.map((route) => route.path)).size === apiRoutes.length,
  "every path has one route: a path's other methods are answered 405",
);
assert(
  new Set(apiRoutes.map((route) => route.operationId)).size === apiRoutes.length,
  "operation ids are unique",
);

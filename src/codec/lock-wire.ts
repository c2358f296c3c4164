/**
 * Lock requests and answers on the wire (msgpack values), shared by the client binary
 * protocol and by requests forwarded between nodes. A request is `[id, op, body]` where body
 * has the REST fields (validated exactly as the REST boundary does); an answer is
 * `[id, type, fencingToken, owner | null, expiresMs | null, error | null]`.
 * Decoding never throws: a malformed value is an error naming what was wrong.
 */
import { type LockRequest, type LockResponse, ResponseType } from "../locks/types.ts";
import { parseLockRequest } from "./lock-request.ts";

export type WireRequest = { readonly id: number; readonly request: LockRequest };

/**
 * Where a node says each partition's leader is, for clients that send each request straight
 * to its leader: this node's id, the partition count, and the leader of each ("" unknown).
 */
export type RouteInfo = {
  readonly node: string;
  readonly groups: number;
  readonly leaders: readonly string[];
};

export type WireAnswer = {
  readonly id: number;
  readonly response: LockResponse;
  /** Only in the answer to a route request of the client binary protocol. */
  readonly route?: RouteInfo;
};

const responseTypes = new Set<number>(Object.values(ResponseType));

export function encodeWireRequest({ id, request }: WireRequest): unknown {
  const { op, ...body } = request;
  return [id, op, body];
}

export function encodeWireAnswer({ id, response: r, route }: WireAnswer): unknown {
  const answer = [
    id,
    r.type,
    r.fencingToken,
    r.owner ?? null,
    r.expiresMs ?? null,
    r.error ?? null,
  ];
  return route === undefined ? answer : [...answer, [route.node, route.groups, route.leaders]];
}

export function decodeWireRequest(item: unknown): WireRequest | { error: string } {
  if (!Array.isArray(item) || item.length !== 3) return { error: "a request is [id, op, body]" };
  const [id, op, body] = item as [unknown, unknown, unknown];
  if (!isWireInteger(id)) return { error: "request id must be an integer from 0 to 2^53-1" };
  if (op !== "tryLock" && op !== "extend" && op !== "unlock" && op !== "get") {
    return {
      error: `request op must be tryLock, extend, unlock or get, got ${String(op).slice(0, 40)}`,
    };
  }
  const request = parseLockRequest(op, body);
  if ("error" in request) return { error: request.error };
  return { id, request };
}

export function decodeWireAnswer(item: unknown): WireAnswer | { error: string } {
  if (!Array.isArray(item) || (item.length !== 6 && item.length !== 7)) {
    return { error: "an answer is a list of 6 items (7 with a route)" };
  }
  const [id, type, fencingToken, owner, expiresMs, error, rawRoute] = item as unknown[];
  if (!isWireInteger(id)) return { error: "answer id must be a non-negative integer" };
  if (typeof type !== "number" || !responseTypes.has(type)) {
    return { error: "answer type is unknown" };
  }
  if (!isWireInteger(fencingToken)) {
    return { error: "answer fencingToken must be a non-negative integer" };
  }
  if (owner !== null && typeof owner !== "string") {
    return { error: "answer owner must be a string" };
  }
  if (expiresMs !== null && !isWireInteger(expiresMs)) {
    return { error: "answer expiresMs must be an integer" };
  }
  if (error !== null && typeof error !== "string") {
    return { error: "answer error must be a string" };
  }
  const response: LockResponse = {
    type: type as LockResponse["type"],
    fencingToken,
    ...(owner === null ? {} : { owner }),
    ...(expiresMs === null ? {} : { expiresMs }),
    ...(error === null ? {} : { error }),
  };
  if (rawRoute === undefined) return { id, response };
  const route = decodeRoute(rawRoute);
  if ("error" in route) return route;
  return { id, response, route };
}

function decodeRoute(value: unknown): RouteInfo | { error: string } {
  if (!Array.isArray(value) || value.length !== 3) {
    return { error: "a route is [node, groups, leaders]" };
  }
  const [node, groups, leaders] = value as unknown[];
  if (typeof node !== "string" || node.length === 0 || node.length > 64) {
    return { error: "route node must be a node id" };
  }
  if (!isWireInteger(groups) || groups < 1 || groups > 1024) {
    return { error: "route groups must be an integer from 1 to 1024" };
  }
  if (
    !Array.isArray(leaders) || leaders.length !== groups ||
    !leaders.every((l) => typeof l === "string" && l.length <= 64)
  ) {
    return { error: 'route leaders must be one node id (or "") per group' };
  }
  return { node, groups, leaders: leaders as string[] };
}

export function isWireInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

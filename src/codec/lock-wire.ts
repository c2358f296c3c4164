/**
 * Lock requests and answers on the wire (msgpack values), shared by the client binary
 * protocol and by requests forwarded between nodes. A request is `[id, op, body]` where body
 * has the REST fields (validated exactly as the REST boundary does); an answer is
 * `[id, type, fencingToken, owner | null, expiresMs | null, error | null]`, followed by the
 * route (or null) and, for a watch, `[cursor, missed, events]` (or null) with each event
 * `[kind, cursor, owner, fencingToken, expiresMs | null]` (and its value, when it has one), and
 * then, for a Got of a lock with a published value, that value (or null), and last, for a Got
 * of a shared lock, `[limit, [[owner, fencingToken, expiresMs, value?], ...]]` (docs/spec.md
 * §2.8). Trailing items that are not there are left out, so answers without them are the bytes they always were.
 * Decoding never throws: a malformed value is an error naming what was wrong.
 */
import { sharedLimitMax } from "../constants.ts";
import {
  type LockHolder,
  type LockRequest,
  type LockResponse,
  ResponseType,
  type WatchAnswer,
  type WatchEvent,
} from "../locks/types.ts";
import { parseCursor } from "../locks/watch-cursor.ts";
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
  const routed = route === undefined ? null : [route.node, route.groups, route.leaders];
  if (r.holders !== undefined) {
    const holders = r.holders.map((h) => {
      const holder = [h.owner, h.fencingToken, h.expiresMs];
      return h.value === undefined ? holder : [...holder, h.value];
    });
    const watch = r.watch === undefined ? null : encodeWatch(r.watch);
    return [...answer, routed, watch, r.value ?? null, [r.limit ?? 1, holders]];
  }
  if (r.value !== undefined) {
    return [...answer, routed, r.watch === undefined ? null : encodeWatch(r.watch), r.value];
  }
  if (r.watch !== undefined) return [...answer, routed, encodeWatch(r.watch)];
  return routed === null ? answer : [...answer, routed];
}

function encodeWatch(watch: WatchAnswer): unknown {
  const events = watch.events.map((e) => {
    const event = [e.kind, e.cursor, e.owner, e.fencingToken, e.expiresMs ?? null];
    return e.value === undefined ? event : [...event, e.value];
  });
  return [watch.cursor, watch.missed, events];
}

const eventKinds: readonly string[] = ["state", "acquired", "proclaimed", "released", "expired"];
/** More events than a watch answer ever carries (the history bound) is not an answer. */
const watchEventsMax = 1024;

function decodeWatch(value: unknown): WatchAnswer | { error: string } {
  if (!Array.isArray(value) || value.length !== 3) {
    return { error: "a watch answer is [cursor, missed, events]" };
  }
  const [cursor, missed, events] = value as unknown[];
  if (typeof cursor !== "string" || parseCursor(cursor) === undefined) {
    return { error: "watch cursor must be a cursor" };
  }
  if (typeof missed !== "boolean") return { error: "watch missed must be a boolean" };
  if (!Array.isArray(events) || events.length > watchEventsMax) {
    return { error: `watch events must be a list of at most ${watchEventsMax}` };
  }
  const decoded: WatchEvent[] = [];
  for (const item of events) {
    if (!Array.isArray(item) || (item.length !== 5 && item.length !== 6)) {
      return { error: "a watch event is [kind, cursor, owner, fencingToken, expiresMs, value?]" };
    }
    const [kind, at, owner, fencingToken, expiresMs, value] = item as unknown[];
    if (value !== undefined && typeof value !== "string") {
      return { error: "watch event value must be a string" };
    }
    if (typeof kind !== "string" || !eventKinds.includes(kind)) {
      return { error: "watch event kind is unknown" };
    }
    if (typeof at !== "string" || parseCursor(at) === undefined) {
      return { error: "watch event cursor must be a cursor" };
    }
    if (typeof owner !== "string") return { error: "watch event owner must be a string" };
    if (!isWireInteger(fencingToken)) {
      return { error: "watch event fencingToken must be a non-negative integer" };
    }
    if (expiresMs !== null && !isWireInteger(expiresMs)) {
      return { error: "watch event expiresMs must be an integer" };
    }
    decoded.push({
      kind: kind as WatchEvent["kind"],
      cursor: at,
      owner,
      fencingToken,
      ...(expiresMs === null ? {} : { expiresMs }),
      ...(value === undefined ? {} : { value }),
    });
  }
  return { cursor, missed, events: decoded };
}

export function decodeWireRequest(item: unknown): WireRequest | { error: string } {
  if (!Array.isArray(item) || item.length !== 3) return { error: "a request is [id, op, body]" };
  const [id, op, body] = item as [unknown, unknown, unknown];
  if (!isWireInteger(id)) return { error: "request id must be an integer from 0 to 2^53-1" };
  if (op !== "tryLock" && op !== "extend" && op !== "unlock" && op !== "get" && op !== "watch") {
    return {
      error: `request op must be tryLock, extend, unlock, get or watch, got ${
        String(op).slice(0, 40)
      }`,
    };
  }
  const request = parseLockRequest(op, body);
  if ("error" in request) return { error: request.error };
  return { id, request };
}

export function decodeWireAnswer(item: unknown): WireAnswer | { error: string } {
  if (!Array.isArray(item) || item.length < 6 || item.length > 10) {
    return {
      error: "an answer is a list of 6 items (7 with a route, 8 with a watch, 9 with a value, " +
        "10 with holders)",
    };
  }
  const [id, type, fencingToken, owner, expiresMs, error, rawRoute, rawWatch, rawValue, shared] =
    item as unknown[];
  const value = rawValue === null ? undefined : rawValue;
  if (value !== undefined && typeof value !== "string") {
    return { error: "answer value must be a string" };
  }
  const holders = shared === undefined ? undefined : decodeHolders(shared);
  if (holders !== undefined && "error" in holders) return holders;
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
  let watch: WatchAnswer | undefined;
  if (rawWatch !== undefined && rawWatch !== null) {
    const decoded = decodeWatch(rawWatch);
    if ("error" in decoded) return decoded;
    watch = decoded;
  }
  const response: LockResponse = {
    type: type as LockResponse["type"],
    fencingToken,
    ...(owner === null ? {} : { owner }),
    ...(expiresMs === null ? {} : { expiresMs }),
    ...(error === null ? {} : { error }),
    ...(watch === undefined ? {} : { watch }),
    ...(value === undefined ? {} : { value }),
    ...(holders === undefined ? {} : holders),
  };
  if (rawRoute === undefined || rawRoute === null) return { id, response };
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

/** A Got's `[limit, holders]`, each holder `[owner, fencingToken, expiresMs, value?]`. */
function decodeHolders(
  value: unknown,
): { limit: number; holders: LockHolder[] } | { error: string } {
  const shape = "answer holders must be [limit, [[owner, fencingToken, expiresMs, value?], ...]]";
  if (!Array.isArray(value) || value.length !== 2) return { error: shape };
  const [limit, list] = value as unknown[];
  if (!isWireInteger(limit) || !Array.isArray(list) || list.length > sharedLimitMax) {
    return { error: shape };
  }
  const holders: LockHolder[] = [];
  for (const item of list) {
    if (!Array.isArray(item) || item.length < 3 || item.length > 4) return { error: shape };
    const [owner, fencingToken, expiresMs, published] = item as unknown[];
    const ok = typeof owner === "string" && isWireInteger(fencingToken) &&
      isWireInteger(expiresMs) && (published === undefined || typeof published === "string");
    if (!ok) return { error: shape };
    holders.push({
      owner,
      fencingToken,
      expiresMs,
      ...(published === undefined ? {} : { value: published }),
    });
  }
  return { limit, holders };
}

export function isWireInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * The client binary protocol (docs/architecture.md): length-prefixed frames (codec/frame.ts) whose
 * payload is msgpack `[version, items]`. A client sends requests `[id, op, body]` and may
 * have many in flight on one connection; the server answers each by id, in any order,
 * batching answers that are ready together into one frame.
 *
 * A request that is malformed but carries an id is answered InvalidInput for that id; a
 * frame that cannot be read at all is an error, and the server closes the connection.
 */
import { ResponseType } from "../locks/types.ts";
import {
  decodeWireAnswer,
  decodeWireRequest,
  encodeWireAnswer,
  encodeWireRequest,
  isWireInteger,
  type WireAnswer,
  type WireRequest,
} from "./lock-wire.ts";
import { decodeMsgpack, encodeMsgpack } from "./msgpack.ts";
import { tokenCharsMax } from "../constants.ts";

export const clientProtocolVersion = 1;

/**
 * A lock request, a route request `[id, "route", {}]` (where are the leaders?), or the
 * handshake `[id, "auth", {"token": TOKEN}]` a client sends first on a connection to a node
 * with --auth-file (docs/security.md).
 */
export type ClientItem =
  | WireRequest
  | { readonly id: number; readonly route: true }
  | AuthItem;

export type AuthItem = { readonly id: number; readonly token: string };

export function encodeRequests(items: readonly ClientItem[]): Uint8Array {
  return encodeMsgpack([
    clientProtocolVersion,
    items.map((item) =>
      "route" in item
        ? [item.id, "route", {}]
        : "token" in item
        ? [item.id, "auth", { token: item.token }]
        : encodeWireRequest(item)
    ),
  ]);
}

export function encodeAnswers(answers: readonly WireAnswer[]): Uint8Array {
  return encodeMsgpack([clientProtocolVersion, answers.map(encodeWireAnswer)]);
}

function items(payload: Uint8Array): unknown[] | { error: string } {
  let value: unknown;
  try {
    value = decodeMsgpack(payload);
  } catch (error) {
    return { error: `frame is not msgpack: ${String(error).slice(0, 80)}` };
  }
  if (!Array.isArray(value) || value.length !== 2 || !Array.isArray(value[1])) {
    return { error: "frame must be [version, items]" };
  }
  if (value[0] !== clientProtocolVersion) {
    return {
      error: `protocol version ${String(value[0])}; this server speaks ${clientProtocolVersion}`,
    };
  }
  return value[1] as unknown[];
}

/**
 * Requests of a frame; invalid ones with a readable id come back as InvalidInput answers.
 * `auths` are the frame's handshakes: the server takes them before its requests.
 */
export function decodeRequests(
  payload: Uint8Array,
):
  | { requests: WireRequest[]; routes: number[]; rejected: WireAnswer[]; auths: AuthItem[] }
  | { error: string } {
  const list = items(payload);
  if (!Array.isArray(list)) return list;
  const requests: WireRequest[] = [];
  const routes: number[] = [];
  const rejected: WireAnswer[] = [];
  const auths: AuthItem[] = [];
  for (const item of list) {
    if (Array.isArray(item) && item.length === 3 && item[1] === "route" && isWireInteger(item[0])) {
      routes.push(item[0]);
      continue;
    }
    if (Array.isArray(item) && item.length === 3 && item[1] === "auth" && isWireInteger(item[0])) {
      const token = authToken(item[2]);
      if (typeof token === "string") auths.push({ id: item[0], token });
      else {
        rejected.push({
          id: item[0],
          response: { type: ResponseType.InvalidInput, fencingToken: 0, error: token.error },
        });
      }
      continue;
    }
    const request = decodeWireRequest(item);
    if (!("error" in request)) {
      requests.push(request);
      continue;
    }
    const id = Array.isArray(item) ? item[0] : undefined;
    if (!isWireInteger(id)) return { error: `request without a usable id: ${request.error}` };
    rejected.push({
      id,
      response: { type: ResponseType.InvalidInput, fencingToken: 0, error: request.error },
    });
  }
  return { requests, routes, rejected, auths };
}

/** The token of an auth item's body `{"token": TOKEN}`, exactly that field. */
function authToken(body: unknown): string | { error: string } {
  const error = `an auth item is [id, "auth", {"token": TOKEN}] with a token of 1 to ` +
    `${tokenCharsMax} characters`;
  if (typeof body !== "object" || body === null || Array.isArray(body)) return { error };
  const keys = Object.keys(body);
  const token = (body as Record<string, unknown>)["token"];
  if (keys.length !== 1 || typeof token !== "string") return { error };
  if (token.length === 0 || token.length > tokenCharsMax) return { error };
  return token;
}

export function decodeAnswers(payload: Uint8Array): WireAnswer[] | { error: string } {
  const list = items(payload);
  if (!Array.isArray(list)) return list;
  const answers: WireAnswer[] = [];
  for (const item of list) {
    const answer = decodeWireAnswer(item);
    if ("error" in answer) return answer;
    answers.push(answer);
  }
  return answers;
}

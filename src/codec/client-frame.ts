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

export const clientProtocolVersion = 1;

/** A lock request, or a route request `[id, "route", {}]`: where are the leaders? */
export type ClientItem = WireRequest | { readonly id: number; readonly route: true };

export function encodeRequests(items: readonly ClientItem[]): Uint8Array {
  return encodeMsgpack([
    clientProtocolVersion,
    items.map((item) => "route" in item ? [item.id, "route", {}] : encodeWireRequest(item)),
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

/** Requests of a frame; invalid ones with a readable id come back as InvalidInput answers. */
export function decodeRequests(
  payload: Uint8Array,
): { requests: WireRequest[]; routes: number[]; rejected: WireAnswer[] } | { error: string } {
  const list = items(payload);
  if (!Array.isArray(list)) return list;
  const requests: WireRequest[] = [];
  const routes: number[] = [];
  const rejected: WireAnswer[] = [];
  for (const item of list) {
    if (Array.isArray(item) && item.length === 3 && item[1] === "route" && isWireInteger(item[0])) {
      routes.push(item[0]);
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
  return { requests, routes, rejected };
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

/**
 * Peer frames: everything one node sends another in one flush travels in one frame
 * (DESIGN.md §4): the Raft messages of every group, requests forwarded to this peer as the
 * leader of their partition, and answers to requests the peer forwarded here. A flush that
 * touches 16 groups costs one write per peer, not 16.
 *
 * Decoding validates everything (a forwarded request exactly as the REST boundary does); a
 * malformed frame is an error value, never a throw.
 */
import { decode, encode } from "@msgpack/msgpack";
import { parseLockRequest } from "../codec/lock-request.ts";
import { decodeMessage, encodeMessage } from "../codec/raft-message.ts";
import { type LockRequest, type LockResponse, ResponseType } from "../locks/types.ts";
import type { Message, NodeId } from "../raft/types.ts";

export type Envelope = { readonly group: number; readonly message: Message };
export type Forward = { readonly id: number; readonly request: LockRequest };
export type Answer = { readonly id: number; readonly response: LockResponse };

export type PeerFrame = {
  readonly from: NodeId;
  readonly envelopes: readonly Envelope[];
  readonly forwards: readonly Forward[];
  readonly answers: readonly Answer[];
};

const version = 1;
const responseTypes = new Set<number>(Object.values(ResponseType));

export function encodePeerFrame(frame: PeerFrame): Uint8Array {
  return encode([
    version,
    frame.from,
    frame.envelopes.map((e) => [e.group, encodeMessage(e.message)]),
    frame.forwards.map(({ id, request }) => [id, request.op, { ...request, op: undefined }]),
    frame.answers.map(({ id, response: r }) => [
      id,
      r.type,
      r.fencingToken,
      r.owner ?? null,
      r.expiresMs ?? null,
      r.error ?? null,
    ]),
  ], { ignoreUndefined: true });
}

export function decodePeerFrame(bytes: Uint8Array, groups: number): PeerFrame | { error: string } {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (error) {
    return { error: `peer frame is not msgpack: ${String(error)}` };
  }
  if (!Array.isArray(value) || value.length !== 5) {
    return { error: "peer frame is not [version, from, envelopes, forwards, answers]" };
  }
  const [v, from, envelopes, forwards, answers] = value as unknown[];
  if (v !== version) return { error: `peer frame version ${String(v)}, this node speaks ${version}` };
  if (typeof from !== "string" || from.length === 0) return { error: "peer frame has no sender" };
  if (!Array.isArray(envelopes) || !Array.isArray(forwards) || !Array.isArray(answers)) {
    return { error: "peer frame lists are not lists" };
  }
  const frame = { from, envelopes: [] as Envelope[], forwards: [] as Forward[], answers: [] as Answer[] };
  for (const item of envelopes) {
    const envelope = decodeEnvelope(item, groups);
    if ("error" in envelope) return envelope;
    frame.envelopes.push(envelope);
  }
  for (const item of forwards) {
    const forward = decodeForward(item);
    if ("error" in forward) return forward;
    frame.forwards.push(forward);
  }
  for (const item of answers) {
    const answer = decodeAnswer(item);
    if ("error" in answer) return answer;
    frame.answers.push(answer);
  }
  return frame;
}

function decodeEnvelope(item: unknown, groups: number): Envelope | { error: string } {
  if (!Array.isArray(item) || item.length !== 2) return { error: "envelope is not [group, message]" };
  const [group, raw] = item as [unknown, unknown];
  if (!isId(group) || group >= groups) {
    return { error: `envelope group must be an integer from 0 to ${groups - 1}` };
  }
  const message = decodeMessage(raw);
  if ("error" in message) return { error: `envelope for group ${group}: ${message.error}` };
  return { group, message };
}

function decodeForward(item: unknown): Forward | { error: string } {
  if (!Array.isArray(item) || item.length !== 3) return { error: "forward is not [id, op, body]" };
  const [id, op, body] = item as [unknown, unknown, unknown];
  if (!isId(id)) return { error: "forward id must be a non-negative integer" };
  if (op !== "tryLock" && op !== "extend" && op !== "unlock" && op !== "get") {
    return { error: `forward op ${String(op)} is unknown` };
  }
  const request = parseLockRequest(op, body);
  if ("error" in request) return { error: `forwarded request: ${request.error}` };
  return { id, request };
}

function decodeAnswer(item: unknown): Answer | { error: string } {
  if (!Array.isArray(item) || item.length !== 6) return { error: "answer is not a 6-item list" };
  const [id, type, fencingToken, owner, expiresMs, error] = item as unknown[];
  if (!isId(id)) return { error: "answer id must be a non-negative integer" };
  if (typeof type !== "number" || !responseTypes.has(type)) return { error: "answer type is unknown" };
  if (!isId(fencingToken)) return { error: "answer fencingToken must be a non-negative integer" };
  if (owner !== null && typeof owner !== "string") return { error: "answer owner must be a string" };
  if (expiresMs !== null && !isId(expiresMs)) return { error: "answer expiresMs must be an integer" };
  if (error !== null && typeof error !== "string") return { error: "answer error must be a string" };
  const response: LockResponse = {
    type: type as LockResponse["type"],
    fencingToken,
    ...(owner === null ? {} : { owner }),
    ...(expiresMs === null ? {} : { expiresMs }),
    ...(error === null ? {} : { error }),
  };
  return { id, response };
}

function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

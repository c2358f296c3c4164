/**
 * Peer frames: everything one node sends another in one flush travels in one frame
 * (DESIGN.md §4): the Raft messages of every group, requests forwarded to this peer as the
 * leader of their partition, and answers to requests the peer forwarded here. A flush that
 * touches 16 groups costs one write per peer, not 16.
 *
 * Decoding validates everything (a forwarded request exactly as the REST boundary does); a
 * malformed frame is an error value, never a throw.
 */
import {
  decodeWireAnswer,
  decodeWireRequest,
  encodeWireAnswer,
  encodeWireRequest,
  isWireInteger,
  type WireAnswer,
  type WireRequest,
} from "../codec/lock-wire.ts";
import { decodeMsgpack, encodeMsgpack } from "../codec/msgpack.ts";
import { decodeMessage, encodeMessage } from "../codec/raft-message.ts";
import type { Message, NodeId } from "../raft/types.ts";

export type Envelope = { readonly group: number; readonly message: Message };
export type Forward = WireRequest;
export type Answer = WireAnswer;

export type PeerFrame = {
  readonly from: NodeId;
  readonly envelopes: readonly Envelope[];
  readonly forwards: readonly Forward[];
  readonly answers: readonly Answer[];
};

const version = 1;

export function encodePeerFrame(frame: PeerFrame): Uint8Array {
  return encodeMsgpack([
    version,
    frame.from,
    frame.envelopes.map((e) => [e.group, encodeMessage(e.message)]),
    frame.forwards.map(encodeWireRequest),
    frame.answers.map(encodeWireAnswer),
  ]);
}

export function decodePeerFrame(bytes: Uint8Array, groups: number): PeerFrame | { error: string } {
  let value: unknown;
  try {
    value = decodeMsgpack(bytes);
  } catch (error) {
    return { error: `peer frame is not msgpack: ${String(error)}` };
  }
  if (!Array.isArray(value) || value.length !== 5) {
    return { error: "peer frame is not [version, from, envelopes, forwards, answers]" };
  }
  const [v, from, envelopes, forwards, answers] = value as unknown[];
  if (v !== version) {
    return { error: `peer frame version ${String(v)}, this node speaks ${version}` };
  }
  if (typeof from !== "string" || from.length === 0) return { error: "peer frame has no sender" };
  if (!Array.isArray(envelopes) || !Array.isArray(forwards) || !Array.isArray(answers)) {
    return { error: "peer frame lists are not lists" };
  }
  const frame = {
    from,
    envelopes: [] as Envelope[],
    forwards: [] as Forward[],
    answers: [] as Answer[],
  };
  for (const item of envelopes) {
    const envelope = decodeEnvelope(item, groups);
    if ("error" in envelope) return envelope;
    frame.envelopes.push(envelope);
  }
  for (const item of forwards) {
    const forward = decodeWireRequest(item);
    if ("error" in forward) return { error: `forwarded request: ${forward.error}` };
    frame.forwards.push(forward);
  }
  for (const item of answers) {
    const answer = decodeWireAnswer(item);
    if ("error" in answer) return { error: `forwarded answer: ${answer.error}` };
    frame.answers.push(answer);
  }
  return frame;
}

function decodeEnvelope(item: unknown, groups: number): Envelope | { error: string } {
  if (!Array.isArray(item) || item.length !== 2) {
    return { error: "envelope is not [group, message]" };
  }
  const [group, raw] = item as [unknown, unknown];
  if (!isWireInteger(group) || group >= groups) {
    return { error: `envelope group must be an integer from 0 to ${groups - 1}` };
  }
  const message = decodeMessage(raw);
  if ("error" in message) return { error: `envelope for group ${group}: ${message.error}` };
  return { group, message };
}

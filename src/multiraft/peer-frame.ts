/**
 * Peer frames: everything one node sends another in one flush travels in one frame
 * (DESIGN.md §4), so a flush that touches 16 groups costs one write per peer, not 16.
 * Decoding validates everything; a malformed frame is an error value, never a throw.
 */
import { decode, encode } from "@msgpack/msgpack";
import { decodeMessage, encodeMessage } from "../codec/raft-message.ts";
import type { Message, NodeId } from "../raft/types.ts";

export type Envelope = { readonly group: number; readonly message: Message };

export type PeerFrame = {
  readonly kind: "raft";
  readonly from: NodeId;
  readonly envelopes: readonly Envelope[];
};

const kindRaft = 0;

export function encodePeerFrame(frame: PeerFrame): Uint8Array {
  const envelopes = frame.envelopes.map((e) => [e.group, encodeMessage(e.message)]);
  return encode([kindRaft, frame.from, envelopes]);
}

export function decodePeerFrame(bytes: Uint8Array, groups: number): PeerFrame | { error: string } {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (error) {
    return { error: `peer frame is not msgpack: ${String(error)}` };
  }
  if (!Array.isArray(value) || value.length !== 3) return { error: "peer frame is not [kind, from, body]" };
  const [kind, from, body] = value as [unknown, unknown, unknown];
  if (kind !== kindRaft) return { error: `peer frame kind ${String(kind)} is unknown` };
  if (typeof from !== "string" || from.length === 0) return { error: "peer frame has no sender" };
  if (!Array.isArray(body)) return { error: "peer frame body is not a list" };
  const envelopes: Envelope[] = [];
  for (const item of body) {
    if (!Array.isArray(item) || item.length !== 2) return { error: "envelope is not [group, message]" };
    const [group, raw] = item as [unknown, unknown];
    if (typeof group !== "number" || !Number.isInteger(group) || group < 0 || group >= groups) {
      return { error: `envelope group must be an integer from 0 to ${groups - 1}` };
    }
    const message = decodeMessage(raw);
    if ("error" in message) return { error: `envelope for group ${group}: ${message.error}` };
    envelopes.push({ group, message });
  }
  return { kind: "raft", from, envelopes };
}

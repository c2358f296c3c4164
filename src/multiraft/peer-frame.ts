/**
 * Peer frames: what one node sends another in one flush (docs/architecture.md): the Raft messages of
 * every group, requests forwarded to this peer as the leader of their partition, answers to
 * requests the peer forwarded here, and snapshot chunks with their acknowledgements. A flush
 * that touches 16 groups costs one write per peer, not 16, unless its messages outgrow the
 * frame budget (src/multiraft/frame-builder.ts splits them over several frames).
 *
 * Layout: [version, from, store, recovering, stores, envelopes, forwards, answers, chunks, acks,
 * cancels?]
 * - store: the sender's data directory id (src/ports/log-store.ts, NodeState); recovering: the
 *   sender is recovering from lost storage in some group; stores: {node: store id} the sender
 *   accepts for its peers, so that nodes that never talk directly (two followers) know each
 *   other's, and a node that lost its storage learns that it must recover.
 * - envelope: [group, message]; never a Snap message: snapshots travel as chunks.
 * - forward: [incarnation, request]; answer: [incarnation, answer]. A forwarded request is
 *   named by the forwarder's incarnation (one per start of its process) and a sequence
 *   number within it (the wire request's id), so ids never repeat across restarts.
 * - cancel: [incarnation, id]: the forward so named waits in line (a TryLock with waitMs) and its
 *   client went away; the leader takes it out of the line. The list is left out when empty, so
 *   a frame without cancels is the same bytes as before they existed.
 * - chunk: [group, term, index, snapshotTerm, voters, totalBytes, offset, data]: bytes
 *   [offset, offset + data.length) of the snapshot at (index, snapshotTerm) that the leader
 *   of `term` sends; ack: [group, term, index, received]: the receiver holds the first
 *   `received` bytes of that snapshot.
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
import { decodeMessage, encodeMessage, isCount, isNodeId } from "../codec/raft-message.ts";
import { snapshotBytesMax, snapshotChunkBytes, votersMax } from "../constants.ts";
import { type Message, MessageType, type NodeId } from "../raft/types.ts";

export type Envelope = { readonly group: number; readonly message: Message };
/** A request forwarded to its leader; `id` counts within the forwarder's `incarnation`. */
export type Forward = WireRequest & { readonly incarnation: number };
/** The answer to a forward, named as the forward was. */
export type Answer = WireAnswer & { readonly incarnation: number };
/** A forward whose client went away, named as the forward was. */
export type Cancel = { readonly incarnation: number; readonly id: number };

export type SnapshotChunk = {
  readonly group: number;
  /** The sending leader's term. */
  readonly term: number;
  readonly index: number;
  readonly snapshotTerm: number;
  readonly voters: readonly NodeId[];
  readonly totalBytes: number;
  readonly offset: number;
  readonly data: Uint8Array;
};

export type ChunkAck = {
  readonly group: number;
  readonly term: number;
  readonly index: number;
  readonly received: number;
};

/** Who sends a frame, and what it says about the two stores (see the layout). */
export type FrameHeader = {
  readonly from: NodeId;
  readonly store: string;
  readonly recovering: boolean;
  readonly stores: Readonly<Record<NodeId, string>>;
};

export type PeerFrame = {
  readonly from: NodeId;
  /** The rest of the header; "", false and {} when left out (tests). */
  readonly store?: string;
  readonly recovering?: boolean;
  readonly stores?: Readonly<Record<NodeId, string>>;
  readonly envelopes: readonly Envelope[];
  readonly forwards: readonly Forward[];
  readonly answers: readonly Answer[];
  readonly cancels?: readonly Cancel[];
  readonly chunks?: readonly SnapshotChunk[];
  readonly acks?: readonly ChunkAck[];
};

const version = 3;
/** A store id is 16 hex digits (NodeHost); a little room, no more. */
export const storeIdLengthMax = 64;

export function encodeEnvelope(e: Envelope): unknown {
  return [e.group, encodeMessage(e.message)];
}

export function encodeForward(f: Forward): unknown {
  return [f.incarnation, encodeWireRequest(f)];
}

export function encodeAnswer(a: Answer): unknown {
  return [a.incarnation, encodeWireAnswer(a)];
}

export function encodeCancel(c: Cancel): unknown {
  return [c.incarnation, c.id];
}

export function encodeChunk(c: SnapshotChunk): unknown {
  return [c.group, c.term, c.index, c.snapshotTerm, [...c.voters], c.totalBytes, c.offset, c.data];
}

export function encodeAck(a: ChunkAck): unknown {
  return [a.group, a.term, a.index, a.received];
}

/** The frame of already encoded items (the frame builder's), or of a PeerFrame's. */
export function encodeFrameItems(
  header: FrameHeader,
  items: {
    envelopes: unknown[];
    forwards: unknown[];
    answers: unknown[];
    chunks: unknown[];
    acks: unknown[];
    cancels: unknown[];
  },
): Uint8Array {
  const { envelopes, forwards, answers, chunks, acks, cancels } = items;
  const { from, store, recovering, stores } = header;
  const frame = [
    version,
    from,
    store,
    recovering,
    stores,
    envelopes,
    forwards,
    answers,
    chunks,
    acks,
  ];
  if (cancels.length > 0) frame.push(cancels);
  return encodeMsgpack(frame);
}

export function encodePeerFrame(frame: PeerFrame): Uint8Array {
  const header = {
    from: frame.from,
    store: frame.store ?? "",
    recovering: frame.recovering ?? false,
    stores: frame.stores ?? {},
  };
  return encodeFrameItems(header, {
    envelopes: frame.envelopes.map(encodeEnvelope),
    forwards: frame.forwards.map(encodeForward),
    answers: frame.answers.map(encodeAnswer),
    chunks: (frame.chunks ?? []).map(encodeChunk),
    acks: (frame.acks ?? []).map(encodeAck),
    cancels: (frame.cancels ?? []).map(encodeCancel),
  });
}

type Failure = { error: string };
type Decoded = FrameHeader & {
  envelopes: Envelope[];
  forwards: Forward[];
  answers: Answer[];
  chunks: SnapshotChunk[];
  acks: ChunkAck[];
  cancels: Cancel[];
};

export function decodePeerFrame(bytes: Uint8Array, groups: number): Decoded | Failure {
  let value: unknown;
  try {
    value = decodeMsgpack(bytes);
  } catch (error) {
    return { error: `peer frame is not msgpack: ${String(error)}` };
  }
  if (!Array.isArray(value) || (value.length !== 10 && value.length !== 11)) {
    return {
      error: "peer frame is not [version, from, store, recovering, stores, envelopes, " +
        "forwards, answers, chunks, acks, cancels?]",
    };
  }
  const [v, from, store, recovering, stores, ...lists] = value as unknown[];
  if (v !== version) {
    return { error: `peer frame version ${String(v)}, this node speaks ${version}` };
  }
  if (typeof from !== "string" || from.length === 0) return { error: "peer frame has no sender" };
  if (!isStoreId(store)) {
    return { error: `peer frame store must be a string of at most ${storeIdLengthMax} characters` };
  }
  if (typeof recovering !== "boolean") return { error: "peer frame recovering must be a boolean" };
  if (!isStores(stores)) {
    return {
      error: `peer frame stores must map at most ${votersMax} node ids to store ids`,
    };
  }
  if (!lists.every(Array.isArray)) return { error: "peer frame lists are not lists" };
  const [envelopes, forwards, answers, chunks, acks, cancels] = lists as unknown[][];
  const frame: Decoded = {
    from,
    store,
    recovering,
    stores,
    envelopes: [],
    forwards: [],
    answers: [],
    chunks: [],
    acks: [],
    cancels: [],
  };
  const failure = decodeList(envelopes!, (x) => decodeEnvelope(x, groups), frame.envelopes) ??
    decodeList(forwards!, decodeForward, frame.forwards) ??
    decodeList(answers!, decodeAnswer, frame.answers) ??
    decodeList(chunks!, (x) => decodeChunk(x, groups), frame.chunks) ??
    decodeList(acks!, (x) => decodeAck(x, groups), frame.acks) ??
    decodeList(cancels ?? [], decodeCancel, frame.cancels);
  return failure ?? frame;
}

function isStoreId(value: unknown): value is string {
  return typeof value === "string" && value.length <= storeIdLengthMax;
}

function isStores(value: unknown): value is Record<NodeId, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  return entries.length <= votersMax &&
    entries.every(([id, store]) => isNodeId(id) && isStoreId(store));
}

function decodeList<T extends object>(
  items: unknown[],
  decode: (item: unknown) => T | Failure,
  into: T[],
): Failure | undefined {
  for (const item of items) {
    const decoded = decode(item);
    if ("error" in decoded) return decoded;
    into.push(decoded);
  }
  return undefined;
}

function decodeEnvelope(item: unknown, groups: number): Envelope | Failure {
  if (!Array.isArray(item) || item.length !== 2) {
    return { error: "envelope is not [group, message]" };
  }
  const [group, raw] = item as [unknown, unknown];
  if (!isGroup(group, groups)) {
    return { error: `envelope group must be an integer from 0 to ${groups - 1}` };
  }
  const message = decodeMessage(raw);
  if ("error" in message) return { error: `envelope for group ${group}: ${message.error}` };
  if (message.type === MessageType.Snap) {
    return { error: `envelope for group ${group}: a snapshot travels in chunks, not whole` };
  }
  return { group, message };
}

function decodeForward(item: unknown): Forward | Failure {
  if (!Array.isArray(item) || item.length !== 2 || !isIncarnation(item[0])) {
    return { error: "forwarded request is not [incarnation, request]" };
  }
  const forward = decodeWireRequest(item[1]);
  if ("error" in forward) return { error: `forwarded request: ${forward.error}` };
  return { ...forward, incarnation: item[0] };
}

function decodeAnswer(item: unknown): Answer | Failure {
  if (!Array.isArray(item) || item.length !== 2 || !isIncarnation(item[0])) {
    return { error: "forwarded answer is not [incarnation, answer]" };
  }
  const answer = decodeWireAnswer(item[1]);
  if ("error" in answer) return { error: `forwarded answer: ${answer.error}` };
  return { ...answer, incarnation: item[0] };
}

function decodeCancel(item: unknown): Cancel | Failure {
  if (
    !Array.isArray(item) || item.length !== 2 || !isIncarnation(item[0]) ||
    !isWireInteger(item[1])
  ) {
    return { error: "cancel is not [incarnation, id]" };
  }
  return { incarnation: item[0], id: item[1] };
}

function decodeChunk(item: unknown, groups: number): SnapshotChunk | Failure {
  if (!Array.isArray(item) || item.length !== 8) {
    return {
      error:
        "snapshot chunk is not [group, term, index, snapshotTerm, voters, total, offset, data]",
    };
  }
  const [group, term, index, snapshotTerm, voters, totalBytes, offset, data] = item as unknown[];
  if (!isGroup(group, groups)) {
    return { error: `snapshot chunk group must be an integer from 0 to ${groups - 1}` };
  }
  if (!isCount(term) || !isCount(index) || index < 1) {
    return { error: "snapshot chunk term and index must be integers, the index at least 1" };
  }
  if (!isCount(snapshotTerm) || snapshotTerm < 1 || snapshotTerm > term) {
    return { error: `snapshot chunk snapshotTerm must be from 1 to ${term}` };
  }
  if (!Array.isArray(voters) || voters.length < 1 || voters.length > votersMax) {
    return { error: `snapshot chunk voters must be a list of 1 to ${votersMax} node ids` };
  }
  if (!voters.every(isNodeId)) return { error: "snapshot chunk voters must be node ids" };
  if (!isCount(totalBytes) || totalBytes < 1 || totalBytes > snapshotBytesMax) {
    return { error: `snapshot chunk total must be from 1 to ${snapshotBytesMax} bytes` };
  }
  if (!(data instanceof Uint8Array) || data.length < 1 || data.length > snapshotChunkBytes) {
    return { error: `snapshot chunk data must be 1 to ${snapshotChunkBytes} bytes` };
  }
  if (!isCount(offset) || offset + data.length > totalBytes) {
    return { error: "snapshot chunk must lie within its snapshot's total" };
  }
  return { group, term, index, snapshotTerm, voters: [...voters], totalBytes, offset, data };
}

function decodeAck(item: unknown, groups: number): ChunkAck | Failure {
  if (!Array.isArray(item) || item.length !== 4) {
    return { error: "snapshot chunk ack is not [group, term, index, received]" };
  }
  const [group, term, index, received] = item as unknown[];
  if (!isGroup(group, groups)) {
    return { error: `snapshot chunk ack group must be an integer from 0 to ${groups - 1}` };
  }
  if (!isCount(term) || !isCount(index) || !isCount(received) || received > snapshotBytesMax) {
    return {
      error: `snapshot chunk ack fields must be integers, received at most ${snapshotBytesMax}`,
    };
  }
  return { group, term, index, received };
}

function isGroup(x: unknown, groups: number): x is number {
  return isWireInteger(x) && x < groups;
}

function isIncarnation(x: unknown): x is number {
  return isWireInteger(x) && x >= 1;
}

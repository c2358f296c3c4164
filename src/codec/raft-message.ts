/**
 * Raft messages on the wire. `encodeMessage` turns a Message into a plain value for msgpack;
 * `decodeMessage` validates a value msgpack decoded from a peer (types, integer ranges,
 * lengths, known type tags) and returns a Message the core may trust, or an error naming
 * what was wrong. It never throws: a malformed frame must not crash the node.
 *
 * Layout: [type, from, to, term, logTerm, index, commit, reject, rejectHint, context,
 *          entries, snapshot]
 * - `entries`: [[term, data], ...]; entry i has index `index + 1 + i`, so the entries of an
 *   append are contiguous by construction. Only App messages carry entries.
 * - `snapshot`: null, or [index, term, voters, data] (required for Snap, absent otherwise).
 */
import { assert } from "../assert.ts";
import {
  entriesPerMessageMax,
  entryDataBytesMax,
  nodeIdBytesMax,
  votersMax,
} from "../constants.ts";
import { MessageType } from "../raft/types.ts";
import { utf8Bytes } from "./lock-request.ts";
import type { Entry, Message, Snapshot } from "../raft/types.ts";

const typeTags: readonly MessageType[] = [
  MessageType.App,
  MessageType.AppResp,
  MessageType.Vote,
  MessageType.VoteResp,
  MessageType.PreVote,
  MessageType.PreVoteResp,
  MessageType.Heartbeat,
  MessageType.HeartbeatResp,
  MessageType.Snap,
  MessageType.TimeoutNow,
  MessageType.ReadIndex,
  MessageType.ReadIndexResp,
  MessageType.TransferLeader,
];

const fieldCount = 12;

export function encodeMessage(m: Message): unknown {
  const tag = typeTags.indexOf(m.type);
  assert(tag >= 0, () => `raft message type ${m.type} has no wire tag`);
  const snapshot = m.snapshot === undefined ? null : [
    m.snapshot.metadata.index,
    m.snapshot.metadata.term,
    [...m.snapshot.metadata.voters],
    m.snapshot.data,
  ];
  return [
    tag,
    m.from,
    m.to,
    m.term,
    m.logTerm,
    m.index,
    m.commit,
    m.reject,
    m.rejectHint,
    m.context,
    m.entries.map((e) => [e.term, e.data]),
    snapshot,
  ];
}

type Failure = { error: string };

export function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0 && !Object.is(x, -0);
}

export function isNodeId(x: unknown): x is string {
  // The length check first keeps a huge string from being measured just to be rejected.
  return typeof x === "string" && x.length > 0 && x.length <= nodeIdBytesMax &&
    utf8Bytes(x) <= nodeIdBytesMax;
}

export function decodeMessage(x: unknown): Message | Failure {
  if (!Array.isArray(x) || x.length !== fieldCount) {
    return { error: `raft message must be a list of ${fieldCount} fields` };
  }
  const [tag, from, to, term, logTerm, index, commit, reject, rejectHint, context] = x;
  const type = isCount(tag) ? typeTags[tag] : undefined;
  if (type === undefined) return { error: `raft message type ${String(tag)} is unknown` };
  if (!isNodeId(from) || !isNodeId(to)) {
    return { error: `raft message from/to must be node ids of 1 to ${nodeIdBytesMax} bytes` };
  }
  const notCount = !isCount(term)
    ? "term"
    : !isCount(logTerm)
    ? "logTerm"
    : !isCount(index)
    ? "index"
    : !isCount(commit)
    ? "commit"
    : !isCount(rejectHint)
    ? "rejectHint"
    : !isCount(context)
    ? "context"
    : undefined;
  if (notCount !== undefined) {
    return { error: `raft message ${notCount} must be a non-negative integer` };
  }
  if (typeof reject !== "boolean") return { error: "raft message reject must be a boolean" };
  const entries = decodeEntries(x[10], type, index as number, logTerm as number, term as number);
  if ("error" in entries) return entries;
  const snapshot = decodeSnapshot(x[11], type, term as number);
  if (snapshot !== undefined && "error" in snapshot) return snapshot;
  const message: Message = {
    type,
    from,
    to,
    term: term as number,
    logTerm: logTerm as number,
    index: index as number,
    commit: commit as number,
    reject,
    rejectHint: rejectHint as number,
    context: context as number,
    entries: entries.entries,
  };
  return snapshot === undefined ? message : { ...message, snapshot };
}

function decodeEntries(
  raw: unknown,
  type: MessageType,
  index: number,
  logTerm: number,
  term: number,
): { entries: Entry[] } | Failure {
  if (!Array.isArray(raw)) return { error: "raft message entries must be a list" };
  if (raw.length > 0 && type !== MessageType.App) {
    return { error: `raft message of type ${type} must not carry entries` };
  }
  if (raw.length > entriesPerMessageMax) {
    return { error: `raft message carries ${raw.length} entries, at most ${entriesPerMessageMax}` };
  }
  if (index + raw.length > Number.MAX_SAFE_INTEGER) {
    return { error: "raft message entries run past the largest index" };
  }
  const entries: Entry[] = [];
  let previousTerm = logTerm;
  for (const item of raw) {
    if (!Array.isArray(item) || item.length !== 2) return { error: "entry must be [term, data]" };
    const [entryTerm, data] = item as [unknown, unknown];
    // Raft §5.3: terms in a log never decrease, and no entry is newer than its sender's term.
    if (!isCount(entryTerm) || entryTerm < previousTerm || entryTerm > term) {
      return { error: `entry term must be from ${previousTerm} to ${term}` };
    }
    if (!(data instanceof Uint8Array)) return { error: "entry data must be bytes" };
    // Every entry is a lock command (or the empty no-op): one that is longer could never be
    // sent on within a frame budget by this node as a leader.
    if (data.length > entryDataBytesMax) {
      return { error: `entry data must be at most ${entryDataBytesMax} bytes` };
    }
    entries.push({ term: entryTerm, index: index + 1 + entries.length, data });
    previousTerm = entryTerm;
  }
  return { entries };
}

function decodeSnapshot(
  raw: unknown,
  type: MessageType,
  term: number,
): Snapshot | Failure | undefined {
  if (raw === null || raw === undefined) {
    return type === MessageType.Snap ? { error: "snap message must carry a snapshot" } : undefined;
  }
  if (type !== MessageType.Snap) {
    return { error: `raft message of type ${type} carries a snapshot` };
  }
  if (!Array.isArray(raw) || raw.length !== 4) {
    return { error: "snapshot must be [index, term, voters, data]" };
  }
  const [index, snapTerm, voters, data] = raw as [unknown, unknown, unknown, unknown];
  if (!isCount(index) || index < 1) return { error: "snapshot index must be a positive integer" };
  if (!isCount(snapTerm) || snapTerm < 1 || snapTerm > term) {
    return { error: `snapshot term must be from 1 to ${term}` };
  }
  if (!Array.isArray(voters) || voters.length < 1 || voters.length > votersMax) {
    return { error: `snapshot voters must be a list of 1 to ${votersMax} node ids` };
  }
  if (!voters.every(isNodeId)) return { error: "snapshot voters must be node ids" };
  if (!(data instanceof Uint8Array)) return { error: "snapshot data must be bytes" };
  return { metadata: { index, term: snapTerm, voters: [...voters] }, data };
}

/**
 * The payloads of the log engine's records (src/storage/record-frame.ts frames them). All
 * integers little-endian; indexes and terms as u64 held in two u32 halves (exact up to 2^53,
 * as JavaScript numbers are). Every decoder takes bytes whose checksum matched and still
 * checks their shape, returning an error string a person reads rather than throwing: a
 * checksum proves the bytes are the ones written, not that a bug did not write them.
 *
 *     entries        u64 first index, u32 count, then per entry: u64 term, u32 bytes, data
 *                    (replaces the group's log from the first index on, Raft §5.3)
 *     hardState      u64 term, u64 commit, u16 vote bytes, vote (UTF-8)
 *     snapshot       u64 index, u64 term: this node's own snapshot; entries stay until compact
 *     snapshotInstalled  u64 index, u64 term: a leader's snapshot replaced the whole log
 *     compact        u64 through index: entries at or below it are dropped
 *     identity, nodeState   JSON (UTF-8), in the node's own group (nodeGroup)
 *     incarnation    u64 count of starts, in the node's own group
 *     previousSegment  u64 number, u64 bytes: the segment before this one, as it was sealed
 *                    (a checkpoint's first record), so that a truncated segment is detected
 *     snapshotChunk  bytes of a snapshot file's state, in order
 *     snapshotEnd    u64 index, u64 term, u64 state bytes, JSON voters: a snapshot file's last
 */
import { assert } from "../assert.ts";
import { recordPayloadBytesMax } from "../constants.ts";
import type { Entry, HardState } from "../raft/types.ts";

export const RecordType = {
  entries: 1,
  hardState: 2,
  snapshot: 3,
  snapshotInstalled: 4,
  compact: 5,
  identity: 6,
  incarnation: 7,
  nodeState: 8,
  previousSegment: 9,
  snapshotChunk: 20,
  snapshotEnd: 21,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

const entriesHeaderBytes = 12;
const entryHeaderBytes = 12;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function putU64(view: DataView, offset: number, value: number): void {
  assert(
    Number.isSafeInteger(value) && value >= 0,
    () => `a stored u64 is a safe non-negative integer, got ${value}`,
  );
  view.setUint32(offset, value % 2 ** 32, true);
  view.setUint32(offset + 4, Math.floor(value / 2 ** 32), true);
}

/** A u64 as a number, or -1 above 2^53 (which no index or term reaches). */
export function getU64(view: DataView, offset: number): number {
  const high = view.getUint32(offset + 4, true);
  if (high >= 2 ** 21) return -1;
  return high * 2 ** 32 + view.getUint32(offset, true);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Bytes an entries payload of `entries` takes. */
export function entriesPayloadBytes(entries: readonly Entry[]): number {
  let bytes = entriesHeaderBytes;
  for (const e of entries) bytes += entryHeaderBytes + e.data.length;
  return bytes;
}

/**
 * `entries` (contiguous) cut into runs whose payloads each fit one record, in order. An entry
 * too large for a record on its own cannot be stored: the host's limits keep entries far
 * smaller (asserted in src/constants.ts).
 */
export function splitEntries(entries: readonly Entry[]): Entry[][] {
  const runs: Entry[][] = [];
  let run: Entry[] = [];
  let bytes = entriesHeaderBytes;
  for (const e of entries) {
    const size = entryHeaderBytes + e.data.length;
    assert(
      entriesHeaderBytes + size <= recordPayloadBytesMax,
      () => `an entry of ${e.data.length} bytes fits one log record`,
    );
    if (bytes + size > recordPayloadBytesMax) {
      runs.push(run);
      run = [];
      bytes = entriesHeaderBytes;
    }
    run.push(e);
    bytes += size;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

export function encodeEntries(entries: readonly Entry[]): Uint8Array {
  const first = entries[0];
  assert(first !== undefined, "an entries record holds at least one entry");
  const payload = new Uint8Array(entriesPayloadBytes(entries));
  const view = viewOf(payload);
  putU64(view, 0, first.index);
  view.setUint32(8, entries.length, true);
  let offset = entriesHeaderBytes;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    assert(e.index === first.index + i, "the entries of a record are contiguous");
    putU64(view, offset, e.term);
    view.setUint32(offset + 8, e.data.length, true);
    payload.set(e.data, offset + entryHeaderBytes);
    offset += entryHeaderBytes + e.data.length;
  }
  return payload;
}

/** The first index and count of an entries payload, without decoding the entries. */
export function entriesSpan(
  payload: Uint8Array,
): { first: number; count: number } | { error: string } {
  if (payload.length < entriesHeaderBytes) {
    return { error: `an entries record has ${payload.length} bytes, less than its header` };
  }
  const view = viewOf(payload);
  const first = getU64(view, 0);
  const count = view.getUint32(8, true);
  if (first < 1) return { error: `an entries record starts at index ${first}` };
  if (count < 1) return { error: "an entries record holds no entry" };
  return { first, count };
}

/** The entries of a payload; each entry's data is a copy (the payload's buffer is reused). */
export function decodeEntries(payload: Uint8Array): Entry[] | { error: string } {
  const span = entriesSpan(payload);
  if ("error" in span) return span;
  const view = viewOf(payload);
  const entries: Entry[] = [];
  let offset = entriesHeaderBytes;
  for (let i = 0; i < span.count; i++) {
    if (offset + entryHeaderBytes > payload.length) {
      return { error: `entry ${i + 1} of ${span.count} runs past the record's end` };
    }
    const term = getU64(view, offset);
    const bytes = view.getUint32(offset + 8, true);
    const start = offset + entryHeaderBytes;
    if (term < 1) return { error: `entry ${span.first + i} has term ${term}` };
    if (start + bytes > payload.length) {
      return { error: `entry ${span.first + i}'s ${bytes} bytes run past the record's end` };
    }
    entries.push({ term, index: span.first + i, data: payload.slice(start, start + bytes) });
    offset = start + bytes;
  }
  if (offset !== payload.length) {
    return { error: `${payload.length - offset} bytes follow the record's last entry` };
  }
  return entries;
}

export function encodeHardState(state: HardState): Uint8Array {
  const vote = encoder.encode(state.vote);
  assert(vote.length <= 0xffff, "a vote fits a u16 length");
  const payload = new Uint8Array(18 + vote.length);
  const view = viewOf(payload);
  putU64(view, 0, state.term);
  putU64(view, 8, state.commit);
  view.setUint16(16, vote.length, true);
  payload.set(vote, 18);
  return payload;
}

export function decodeHardState(payload: Uint8Array): HardState | { error: string } {
  if (payload.length < 18) return { error: `a hard state record has ${payload.length} bytes` };
  const view = viewOf(payload);
  const term = getU64(view, 0);
  const commit = getU64(view, 8);
  const voteBytes = view.getUint16(16, true);
  if (term < 0 || commit < 0) return { error: "a hard state's term or commit is out of range" };
  if (18 + voteBytes !== payload.length) {
    return { error: `a hard state's vote of ${voteBytes} bytes does not fill its record` };
  }
  const vote = utf8(payload.subarray(18));
  if (vote === undefined) return { error: "a hard state's vote is not UTF-8" };
  return { term, vote, commit };
}

/** Payload of snapshot, snapshotInstalled and compact records: one or two u64s. */
export function encodeNumbers(...values: number[]): Uint8Array {
  const payload = new Uint8Array(8 * values.length);
  const view = viewOf(payload);
  values.forEach((value, i) => putU64(view, 8 * i, value));
  return payload;
}

export function decodeNumbers(payload: Uint8Array, count: number): number[] | { error: string } {
  if (payload.length !== 8 * count) {
    return { error: `a record of ${count} numbers has ${payload.length} bytes` };
  }
  const view = viewOf(payload);
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    const value = getU64(view, 8 * i);
    if (value < 0) return { error: `number ${i + 1} of the record is above 2^53` };
    values.push(value);
  }
  return values;
}

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function decodeJson(payload: Uint8Array): { value: unknown } | { error: string } {
  const text = utf8(payload);
  if (text === undefined) return { error: "the record is not UTF-8" };
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    return { error: `the record is not JSON: ${String(error)}` };
  }
}

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * The on-disk framing of the log engine: segment files shared by every group (partition), each
 * a segment header then records, appended and never rewritten. All integers little-endian.
 *
 *     segment header (16 bytes)
 *       0  8 bytes  magic "KAHUNLOG"
 *       8  u32      format version (1)
 *      12  u32      CRC-32C of bytes 0..12
 *
 *     record (18 bytes + payload)
 *       0  u32      header CRC: CRC-32C of bytes 4..17 (so it covers the payload CRC too)
 *       4  u32      payload length in bytes, at most recordPayloadBytesMax
 *       8  u32      group
 *      12  u8       type (the engine's: entries, hard state, ...)
 *      13  u32      payload CRC: CRC-32C of the payload
 *      17  payload
 *     17+n u8       end marker 0xA5
 *
 * Why this layout rather than one CRC over type and payload: reading a segment back must tell
 * a torn tail (the expected result of a crash mid-append: truncate it) from corruption (never
 * truncate: that would drop records already acknowledged, a Raft safety violation). Two
 * choices make the difference decidable from the bytes alone:
 *
 * - The length has its own checksum. With one CRC after the length, a flipped length bit that
 *   points past the end of the file reads exactly like a record cut short, and the last
 *   records would be truncated as "torn". A header CRC catches it before the length is used.
 * - Every record ends in a nonzero byte. A crash keeps a prefix of the unsynced bytes, whose
 *   end may read back as zeros (src/ports/file-system.ts); so the bytes that really reached
 *   the disk end where the file's trailing run of zeros starts. A record that fails its checks
 *   but whose real bytes are all there is corruption; one that reaches into the trailing zeros
 *   or past the end is torn. The end marker makes a complete record's last byte nonzero, so a
 *   damaged record can never pass for one that runs into the zeros (and no single bit flip can
 *   zero the marker).
 *
 * The group sits in the checked header so that a payload checksum failure still names its
 * partition. Bit flips anywhere in a segment are reported as corruption at the damaged
 * record, never returned as a record (CRC-32C detects every error of up to 3 bits in a record).
 *
 * `scanSegment` never throws, whatever the bytes: they come from disk, the boundary where
 * input is checked (encoding, on the other side, asserts its preconditions).
 */
import { assert } from "../assert.ts";
import { recordPayloadBytesMax } from "../constants.ts";
import { crc32c } from "./crc32c.ts";

export const segmentFormatVersion = 1;
export const segmentHeaderBytes = 16;
export const recordHeaderBytes = 17;
export const recordOverheadBytes = recordHeaderBytes + 1;
const segmentMagic = new TextEncoder().encode("KAHUNLOG");
const recordEndMarker = 0xa5;
const u32Max = 0xffffffff;

assert(segmentMagic.length === 8, "the segment magic is 8 bytes");
assert(
  recordOverheadBytes + recordPayloadBytesMax <= u32Max,
  "a whole record's size fits in a u32",
);

export type LogRecord = {
  readonly group: number;
  readonly type: number;
  readonly payload: Uint8Array;
};

/** A record read back, and where it starts. Its payload is a view into the scanned bytes. */
export type ScannedRecord = LogRecord & { readonly offset: number };

/** Why the bytes after the last good record are a torn tail (a crash mid-append). */
export type TornReason =
  /** The file is shorter than a segment header, or its header is cut short or zeroed. */
  | "segmentHeader"
  /** Everything after the last good record reads as zeros. */
  | "zeros"
  /** A record header cut short (its real bytes end before the header does). */
  | "recordHeader"
  /** A record whose header is sound but whose real bytes end before the record does. */
  | "record";

/** What is wrong with damaged bytes that a torn write cannot explain. */
export type CorruptionProblem =
  | "magic"
  | "segmentHeaderChecksum"
  | "version"
  | "recordHeaderChecksum"
  | "recordLength"
  | "payloadChecksum"
  | "endMarker";

export type SegmentEnd =
  /** Every byte belongs to a good record (or to the segment header). */
  | { readonly kind: "clean"; readonly length: number }
  /** A crash cut the last append: truncate the file to `truncateTo` and go on. */
  | { readonly kind: "tornTail"; readonly truncateTo: number; readonly reason: TornReason }
  /**
   * Damage at `offset`: the record there (or the segment header, at 0) and everything after
   * it must not be applied. `group` is known when the record's header is sound.
   */
  | {
    readonly kind: "corrupt";
    readonly offset: number;
    readonly problem: CorruptionProblem;
    readonly group: number | undefined;
    readonly detail: string;
  };

export type SegmentScan = { readonly records: ScannedRecord[]; readonly end: SegmentEnd };

/** Bytes a record with `payloadBytes` of payload takes on disk. */
export function recordBytes(payloadBytes: number): number {
  return recordOverheadBytes + payloadBytes;
}

/** The 16 bytes every segment file starts with. */
export function encodeSegmentHeader(): Uint8Array {
  const header = new Uint8Array(segmentHeaderBytes);
  const view = new DataView(header.buffer);
  header.set(segmentMagic, 0);
  view.setUint32(8, segmentFormatVersion, true);
  view.setUint32(12, crc32c(header.subarray(0, 12)), true);
  return header;
}

/**
 * Writes `record` into `target` at `offset` and returns the offset after it, so that many
 * records go into one buffer for one append.
 */
export function encodeRecordInto(target: Uint8Array, offset: number, record: LogRecord): number {
  const { group, type, payload } = record;
  assert(
    Number.isInteger(group) && group >= 0 && group <= u32Max,
    () => `a record's group is a u32, got ${group}`,
  );
  assert(
    Number.isInteger(type) && type >= 0 && type <= 0xff,
    () => `a record's type is a u8, got ${type}`,
  );
  assert(
    payload.length <= recordPayloadBytesMax,
    () => `a record payload is at most ${recordPayloadBytesMax} bytes, got ${payload.length}`,
  );
  const end = offset + recordBytes(payload.length);
  assert(
    Number.isInteger(offset) && offset >= 0 && end <= target.length,
    () => `a record of ${end - offset} bytes at ${offset} does not fit in ${target.length}`,
  );
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  view.setUint32(offset + 4, payload.length, true);
  view.setUint32(offset + 8, group, true);
  view.setUint8(offset + 12, type);
  view.setUint32(offset + 13, crc32c(payload), true);
  view.setUint32(offset, crc32c(target.subarray(offset + 4, offset + recordHeaderBytes)), true);
  target.set(payload, offset + recordHeaderBytes);
  target[end - 1] = recordEndMarker;
  return end;
}

/** `record` framed on its own. */
export function encodeRecord(record: LogRecord): Uint8Array {
  const bytes = new Uint8Array(recordBytes(record.payload.length));
  const end = encodeRecordInto(bytes, 0, record);
  assert(end === bytes.length, "a record fills its own buffer");
  return bytes;
}

/**
 * Reads a whole segment file: its good records in order, then how it ends. Records are
 * returned only up to the first damage; a torn tail is reported with the length to truncate
 * the file to.
 */
export function scanSegment(bytes: Uint8Array): SegmentScan {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Where the real bytes end: a torn write may leave zeros after them, never before.
  let realEnd = bytes.length;
  while (realEnd > 0 && bytes[realEnd - 1] === 0) realEnd -= 1;

  const headerProblem = segmentHeaderProblem(bytes, view);
  if (headerProblem !== undefined) {
    const end: SegmentEnd = realEnd < segmentHeaderBytes
      ? { kind: "tornTail", truncateTo: 0, reason: "segmentHeader" }
      : { kind: "corrupt", offset: 0, group: undefined, ...headerProblem };
    return { records: [], end };
  }
  return scanRecordsFrom(bytes, segmentHeaderBytes);
}

/**
 * The records of a segment from `from` on (a record boundary after a sound segment header),
 * as `scanSegment` reads them: repair uses it to go on past a damaged record whose header,
 * and so whose length, is sound.
 */
export function scanRecordsFrom(bytes: Uint8Array, from: number): SegmentScan {
  assert(
    from >= segmentHeaderBytes && from <= bytes.length,
    () => `a scan starts after the segment header and within the file, got ${from}`,
  );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let realEnd = bytes.length;
  while (realEnd > 0 && bytes[realEnd - 1] === 0) realEnd -= 1;
  const records: ScannedRecord[] = [];
  let offset = from;
  for (;;) {
    const read = readRecord(bytes, view, offset, realEnd);
    if (read.kind !== "record") return { records, end: read };
    records.push(read.record);
    offset += recordBytes(read.record.payload.length);
  }
}

type Problem = { readonly problem: CorruptionProblem; readonly detail: string };

function segmentHeaderProblem(bytes: Uint8Array, view: DataView): Problem | undefined {
  if (bytes.length < segmentHeaderBytes) {
    return { problem: "magic", detail: `the file has ${bytes.length} bytes, less than a header` };
  }
  if (!segmentMagic.every((b, i) => bytes[i] === b)) {
    return { problem: "magic", detail: `it does not start with "KAHUNLOG": not a log segment` };
  }
  const stored = view.getUint32(12, true);
  const computed = crc32c(bytes.subarray(0, 12));
  if (stored !== computed) {
    return {
      problem: "segmentHeaderChecksum",
      detail: `the segment header checksum is ${hex(stored)}, its bytes give ${hex(computed)}`,
    };
  }
  const version = view.getUint32(8, true);
  if (version !== segmentFormatVersion) {
    return {
      problem: "version",
      detail: `segment format version ${version}; this build reads version ${segmentFormatVersion}`,
    };
  }
  return undefined;
}

type RecordRead = { readonly kind: "record"; readonly record: ScannedRecord } | SegmentEnd;

/** The record at `offset`, or how the segment ends there. */
function readRecord(
  bytes: Uint8Array,
  view: DataView,
  offset: number,
  realEnd: number,
): RecordRead {
  if (offset === bytes.length) return { kind: "clean", length: offset };
  const headerEnd = offset + recordHeaderBytes;
  const headerSound = headerEnd <= bytes.length &&
    view.getUint32(offset, true) === crc32c(bytes.subarray(offset + 4, headerEnd));
  if (!headerSound) {
    // A damaged header whose real bytes end before it does is a torn one. (A sound header is
    // real even if it ends in zero bytes: zeros a crash left would fail its checksum.)
    if (realEnd < headerEnd) {
      const reason = realEnd <= offset ? "zeros" : "recordHeader";
      return { kind: "tornTail", truncateTo: offset, reason };
    }
    const stored = view.getUint32(offset, true);
    const computed = crc32c(bytes.subarray(offset + 4, headerEnd));
    return corrupt(offset, undefined, {
      problem: "recordHeaderChecksum",
      detail: `the record header checksum is ${hex(stored)}, its bytes give ${hex(computed)}`,
    });
  }
  const payloadBytes = view.getUint32(offset + 4, true);
  const group = view.getUint32(offset + 8, true);
  if (payloadBytes > recordPayloadBytesMax) {
    return corrupt(offset, group, {
      problem: "recordLength",
      detail: `a payload of ${payloadBytes} bytes is over recordPayloadBytesMax ` +
        `(${recordPayloadBytesMax}); was it written by a build with a larger bound?`,
    });
  }
  const end = offset + recordBytes(payloadBytes);
  // A sound header whose record runs into the trailing zeros or past the end: cut short.
  if (end > realEnd) return { kind: "tornTail", truncateTo: offset, reason: "record" };
  const payload = bytes.subarray(offset + recordHeaderBytes, end - 1);
  const storedPayloadCrc = view.getUint32(offset + 13, true);
  const payloadCrc = crc32c(payload);
  if (storedPayloadCrc !== payloadCrc) {
    return corrupt(offset, group, {
      problem: "payloadChecksum",
      detail: `the payload checksum is ${hex(storedPayloadCrc)}, its ${payloadBytes} bytes give ` +
        `${hex(payloadCrc)}`,
    });
  }
  const marker = bytes[end - 1]!;
  if (marker !== recordEndMarker) {
    return corrupt(offset, group, {
      problem: "endMarker",
      detail: `the record ends in ${hex(marker, 2)}, not ${hex(recordEndMarker, 2)}`,
    });
  }
  const type = view.getUint8(offset + 12);
  return { kind: "record", record: { offset, group, type, payload } };
}

/** `bytes` read back as exactly one whole record, or why they are not one. */
export function decodeRecord(bytes: Uint8Array): ScannedRecord | { error: string } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = readRecord(bytes, view, 0, bytes.length);
  if (read.kind !== "record") {
    return { error: read.kind === "corrupt" ? read.detail : `the record is ${read.kind}` };
  }
  if (recordBytes(read.record.payload.length) !== bytes.length) {
    return {
      error: `the record takes ${recordBytes(read.record.payload.length)} bytes, not ` +
        `${bytes.length}`,
    };
  }
  return read.record;
}

/**
 * Bytes the record at `offset` takes if its header is sound and its length in bounds, so that a
 * scan can go on after it even though its payload is damaged; undefined otherwise.
 */
export function soundRecordBytesAt(bytes: Uint8Array, offset: number): number | undefined {
  const headerEnd = offset + recordHeaderBytes;
  if (offset < 0 || headerEnd > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(offset, true) !== crc32c(bytes.subarray(offset + 4, headerEnd))) {
    return undefined;
  }
  const payloadBytes = view.getUint32(offset + 4, true);
  if (payloadBytes > recordPayloadBytesMax) return undefined;
  const end = offset + recordBytes(payloadBytes);
  return end <= bytes.length ? end - offset : undefined;
}

function corrupt(offset: number, group: number | undefined, problem: Problem): SegmentEnd {
  return { kind: "corrupt", offset, group, ...problem };
}

function hex(value: number, digits = 8): string {
  return `0x${value.toString(16).padStart(digits, "0")}`;
}

/**
 * The message a person reads when a segment is corrupt: which file, where, which partition,
 * what was wrong, and what to do.
 */
export function corruptionMessage(
  file: string,
  end: Extract<SegmentEnd, { kind: "corrupt" }>,
  groupName: (group: number) => string = (group) => `partition ${group}`,
): string {
  const inSegmentHeader = end.problem === "magic" || end.problem === "segmentHeaderChecksum" ||
    end.problem === "version";
  const where = inSegmentHeader
    ? "its segment header (every partition with records in the file)"
    : end.group === undefined
    ? `the record at offset ${end.offset} (partition unknown: the record header is damaged)`
    : `the record at offset ${end.offset} (${groupName(end.group)})`;
  return `log segment ${file} is corrupt in ${where}: ${end.detail}. Records ` +
    `before offset ${end.offset} are intact; nothing from it on is applied, and the file is ` +
    `left as it is for diagnosis.`;
}

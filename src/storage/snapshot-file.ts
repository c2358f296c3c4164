/**
 * A group's snapshot as a file of its own beside the log segments, framed as a segment is
 * (src/storage/record-frame.ts): a segment header, the state in `snapshotChunk` records, and a
 * `snapshotEnd` record with the metadata. It is written under a temporary name, synced, renamed
 * into place and the directory synced, so a name the log refers to always holds the whole
 * file: a crash leaves the old file, or the new one complete, or a `.tmp` the engine removes.
 *
 * Reading checks everything: every record's checksum, the group, the end record, the state's
 * length, and that the metadata is the one the file name and the log promise.
 */
import { recordPayloadBytesMax } from "../constants.ts";
import type { FileSystem } from "../ports/file-system.ts";
import type { NodeId, Snapshot } from "../raft/types.ts";
import { decodeJson, decodeNumbers, encodeJson, encodeNumbers, RecordType } from "./log-records.ts";
import { encodeRecord, encodeSegmentHeader, scanSegment } from "./record-frame.ts";

export const snapshotFileSuffix = ".snap";
export const temporaryFileSuffix = ".tmp";

/** `snap-GROUP-INDEX-TERM.snap`: decimal numbers, so a listing shows what each file is. */
export function snapshotFileName(group: number, index: number, term: number): string {
  return `snap-${group}-${index}-${term}${snapshotFileSuffix}`;
}

/** Writes `snapshot` durably under its name (replacing a file of that name). */
export function writeSnapshotFile(fs: FileSystem, group: number, snapshot: Snapshot): string {
  const { index, term, voters } = snapshot.metadata;
  const name = snapshotFileName(group, index, term);
  const temporary = name + temporaryFileSuffix;
  if (fs.list().includes(temporary)) fs.remove(temporary);
  const file = fs.open(temporary, "create");
  try {
    file.append(encodeSegmentHeader());
    const data = snapshot.data;
    for (let offset = 0; offset < data.length; offset += recordPayloadBytesMax) {
      const chunk = data.subarray(offset, Math.min(data.length, offset + recordPayloadBytesMax));
      file.append(encodeRecord({ group, type: RecordType.snapshotChunk, payload: chunk }));
    }
    const numbers = encodeNumbers(index, term, data.length);
    const votersJson = encodeJson(voters);
    const end = new Uint8Array(numbers.length + votersJson.length);
    end.set(numbers);
    end.set(votersJson, numbers.length);
    file.append(encodeRecord({ group, type: RecordType.snapshotEnd, payload: end }));
    file.sync();
  } finally {
    file.close();
  }
  fs.rename(temporary, name);
  fs.syncDirectory();
  return name;
}

/** The snapshot in file `name`, which the log says is group's at `index` and `term`. */
export function readSnapshotFile(
  fs: FileSystem,
  name: string,
  group: number,
  expected: { index: number; term: number },
): Snapshot | { error: string } {
  if (!fs.list().includes(name)) return { error: `snapshot file ${name} is missing` };
  const file = fs.open(name, "existing");
  let bytes;
  try {
    bytes = file.read(0, file.size());
  } finally {
    file.close();
  }
  const scan = scanSegment(bytes);
  if (scan.end.kind !== "clean") {
    const where = scan.end.kind === "corrupt" ? `at offset ${scan.end.offset}` : "at its end";
    const what = scan.end.kind === "corrupt" ? scan.end.detail : "it is cut short";
    return { error: `snapshot file ${name} is damaged ${where}: ${what}` };
  }
  const last = scan.records[scan.records.length - 1];
  if (last === undefined || last.type !== RecordType.snapshotEnd) {
    return { error: `snapshot file ${name} does not end in its metadata record` };
  }
  const chunks = scan.records.slice(0, -1);
  if (scan.records.some((r) => r.group !== group)) {
    return { error: `snapshot file ${name} holds records of another partition than ${group}` };
  }
  if (chunks.some((r) => r.type !== RecordType.snapshotChunk)) {
    return { error: `snapshot file ${name} holds a record that is not part of a snapshot` };
  }
  const numbers = decodeNumbers(last.payload.subarray(0, 24), 3);
  const voters = decodeJson(last.payload.subarray(24));
  if ("error" in numbers || "error" in voters) {
    return { error: `snapshot file ${name}'s metadata record is malformed` };
  }
  const [index, term, bytesTotal] = numbers as [number, number, number];
  if (index !== expected.index || term !== expected.term) {
    return {
      error: `snapshot file ${name} holds index ${index} term ${term}, the log expects index ` +
        `${expected.index} term ${expected.term}`,
    };
  }
  if (!isVoterList(voters.value)) {
    return { error: `snapshot file ${name}'s voters are not a list of node ids` };
  }
  const data = new Uint8Array(bytesTotal);
  let offset = 0;
  for (const chunk of chunks) {
    if (offset + chunk.payload.length > bytesTotal) break;
    data.set(chunk.payload, offset);
    offset += chunk.payload.length;
  }
  if (offset !== bytesTotal || chunks.reduce((n, c) => n + c.payload.length, 0) !== bytesTotal) {
    return { error: `snapshot file ${name} holds a state of another length than its metadata` };
  }
  return { metadata: { index, term, voters: voters.value }, data };
}

function isVoterList(value: unknown): value is NodeId[] {
  return Array.isArray(value) && value.length >= 1 &&
    value.every((v) => typeof v === "string" && v.length > 0);
}

import { expect, test } from "bun:test";
import { MemoryFileSystem } from "../adapters/memory/memory-file-system.ts";
import { Prng } from "../adapters/sim/prng.ts";
import { recordPayloadBytesMax } from "../constants.ts";
import { crc32c } from "./crc32c.ts";
import {
  corruptionMessage,
  encodeRecord,
  encodeRecordInto,
  encodeSegmentHeader,
  type LogRecord,
  recordBytes,
  recordHeaderBytes,
  scanSegment,
  segmentHeaderBytes,
  type SegmentScan,
} from "./record-frame.ts";

/** A segment of `records`, and where each record starts (plus the end, last). */
function segment(records: readonly LogRecord[]): { bytes: Uint8Array; boundaries: number[] } {
  const size = segmentHeaderBytes + records.reduce((n, r) => n + recordBytes(r.payload.length), 0);
  const bytes = new Uint8Array(size);
  bytes.set(encodeSegmentHeader(), 0);
  const boundaries = [segmentHeaderBytes];
  for (const record of records) {
    boundaries.push(encodeRecordInto(bytes, boundaries.at(-1)!, record));
  }
  expect(boundaries.at(-1)).toBe(size);
  return { bytes, boundaries };
}

/** Records chosen to be awkward: empty, all zeros, ending in zeros, group 0 and type 0. */
const awkward: LogRecord[] = [
  { group: 0, type: 0, payload: new Uint8Array(0) },
  { group: 3, type: 1, payload: Uint8Array.from([7]) },
  { group: 0, type: 0, payload: new Uint8Array(6) },
  { group: 0xffffffff, type: 255, payload: Uint8Array.from([1, 2, 3, 0, 0]) },
  { group: 15, type: 2, payload: Uint8Array.from([0xa5, 0x00, 0xff, 0x12, 0x34, 0x56, 0x78]) },
];

function plain(scan: SegmentScan) {
  return {
    records: scan.records.map((r) => ({ ...r, payload: [...r.payload] })),
    end: scan.end,
  };
}

const plainRecords = (records: readonly LogRecord[], boundaries: readonly number[]) =>
  records.map((r, i) => ({ ...r, offset: boundaries[i]!, payload: [...r.payload] }));

test("an empty segment is a header, and it scans clean", () => {
  const header = encodeSegmentHeader();
  expect(header.length).toBe(segmentHeaderBytes);
  expect(new TextDecoder().decode(header.subarray(0, 8))).toBe("KAHUNLOG");
  expect(scanSegment(header)).toEqual({ records: [], end: { kind: "clean", length: 16 } });
});

test("records round-trip with their offsets, groups, types and payloads", () => {
  const random = new Prng(1);
  const large = Uint8Array.from({ length: 100_000 }, () => random.int(256));
  const records = [...awkward, { group: 9, type: 4, payload: large }];
  const { bytes, boundaries } = segment(records);
  expect(plain(scanSegment(bytes))).toEqual({
    records: plainRecords(records, boundaries),
    end: { kind: "clean", length: bytes.length },
  });
});

test("encodeRecord frames one record: 18 bytes of overhead", () => {
  const record = { group: 2, type: 3, payload: Uint8Array.from([1, 2, 3]) };
  const bytes = encodeRecord(record);
  expect(bytes.length).toBe(21);
  expect(bytes.at(-1)).toBe(0xa5);
  const whole = new Uint8Array([...encodeSegmentHeader(), ...bytes]);
  expect(plain(scanSegment(whole)).records).toEqual([{
    ...record,
    offset: 16,
    payload: [1, 2, 3],
  }]);
});

test("encoding refuses what a record cannot hold", () => {
  const ok = { group: 0, type: 0, payload: new Uint8Array(0) };
  expect(() => encodeRecord({ ...ok, group: -1 })).toThrow(/group is a u32, got -1/);
  expect(() => encodeRecord({ ...ok, group: 2 ** 32 })).toThrow(/group is a u32/);
  expect(() => encodeRecord({ ...ok, type: 256 })).toThrow(/type is a u8, got 256/);
  expect(() => encodeRecord({ ...ok, type: 1.5 })).toThrow(/type is a u8/);
  expect(() => encodeRecord({ ...ok, payload: new Uint8Array(recordPayloadBytesMax + 1) }))
    .toThrow(`a record payload is at most ${recordPayloadBytesMax} bytes`);
  expect(() => encodeRecordInto(new Uint8Array(20), 3, ok)).toThrow(
    "a record of 18 bytes at 3 does not fit in 20",
  );
});

test("a record of the largest payload round-trips", () => {
  const record = { group: 1, type: 1, payload: new Uint8Array(recordPayloadBytesMax).fill(1) };
  const { bytes } = segment([record]);
  const scan = scanSegment(bytes);
  expect(scan.end).toEqual({ kind: "clean", length: bytes.length });
  expect(scan.records[0]?.payload.length).toBe(recordPayloadBytesMax);
});

/** Where a segment cut after `kept` bytes must be truncated to: its last whole record's end. */
function cutPoint(boundaries: readonly number[], kept: number): number {
  return kept < segmentHeaderBytes ? 0 : boundaries.filter((b) => b <= kept).at(-1)!;
}

/** The records of `awkward` that end at or before `offset`, as a scan returns them. */
function wholeBefore(boundaries: readonly number[], offset: number) {
  const whole = boundaries.filter((b, i) => i > 0 && b <= offset).length;
  return plainRecords(awkward.slice(0, whole), boundaries);
}

test("every truncation point scans clean or torn at the last whole record, never corrupt", () => {
  const { bytes, boundaries } = segment(awkward);
  for (let t = 0; t <= bytes.length; t++) {
    const scan = scanSegment(bytes.subarray(0, t));
    expect(plain(scan).records).toEqual(wholeBefore(boundaries, t));
    const cut = cutPoint(boundaries, t);
    if (t >= segmentHeaderBytes && cut === t) {
      expect(scan.end).toEqual({ kind: "clean", length: t });
    } else {
      expect(scan.end).toMatchObject({ kind: "tornTail", truncateTo: cut });
    }
  }
});

test("a torn write whose end reads as zeros is a torn tail at the last whole record", () => {
  // The crash kept t real bytes, then zeros up to `length` (the size reached the disk first).
  const { bytes, boundaries } = segment(awkward);
  for (let t = 0; t <= bytes.length; t++) {
    for (const length of [t + 1, bytes.length, bytes.length + 40]) {
      if (length <= t) continue;
      const torn = new Uint8Array(length);
      torn.set(bytes.subarray(0, t));
      const scan = scanSegment(torn);
      const cut = cutPoint(boundaries, t);
      expect(scan.end).toMatchObject({ kind: "tornTail", truncateTo: cut });
      expect(plain(scan).records).toEqual(wholeBefore(boundaries, cut));
    }
  }
});

test("the torn tail says how it was torn", () => {
  const { bytes, boundaries } = segment(awkward);
  const second = boundaries[1]!;
  const reason = (b: Uint8Array) => scanSegment(b).end;
  expect(reason(new Uint8Array(0))).toEqual({
    kind: "tornTail",
    truncateTo: 0,
    reason: "segmentHeader",
  });
  expect(reason(bytes.subarray(0, 10))).toMatchObject({ reason: "segmentHeader" });
  expect(reason(new Uint8Array(64))).toMatchObject({ truncateTo: 0, reason: "segmentHeader" });
  expect(reason(new Uint8Array([...bytes, 0, 0, 0]))).toMatchObject({
    truncateTo: bytes.length,
    reason: "zeros",
  });
  expect(reason(bytes.subarray(0, second + 5))).toMatchObject({
    truncateTo: second,
    reason: "recordHeader",
  });
  expect(reason(bytes.subarray(0, second + recordHeaderBytes))).toMatchObject({
    truncateTo: second,
    reason: "record",
  });
});

/** Which part of `boundaries`' segment holds `offset`: the problem a flip there must cause. */
function regionOf(boundaries: readonly number[], offset: number) {
  if (offset < 8) return { start: 0, problem: "magic" };
  if (offset < segmentHeaderBytes) return { start: 0, problem: "segmentHeaderChecksum" };
  const index = boundaries.findLastIndex((b) => b <= offset);
  const start = boundaries[index]!;
  const end = boundaries[index + 1]!;
  if (offset < start + recordHeaderBytes) return { start, index, problem: "recordHeaderChecksum" };
  if (offset < end - 1) return { start, index, problem: "payloadChecksum" };
  return { start, index, problem: "endMarker" };
}

test("a bit flip at every offset is reported as corruption at the damaged record", () => {
  const random = new Prng(2);
  const records = [
    ...awkward,
    { group: 7, type: 9, payload: Uint8Array.from({ length: 40 }, () => random.int(256)) },
  ];
  const { bytes, boundaries } = segment(records);
  for (let offset = 0; offset < bytes.length; offset++) {
    for (let bit = 0; bit < 8; bit++) {
      const flipped = bytes.slice();
      flipped[offset]! ^= 1 << bit;
      const scan = scanSegment(flipped);
      const region = regionOf(boundaries, offset);
      const before = region.index ?? 0;
      expect(plain(scan).records).toEqual(plainRecords(records.slice(0, before), boundaries));
      const damaged = records[before];
      expect(scan.end).toMatchObject({
        kind: "corrupt",
        offset: region.start,
        problem: region.problem,
        group: region.problem === "payloadChecksum" || region.problem === "endMarker"
          ? damaged?.group
          : undefined,
      });
    }
  }
});

test("random damage never yields a record other than one written, where it was written", () => {
  const random = new Prng(3);
  const records = Array.from({ length: 12 }, (_, i) => ({
    group: random.int(1024),
    type: random.int(4),
    payload: Uint8Array.from({ length: random.int(60) }, () => (i % 3 === 0 ? 0 : random.int(256))),
  }));
  const { bytes, boundaries } = segment(records);
  const written = plainRecords(records, boundaries);
  for (let trial = 0; trial < 3000; trial++) {
    const damaged = bytes.slice(0, bytes.length - random.int(3) * random.int(30));
    const changes = 1 + random.int(8);
    for (let c = 0; c < changes; c++) {
      const at = random.int(damaged.length);
      damaged[at] = random.int(3) === 0 ? 0 : random.int(256);
    }
    const scan = plain(scanSegment(damaged));
    expect(scan.records).toEqual(written.slice(0, scan.records.length));
  }
});

test("random bytes never throw, and every scan describes its input consistently", () => {
  const random = new Prng(4);
  const header = encodeSegmentHeader();
  for (let trial = 0; trial < 5000; trial++) {
    const garbage = Uint8Array.from(
      { length: random.int(300) },
      () => random.int(4) === 0 ? 0 : random.int(256),
    );
    if (trial % 2 === 0 && garbage.length >= header.length) garbage.set(header);
    const scan = scanSegment(garbage);
    let offset = segmentHeaderBytes;
    for (const record of scan.records) {
      expect(record.offset).toBe(offset);
      offset += recordBytes(record.payload.length);
    }
    // Torn or corrupt at the end of the records read, or at 0 (the segment header) if none.
    const end = scan.end;
    const stop = scan.records.length > 0 ? [offset] : [0, segmentHeaderBytes];
    if (end.kind === "clean") expect(end.length).toBe(garbage.length);
    if (end.kind === "tornTail") expect(stop).toContain(end.truncateTo);
    if (end.kind === "tornTail") expect(end.truncateTo).toBeLessThanOrEqual(garbage.length);
    if (end.kind === "corrupt") expect(stop).toContain(end.offset);
    if (end.kind === "corrupt") expect(end.offset).toBeLessThan(garbage.length);
  }
});

/** A record header claiming `payloadBytes`, with a correct header checksum. */
function soundHeader(payloadBytes: number, group: number): Uint8Array {
  const header = new Uint8Array(recordHeaderBytes);
  const view = new DataView(header.buffer);
  view.setUint32(4, payloadBytes, true);
  view.setUint32(8, group, true);
  view.setUint8(12, 1);
  view.setUint32(0, crc32c(header.subarray(4)), true);
  return header;
}

test("a sound header claiming a payload over the bound is corruption, even at the end", () => {
  for (const after of [new Uint8Array(0), new Uint8Array(100).fill(1)]) {
    const bytes = new Uint8Array([
      ...encodeSegmentHeader(),
      ...soundHeader(recordPayloadBytesMax + 1, 12),
      ...after,
    ]);
    expect(scanSegment(bytes).end).toMatchObject({
      kind: "corrupt",
      offset: 16,
      problem: "recordLength",
      group: 12,
    });
  }
});

test("a file that is not a segment, or of another format version, is corruption", () => {
  const text = new TextEncoder().encode("this is not a kahuna log segment at all");
  expect(scanSegment(text).end).toMatchObject({ kind: "corrupt", offset: 0, problem: "magic" });

  const v2 = encodeSegmentHeader();
  new DataView(v2.buffer).setUint32(8, 2, true);
  new DataView(v2.buffer).setUint32(12, crc32c(v2.subarray(0, 12)), true);
  expect(scanSegment(v2).end).toMatchObject({
    kind: "corrupt",
    problem: "version",
    detail: "segment format version 2; this build reads version 1",
  });
});

test("a payload checksum mismatch followed by more records is corruption, not a torn tail", () => {
  const { bytes, boundaries } = segment(awkward);
  const inPayload = boundaries[3]! + recordHeaderBytes + 2;
  bytes[inPayload]! ^= 0xff;
  const scan = scanSegment(bytes);
  expect(scan.records.length).toBe(3);
  expect(scan.end).toMatchObject({ kind: "corrupt", offset: boundaries[3], group: 0xffffffff });
});

test("the corruption message names the file, the offset, the partition and what was wrong", () => {
  const { bytes, boundaries } = segment(awkward);
  const at = boundaries[4]!;
  const payloadDamaged = bytes.slice();
  payloadDamaged[at + recordHeaderBytes]! ^= 1;
  const headerDamaged = bytes.slice();
  headerDamaged[at + 4]! ^= 1;
  const segmentDamaged = bytes.slice();
  segmentDamaged[13]! ^= 1;
  const message = (b: Uint8Array): string => {
    const end = scanSegment(b).end;
    if (end.kind !== "corrupt") throw new Error(`expected corruption, got ${end.kind}`);
    return corruptionMessage("00000000000000000007.log", end);
  };
  expect(message(payloadDamaged)).toMatch(
    new RegExp(
      `^log segment 00000000000000000007\\.log is corrupt in the record at offset ${at} ` +
        `\\(partition 15\\): the payload checksum is 0x[0-9a-f]{8}, its 7 bytes give ` +
        `0x[0-9a-f]{8}\\. Records before offset ${at} are intact; nothing from it on is applied`,
    ),
  );
  expect(message(headerDamaged)).toContain(
    `the record at offset ${at} (partition unknown: the record header is damaged): the record ` +
      "header checksum is",
  );
  expect(message(segmentDamaged)).toContain(
    "corrupt in its segment header (every partition with records in the file): the segment " +
      "header checksum is",
  );
  expect(message(segmentDamaged)).toContain("left as it is for diagnosis.");
});

test("after a simulated crash a segment scans clean or torn, with every synced record", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const random = new Prng(seed);
    const fs = new MemoryFileSystem();
    const file = fs.open("00000000000000000001.log", "create");
    file.append(encodeSegmentHeader());
    file.sync();
    fs.syncDirectory();
    const written: LogRecord[] = [];
    let synced = 0;
    for (let batch = 0; batch < 8; batch++) {
      const records = Array.from({ length: 1 + random.int(4) }, () => ({
        group: random.int(16),
        type: random.int(3),
        payload: Uint8Array.from({ length: random.int(40) }, () => random.int(2) * random.int(256)),
      }));
      const buffer = new Uint8Array(records.reduce((n, r) => n + recordBytes(r.payload.length), 0));
      records.reduce((at, record) => encodeRecordInto(buffer, at, record), 0);
      file.append(buffer);
      written.push(...records);
      if (random.int(3) === 0) {
        file.sync();
        synced = written.length;
      }
    }
    fs.crash(random);
    const reopened = fs.open("00000000000000000001.log", "existing");
    const scan = scanSegment(reopened.read(0, reopened.size()));
    expect(scan.end.kind).not.toBe("corrupt");
    expect(scan.records.length).toBeGreaterThanOrEqual(synced);
    expect(scan.records.map((r) => ({ ...r, offset: 0, payload: [...r.payload] }))).toEqual(
      written.slice(0, scan.records.length).map((r) => ({
        ...r,
        offset: 0,
        payload: [...r.payload],
      })),
    );
  }
});

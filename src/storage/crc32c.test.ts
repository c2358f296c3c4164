import { expect, test } from "bun:test";
import { Prng } from "../adapters/sim/prng.ts";
import { crc32c } from "./crc32c.ts";

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The definition, one bit at a time: the reference the table-driven code must match. */
function crc32cBitwise(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) {
    c ^= byte;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  }
  return ~c >>> 0;
}

test("the standard check value: CRC-32C of the ASCII digits 1 to 9 is 0xE3069283", () => {
  expect(crc32c(ascii("123456789"))).toBe(0xe3069283);
});

test("the RFC 3720 §B.4 test vectors", () => {
  const ascending = Uint8Array.from({ length: 32 }, (_, i) => i);
  const descending = Uint8Array.from({ length: 32 }, (_, i) => 31 - i);
  // An iSCSI SCSI Read (10) command PDU, the RFC's last vector.
  const readPdu = Uint8Array.from([
    ...[0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ...[0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00],
    ...[0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00],
    ...[0x00, 0x00, 0x00],
  ]);
  expect(readPdu.length).toBe(48);
  expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
  expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
  expect(crc32c(ascending)).toBe(0x46dd794e);
  expect(crc32c(descending)).toBe(0x113fdb5c);
  expect(crc32c(readPdu)).toBe(0xd9963a56);
});

test("the empty input has CRC 0, and a result is always an unsigned 32-bit integer", () => {
  expect(crc32c(new Uint8Array(0))).toBe(0);
  const random = new Prng(7);
  for (let i = 0; i < 200; i++) {
    const bytes = Uint8Array.from({ length: random.int(40) }, () => random.int(256));
    const crc = crc32c(bytes);
    expect(Number.isInteger(crc) && crc >= 0 && crc <= 0xffffffff).toBe(true);
  }
});

test("slicing-by-8 agrees with the bitwise definition at every length and alignment", () => {
  const random = new Prng(3320);
  const buffer = Uint8Array.from({ length: 300 }, () => random.int(256));
  for (let start = 0; start < 9; start++) {
    for (let length = 0; length <= 100; length++) {
      const bytes = buffer.subarray(start, start + length);
      expect(crc32c(bytes)).toBe(crc32cBitwise(bytes));
    }
  }
});

test("a CRC continues across pieces: crc32c(b, crc32c(a)) = crc32c(a + b)", () => {
  const random = new Prng(11);
  const whole = Uint8Array.from({ length: 1000 }, () => random.int(256));
  const expected = crc32c(whole);
  for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) {
    expect(crc32c(whole.subarray(cut), crc32c(whole.subarray(0, cut)))).toBe(expected);
  }
});

test("a previous CRC outside the unsigned 32-bit range is refused", () => {
  expect(() => crc32c(new Uint8Array(1), -1)).toThrow(/unsigned 32-bit integer, got -1/);
  expect(() => crc32c(new Uint8Array(1), 2 ** 32)).toThrow(/unsigned 32-bit/);
});

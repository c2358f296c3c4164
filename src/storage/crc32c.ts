/**
 * CRC-32C (Castagnoli; iSCSI, RFC 3720 §B.4; the checksum of ext4 metadata, Btrfs, LevelDB and
 * RocksDB logs): the polynomial 0x1EDC6F41, reflected (0x82F63B78), initial value and final
 * XOR 0xFFFFFFFF. It detects every burst of up to 32 bits, and every error of up to 3 bits in a
 * message of up to 2^31 bits (Koopman's tables: Hamming distance 4), so in any record this
 * engine writes; CRC-32 (IEEE) guarantees only 2 bits beyond about 11 KiB, which is why the log
 * frames records with CRC-32C.
 *
 * Pure TypeScript, table-driven, slicing-by-8 (Intel's method: eight bytes per step through
 * eight 256-entry tables, 8 KiB built once at load), so the same code runs under Bun, Deno and
 * Node with no dependency. Results are unsigned 32-bit integers.
 *
 * Incremental use: `crc32c(b, crc32c(a))` equals `crc32c(a + b)`.
 */
import { assert } from "../assert.ts";

/** The reflected Castagnoli polynomial. */
const polynomial = 0x82f63b78;

/**
 * `tables[k * 256 + b]` is the CRC of byte `b` followed by `k` zero bytes. Row 0 is the
 * classic byte-at-a-time table; rows 1 to 7 let one step fold eight bytes at once.
 */
const tables = buildTables();
const t0 = tables.subarray(0, 256);
const t1 = tables.subarray(256, 512);
const t2 = tables.subarray(512, 768);
const t3 = tables.subarray(768, 1024);
const t4 = tables.subarray(1024, 1280);
const t5 = tables.subarray(1280, 1536);
const t6 = tables.subarray(1536, 1792);
const t7 = tables.subarray(1792, 2048);

function buildTables(): Int32Array {
  // Int32Array, not Uint32Array: the XORs below stay in signed 32-bit integers, which every
  // engine keeps unboxed; the result is made unsigned once, at the end.
  const table = new Int32Array(8 * 256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? polynomial ^ (c >>> 1) : c >>> 1;
    table[b] = c;
  }
  for (let b = 0; b < 256; b++) {
    let c = table[b]!;
    for (let k = 1; k < 8; k++) {
      c = table[c & 0xff]! ^ (c >>> 8);
      table[k * 256 + b] = c;
    }
  }
  return table;
}

/**
 * The CRC-32C of `bytes`, continuing from `previous` (the CRC of the bytes before them; 0 for
 * none). The non-null assertions in the loops are sound: every index is below `bytes.length`
 * or a table index masked to 0..255.
 */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  assert(
    Number.isInteger(previous) && previous >= 0 && previous <= 0xffffffff,
    () => `a previous CRC-32C is an unsigned 32-bit integer, got ${previous}`,
  );
  let c = ~previous;
  let i = 0;
  const end8 = bytes.length - (bytes.length & 7);
  for (; i < end8; i += 8) {
    c ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    c = t7[c & 0xff]! ^ t6[(c >>> 8) & 0xff]! ^ t5[(c >>> 16) & 0xff]! ^ t4[c >>> 24]! ^
      t3[bytes[i + 4]!]! ^ t2[bytes[i + 5]!]! ^ t1[bytes[i + 6]!]! ^ t0[bytes[i + 7]!]!;
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * Which Raft group owns a resource: FNV-1a (32-bit) over the full name's UTF-8 bytes, modulo
 * the group count. The whole name is hashed (unlike Kahuna, which hashes only the prefix
 * before the last "/"), so `locks/tasks/*` spreads over every group instead of one hot spot.
 * The function is part of the on-disk contract: changing it moves locks between groups.
 */
import { assert } from "../assert.ts";

const fnvOffsetBasis = 0x811c9dc5;
const fnvPrime = 0x01000193;
export function fnv1a32(bytes: Uint8Array): number {
  let hash = fnvOffsetBasis;
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i]!, fnvPrime);
  return hash >>> 0;
}

/**
 * FNV-1a over the UTF-8 bytes of `text`, as TextEncoder would produce them (an unpaired
 * surrogate becomes U+FFFD), without building them: this runs for every request.
 */
export function fnv1a32Utf8(text: string): number {
  let hash = fnvOffsetBasis;
  const mix = (byte: number) => {
    hash = Math.imul(hash ^ byte, fnvPrime);
  };
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      hash = Math.imul(hash ^ code, fnvPrime);
      continue;
    }
    if (code < 0x800) {
      mix(0xc0 | (code >> 6));
      mix(0x80 | (code & 0x3f));
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
        mix(0xf0 | (code >> 18));
        mix(0x80 | ((code >> 12) & 0x3f));
        mix(0x80 | ((code >> 6) & 0x3f));
        mix(0x80 | (code & 0x3f));
        continue;
      }
      code = 0xfffd;
    }
    mix(0xe0 | (code >> 12));
    mix(0x80 | ((code >> 6) & 0x3f));
    mix(0x80 | (code & 0x3f));
  }
  return hash >>> 0;
}

export function groupOf(resource: string, groups: number): number {
  assert(
    Number.isInteger(groups) && groups >= 1,
    () => `groups must be a positive integer: ${groups}`,
  );
  return fnv1a32Utf8(resource) % groups;
}

/**
 * Which Raft group owns a resource: FNV-1a (32-bit) over the full name's UTF-8 bytes, modulo
 * the group count. The whole name is hashed (unlike Kahuna, which hashes only the prefix
 * before the last "/"), so `locks/tasks/*` spreads over every group instead of one hot spot.
 * The function is part of the on-disk contract: changing it moves locks between groups.
 */
import { assert } from "../assert.ts";

const fnvOffsetBasis = 0x811c9dc5;
const fnvPrime = 0x01000193;
const encoder = new TextEncoder();

export function fnv1a32(bytes: Uint8Array): number {
  let hash = fnvOffsetBasis;
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, fnvPrime) >>> 0;
  }
  return hash >>> 0;
}

export function groupOf(resource: string, groups: number): number {
  assert(Number.isInteger(groups) && groups >= 1, `groups must be a positive integer: ${groups}`);
  return fnv1a32(encoder.encode(resource)) % groups;
}

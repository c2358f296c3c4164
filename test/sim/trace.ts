/**
 * The run's trace hash: FNV-1a (32-bit) over every observable event in order (frames
 * delivered, requests answered, faults injected). The same seed must give the same hash; a
 * different hash for the same seed means hidden nondeterminism (Math.random, Map order that
 * depends on timing, a wall clock read).
 */
const fnvPrime = 0x01000193;

export class Trace {
  private hash = 0x811c9dc5;
  events = 0;

  add(text: string): void {
    let h = this.hash;
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i) & 0xff;
      h = Math.imul(h, fnvPrime);
      h ^= text.charCodeAt(i) >>> 8;
      h = Math.imul(h, fnvPrime);
    }
    h ^= 0x0a;
    this.hash = Math.imul(h, fnvPrime) >>> 0;
    this.events += 1;
  }

  addBytes(bytes: Uint8Array): void {
    let h = this.hash;
    for (let i = 0; i < bytes.length; i++) {
      h ^= bytes[i]!;
      h = Math.imul(h, fnvPrime);
    }
    this.hash = h >>> 0;
  }

  digest(): string {
    return this.hash.toString(16).padStart(8, "0");
  }
}

/** FNV-1a of bytes, for comparing entries and snapshots without keeping them. */
export function hashBytes(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, fnvPrime);
  }
  return h >>> 0;
}

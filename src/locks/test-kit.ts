/**
 * Helpers for the lock tests only (no production code imports this): a seeded random source,
 * so a failing property run replays from its seed, and a driver that feeds a LockMachine
 * encoded entries the way the host does.
 */
import { assert } from "../assert.ts";
import { encodeCommand, type LockCommand } from "../codec/lock-command.ts";
import { LockMachine } from "./lock-machine.ts";
import type { LockResponse } from "./types.ts";

/** mulberry32: small, fast, good enough to explore inputs; one seed, one sequence. */
export function seededRandom(seed: number): { int(maxExclusive: number): number } {
  let a = seed >>> 0;
  return {
    int(maxExclusive: number): number {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const unit = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      return Math.floor(unit * maxExclusive);
    },
  };
}

export function randomBytes(random: { int(n: number): number }, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = random.int(256);
  return bytes;
}

/** One random damage: flip a byte, truncate, extend, or splice in random bytes. */
export function mutate(bytes: Uint8Array, random: { int(n: number): number }): Uint8Array {
  const out = bytes.slice();
  switch (random.int(4)) {
    case 0: {
      const at = random.int(out.length);
      out[at] = random.int(256);
      return out;
    }
    case 1:
      return out.subarray(0, random.int(out.length));
    case 2:
      return new Uint8Array([...out, ...randomBytes(random, 1 + random.int(4))]);
    default: {
      const at = random.int(out.length);
      return new Uint8Array([
        ...out.subarray(0, at),
        ...randomBytes(random, 1 + random.int(3)),
        ...out.subarray(at),
      ]);
    }
  }
}

/** Applies commands as committed entries with consecutive indexes, as a replica would. */
export class MachineFeeder {
  machine: LockMachine;
  index = 0;

  constructor(machine: LockMachine = new LockMachine()) {
    this.machine = machine;
    this.index = machine.appliedIndex;
  }

  apply(term: number, command: LockCommand): LockResponse | undefined {
    this.index += 1;
    return this.machine.apply({ term, index: this.index, data: encodeCommand(command) });
  }

  /** Applies a persistent op and returns its answer, which such an op always has. */
  op(term: number, command: LockCommand): LockResponse {
    const response = this.apply(term, command);
    assert(response !== undefined, "a persistent op always answers");
    return response;
  }

  noop(term: number): void {
    this.index += 1;
    const response = this.machine.apply({ term, index: this.index, data: new Uint8Array(0) });
    assert(response === undefined, "a no-op has no answer");
  }
}

/**
 * A seeded pseudo-random generator for the deterministic simulator: sfc32 (Chris Doty-Humphrey's
 * Small Fast Counting generator, 128 bits of state), seeded from one 32-bit integer through
 * splitmix32 so that nearby seeds give unrelated streams. It implements the Random port, so the
 * same object feeds Raft's election timeouts and the simulator's fault choices.
 *
 * Never Math.random: one seed must replay one run, bit for bit.
 */
import { assert } from "../../assert.ts";
import type { Random } from "../../ports/random.ts";

export class Prng implements Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    assert(Number.isInteger(seed), `a seed is an integer, got ${seed}`);
    let s = seed >>> 0;
    const next = (): number => {
      // splitmix32
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.next32();
  }

  /** The next 32 random bits, as an unsigned integer. */
  next32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** A uniform float in [0, 1). */
  float(): number {
    return this.next32() / 4294967296;
  }

  /** A uniformly random integer in [0, maxExclusive) (the Random port). */
  int(maxExclusive: number): number {
    assert(
      Number.isInteger(maxExclusive) && maxExclusive >= 1 && maxExclusive <= 2 ** 32,
      `int(maxExclusive) needs an integer from 1 to 2^32, got ${maxExclusive}`,
    );
    return Math.floor(this.float() * maxExclusive);
  }

  /** A uniformly random integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    assert(lo <= hi, `between(${lo}, ${hi}) needs lo <= hi`);
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, "pick from an empty list");
    return items[this.int(items.length)]!;
  }

  /** An independent generator for one component, so components do not shift each other. */
  fork(): Prng {
    return new Prng(this.next32() | 0);
  }

  /** `bytes` random bytes as lowercase hex (owner ids like the seed's). */
  hex(bytes: number): string {
    let out = "";
    for (let i = 0; i < bytes; i++) out += this.int(256).toString(16).padStart(2, "0");
    return out;
  }
}

/**
 * Property tests: random command sequences (seeded, so a failure replays) applied to two fresh
 * machines give equal snapshots at every checkpoint, and a reference model written plainly
 * here, from docs/spec.md §2.1 and §2.3 and not from lock-rules.ts, agrees on every answer.
 */
import { describe, expect, test } from "bun:test";
import type { LockCommand } from "../codec/lock-command.ts";
import { clockDriftPpmMax, ephemeralTokenBlock } from "../constants.ts";
import { EphemeralLocks } from "./ephemeral-locks.ts";
import { LockMachine } from "./lock-machine.ts";
import { MachineFeeder, seededRandom } from "./test-kit.ts";
import { Durability, type LockOpRequest, type LockResponse, ResponseType as T } from "./types.ts";

type ModelLock = { owner: string | null; token: number; end: number };

/** The spec's table, one `if` per row; `end` of an unlocked lock is when it was unlocked. */
class Model {
  locks = new Map<string, ModelLock>();
  constructor(public floor: number) {}

  /** Removes the lock's record if it has been free for the grace period. */
  sweep(r: string, graceMs: number, now: number): void {
    const l = this.locks.get(r);
    if (l === undefined || this.held(l, now) || l.end + graceMs > now) return;
    this.locks.delete(r);
    this.floor = Math.max(this.floor, l.token + 1);
  }

  held(l: ModelLock, now: number): boolean {
    return l.owner !== null && now < l.end;
  }

  tryLock(r: string, owner: string, expiresMs: number, now: number): LockResponse {
    const l = this.locks.get(r);
    if (l !== undefined && this.held(l, now)) {
      if (l.owner === owner) return { type: T.Locked, fencingToken: l.token };
      return { type: T.Busy, fencingToken: 0 };
    }
    const token = l === undefined ? this.floor : l.token + 1;
    this.locks.set(r, { owner, token, end: now + expiresMs });
    return { type: T.Locked, fencingToken: token };
  }

  extend(r: string, owner: string, expiresMs: number, now: number): LockResponse {
    const l = this.locks.get(r);
    if (l === undefined || !this.held(l, now)) return { type: T.LockDoesNotExist, fencingToken: 0 };
    if (l.owner !== owner) return { type: T.InvalidOwner, fencingToken: 0 };
    l.end = now + expiresMs;
    return { type: T.Extended, fencingToken: l.token };
  }

  unlock(r: string, owner: string, now: number): LockResponse {
    const l = this.locks.get(r);
    if (l === undefined || l.owner === null) return { type: T.LockDoesNotExist, fencingToken: 0 };
    if (l.owner !== owner) return { type: T.InvalidOwner, fencingToken: 0 };
    l.owner = null;
    l.end = now;
    return { type: T.Unlocked, fencingToken: l.token };
  }

  get(r: string, now: number): LockResponse {
    const l = this.locks.get(r);
    if (l === undefined || !this.held(l, now)) return { type: T.LockDoesNotExist, fencingToken: 0 };
    return { type: T.Got, fencingToken: l.token, owner: l.owner ?? "", expiresMs: l.end - now };
  }
}

/**
 * The persistent model adds §2.3's clock base on top of the table: times keep what remained
 * of them, leases with no margin, the horizon with the drift margin. And the ephemeral token
 * ranges: each leaderStart a block above every token reserved before.
 */
class PersistentModel extends Model {
  baseTerm = 0;
  lastNow = 0;
  horizon = 0;
  ephemeralFrom = 0;
  ephemeralThrough = -1;

  constructor() {
    super(0);
  }

  moveBase(end: number, now: number, margin: boolean): number {
    const remaining = end - this.lastNow;
    if (remaining <= 0 || !margin) return now + remaining;
    return now + remaining + Math.ceil((remaining * clockDriftPpmMax) / 1_000_000);
  }

  apply(term: number, c: LockCommand): LockResponse | undefined {
    if (term !== this.baseTerm) {
      for (const l of this.locks.values()) l.end = this.moveBase(l.end, c.nowMs, false);
      this.horizon = this.moveBase(this.horizon, c.nowMs, true);
      this.baseTerm = term;
      this.lastNow = c.nowMs;
    }
    this.lastNow = Math.max(this.lastNow, c.nowMs);
    if (c.kind === "leaderStart") {
      this.ephemeralFrom = this.ephemeralThrough + 1;
      this.ephemeralThrough = this.ephemeralFrom + ephemeralTokenBlock - 1;
    } else if (c.kind === "horizon") {
      this.horizon = Math.max(this.horizon, c.horizonMs);
      this.ephemeralThrough = Math.max(this.ephemeralThrough, c.tokensThrough);
    } else if (c.kind === "sweep") {
      for (const r of c.resources) this.sweep(r, c.graceMs, c.nowMs);
    } else if (c.kind === "tryLock") return this.tryLock(c.resource, c.owner, c.expiresMs, c.nowMs);
    else if (c.kind === "extend") return this.extend(c.resource, c.owner, c.expiresMs, c.nowMs);
    else return this.unlock(c.resource, c.owner, c.nowMs);
    return undefined;
  }
}

const resources = ["a", "b", "c", "d/é"];
const owners = ["x", "y", "z"];

type Rng = { int(n: number): number };
const pick = <V>(random: Rng, values: readonly V[]): V => values[random.int(values.length)] as V;

type LockOp = Extract<LockCommand, { kind: "tryLock" | "extend" | "unlock" }>;

function randomOp(random: Rng, nowMs: number): LockOp {
  const resource = pick(random, resources);
  const owner = pick(random, owners);
  const kind = pick(random, ["tryLock", "tryLock", "extend", "unlock"] as const);
  const expiresMs = kind === "unlock" ? 0 : 1 + random.int(400);
  return { kind, resource, owner, expiresMs, nowMs };
}

function runPersistent(seed: number, steps: number): void {
  const random = seededRandom(seed);
  let a = new MachineFeeder();
  const b = new MachineFeeder();
  const model = new PersistentModel();
  let term = 1;
  let nowMs = random.int(1000);
  const both = (c: LockCommand) => {
    const answer = a.apply(term, c);
    expect(b.apply(term, c)).toEqual(answer);
    expect({ seed, c, answer }).toEqual({ seed, c, answer: model.apply(term, c) });
  };
  both({ kind: "leaderStart", nowMs });
  for (let step = 0; step < steps; step++) {
    nowMs += random.int(150);
    const roll = random.int(100);
    if (roll < 4) {
      // A new leader: its clock has nothing to do with the old one's.
      term += 1 + random.int(2);
      nowMs = pick(random, [
        0,
        random.int(100),
        nowMs + random.int(5000),
        1_000_000 + random.int(1000),
      ]);
      if (random.int(5) > 0) both({ kind: "leaderStart", nowMs });
    } else if (roll < 8) {
      a.noop(term);
      b.noop(term);
    } else if (roll < 12) {
      const tokensThrough = random.int(2) === 0 ? -1 : a.machine.ephemeralThrough + random.int(9);
      both({ kind: "horizon", nowMs, horizonMs: nowMs + random.int(2000), tokensThrough });
    } else if (roll < 16) {
      const swept = resources.filter(() => random.int(2) === 0);
      const graceMs = random.int(300);
      if (swept.length > 0) both({ kind: "sweep", nowMs, graceMs, resources: swept });
    } else if (roll < 25) {
      const r = pick(random, resources);
      const answer = a.machine.get(r, nowMs);
      expect({ seed, get: r, answer }).toEqual({ seed, get: r, answer: model.get(r, nowMs) });
    } else {
      both(randomOp(random, nowMs));
    }
    expect(a.machine.horizonMs).toBe(model.horizon);
    expect(a.machine.ephemeralFrom).toBe(model.ephemeralFrom);
    expect(a.machine.ephemeralThrough).toBe(model.ephemeralThrough);
    expect(a.machine.tokenFloor).toBe(model.floor);
    expect(a.machine.baseTerm).toBe(model.baseTerm);
    if (step % 50 === 49) {
      const bytes = a.machine.snapshot();
      expect(bytes).toEqual(b.machine.snapshot());
      const restored = LockMachine.restore(bytes);
      if ("error" in restored) throw new Error(restored.error);
      a = new MachineFeeder(restored); // carry on from the restored copy
    }
  }
  expect(a.machine.snapshot()).toEqual(b.machine.snapshot());
  expect(a.machine.size()).toBe(model.locks.size);
}

function runEphemeral(seed: number, steps: number): void {
  const random = seededRandom(seed);
  const from = random.int(5) * ephemeralTokenBlock;
  const table = new EphemeralLocks(from);
  const model = new Model(from);
  let nowMs = random.int(1000);
  for (let step = 0; step < steps; step++) {
    nowMs += random.int(150);
    const c = randomOp(random, nowMs);
    const durability = Durability.Ephemeral;
    const request: LockOpRequest = random.int(6) === 0
      ? { op: "get", resource: c.resource, durability }
      : c.kind === "unlock"
      ? { op: "unlock", resource: c.resource, owner: c.owner, durability }
      : { op: c.kind, resource: c.resource, owner: c.owner, expiresMs: c.expiresMs, durability };
    // Now and then a horizon close ahead: a request held back by it must change nothing, so
    // running it again within a horizon that covers it gives the model's answer.
    // Likewise a reservation close ahead of the tokens granted so far.
    const horizonMs = random.int(3) === 0 ? nowMs + random.int(300) : Number.POSITIVE_INFINITY;
    const tokensThrough = random.int(3) === 0 ? from + random.int(12) : Number.MAX_SAFE_INTEGER;
    if (random.int(20) === 0) {
      // The leader's sweep, twice, so its scan (which may start mid-table) covers every record:
      // all the sweepable ones go, as in the model.
      const graceMs = random.int(300);
      table.sweep(nowMs, graceMs, 1000);
      table.sweep(nowMs, graceMs, 1000);
      for (const r of resources) model.sweep(r, graceMs, nowMs);
      expect(table.size()).toBe(model.locks.size);
    }
    let result = table.executeWithin(request, nowMs, horizonMs, tokensThrough);
    let heldBackTo: number | undefined;
    if ("leaseEndMs" in result) {
      heldBackTo = result.leaseEndMs;
      expect(heldBackTo > horizonMs || result.fencingToken > tokensThrough).toBe(true);
      const get = { op: "get", resource: request.resource, durability } as const;
      expect(table.execute(get, nowMs)).toEqual(model.get(request.resource, nowMs));
      result = table.executeWithin(request, nowMs, heldBackTo, result.fencingToken);
    }
    expect("type" in result).toBe(true);
    const answer = result;
    const expected = request.op === "get"
      ? model.get(request.resource, nowMs)
      : request.op === "unlock"
      ? model.unlock(request.resource, request.owner, nowMs)
      : request.op === "tryLock"
      ? model.tryLock(request.resource, request.owner, request.expiresMs, nowMs)
      : model.extend(request.resource, request.owner, request.expiresMs, nowMs);
    expect({ seed, step, request, answer }).toEqual({ seed, step, request, answer: expected });
    // A request was held back only for a lease that now ends exactly there.
    if (heldBackTo !== undefined) {
      expect(model.get(request.resource, nowMs).expiresMs).toBe(heldBackTo - nowMs);
    }
  }
}

describe("property: random command sequences", () => {
  test("two machines agree byte for byte and the reference model agrees on every answer", () => {
    for (let seed = 1; seed <= 40; seed++) runPersistent(seed, 400);
  });

  test("the ephemeral table agrees with the reference model, tokens from its range", () => {
    for (let seed = 1; seed <= 40; seed++) runEphemeral(seed, 400);
  });
});

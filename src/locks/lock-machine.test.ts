import { describe, expect, test } from "bun:test";
import { AssertionError } from "../assert.ts";
import { encodeCommand, type LockCommand } from "../codec/lock-command.ts";
import { encodeMsgpack } from "../codec/msgpack.ts";
import { clockDriftPpmMax, ephemeralTokenBlock } from "../constants.ts";
import { EphemeralLocks } from "./ephemeral-locks.ts";
import { LockMachine, rebaseEnd } from "./lock-machine.ts";
import { MachineFeeder, mutate, randomBytes, seededRandom } from "./test-kit.ts";
import { Durability, type LockResponse, ResponseType } from "./types.ts";

const { Locked, Busy, Got, LockDoesNotExist, Unlocked, Extended, Errored } = ResponseType;

const tryLock = (
  resource: string,
  owner: string,
  expiresMs: number,
  nowMs: number,
): LockCommand => ({
  kind: "tryLock",
  resource,
  owner,
  expiresMs,
  nowMs,
});
const extend = (
  resource: string,
  owner: string,
  expiresMs: number,
  nowMs: number,
): LockCommand => ({
  kind: "extend",
  resource,
  owner,
  expiresMs,
  nowMs,
});
const unlock = (resource: string, owner: string, nowMs: number): LockCommand => ({
  kind: "unlock",
  resource,
  owner,
  expiresMs: 0,
  nowMs,
});

/** A machine whose first leader (term 1) has started at clock reading `startMs`. */
function startedMachine(startMs = 0): MachineFeeder {
  const feeder = new MachineFeeder();
  feeder.noop(1);
  feeder.apply(1, { kind: "leaderStart", nowMs: startMs });
  return feeder;
}

describe("fencing tokens", () => {
  test("count 0, 1, 2 across unlock, expiry and re-grant, unchanged on retry and extend", () => {
    const f = startedMachine();
    const tokens: number[] = [];
    const grant = (r: LockResponse) => tokens.push(r.fencingToken);
    grant(f.op(1, tryLock("r", "a", 100, 0)));
    grant(f.op(1, unlock("r", "a", 10)));
    grant(f.op(1, tryLock("r", "b", 100, 20)));
    grant(f.op(1, tryLock("r", "b", 100, 30))); // idempotent retry
    grant(f.op(1, extend("r", "b", 100, 40)));
    grant(f.op(1, tryLock("r", "c", 100, 140))); // b expired at 140
    expect(tokens).toEqual([0, 0, 1, 1, 1, 2]);
    expect(f.machine.get("r", 150)).toEqual({
      type: Got,
      fencingToken: 2,
      owner: "c",
      expiresMs: 90,
    });
  });

  test("are per resource", () => {
    const f = startedMachine();
    expect(f.op(1, tryLock("r1", "a", 100, 0)).fencingToken).toBe(0);
    expect(f.op(1, unlock("r1", "a", 0)).type).toBe(Unlocked);
    expect(f.op(1, tryLock("r1", "a", 100, 0)).fencingToken).toBe(1);
    expect(f.op(1, tryLock("r2", "a", 100, 0)).fencingToken).toBe(0);
    expect(f.machine.size()).toBe(2);
  });

  test("survive leader changes and snapshots", () => {
    const f = startedMachine();
    f.op(1, tryLock("r", "a", 100, 0));
    f.apply(2, { kind: "leaderStart", nowMs: 0 });
    const restored = LockMachine.restore(f.machine.snapshot());
    if ("error" in restored) throw new Error(restored.error);
    const g = new MachineFeeder(restored);
    expect(g.op(2, tryLock("r", "b", 100, 1000))).toEqual({ type: Locked, fencingToken: 1 });
  });
});

describe("lease rebase on a term change (spec 2.3)", () => {
  test("a new leader whose clock restarted at 0 keeps the remaining time, no more", () => {
    const f = startedMachine(1000);
    f.op(1, tryLock("r", "a", 10_000, 1000)); // ends at 11_000 on leader 1's clock
    f.op(1, tryLock("other", "x", 1, 5000)); // last reading from leader 1: 5000
    expect(f.machine.baseTerm).toBe(1);
    f.apply(2, { kind: "leaderStart", nowMs: 0 }); // leader 2's clock reads 0
    expect(f.machine.baseTerm).toBe(2);
    expect(f.machine.get("r", 0)).toEqual({
      type: Got,
      fencingToken: 0,
      owner: "a",
      expiresMs: 6000,
    });
    expect(f.machine.get("r", 5999)).toMatchObject({ type: Got, expiresMs: 1 });
    expect(f.machine.get("r", 6000).type).toBe(LockDoesNotExist);
    expect(f.op(2, tryLock("r", "b", 100, 5999)).type).toBe(Busy);
    expect(f.op(2, tryLock("r", "b", 100, 6000))).toEqual({ type: Locked, fencingToken: 1 });
  });

  test("a new leader whose clock is far ahead keeps the remaining time too", () => {
    const f = startedMachine(0);
    f.op(1, tryLock("r", "a", 1000, 0));
    f.apply(2, { kind: "leaderStart", nowMs: 9_000_000 });
    expect(f.machine.get("r", 9_000_000)).toMatchObject({ type: Got, expiresMs: 1000 });
  });

  // Regression (issue: the 1% margin compounded on every leader change, 10 quick failovers
  // added 10.5% to a lease). A lease now lasts its expiresMs across any number of them.
  test("ten quick leader changes add nothing to a lease", () => {
    const f = startedMachine(0);
    f.op(1, tryLock("r", "a", 100_000, 0));
    for (let term = 2; term <= 11; term++) f.apply(term, { kind: "leaderStart", nowMs: 0 });
    expect(f.machine.get("r", 0)).toMatchObject({ type: Got, expiresMs: 100_000 });
    expect(f.machine.get("r", 100_000).type).toBe(LockDoesNotExist);
  });

  test("the horizon gets the drift margin, once per change of clock base", () => {
    const f = startedMachine(0);
    f.apply(1, { kind: "horizon", nowMs: 0, horizonMs: 100_000, tokensThrough: -1 });
    f.apply(2, { kind: "leaderStart", nowMs: 50 }); // 100_000 → 101_000, from 50
    expect(f.machine.horizonMs).toBe(50 + 101_000);
    f.apply(2, { kind: "horizon", nowMs: 60, horizonMs: 0, tokensThrough: -1 }); // same base
    expect(f.machine.horizonMs).toBe(50 + 101_000);
  });

  test("an expired lease stays expired, and its owner can still unlock it", () => {
    const f = startedMachine(0);
    f.op(1, tryLock("r", "a", 100, 0));
    f.op(1, tryLock("other", "x", 1, 500)); // r expired 400 ms ago on leader 1's clock
    f.apply(2, { kind: "leaderStart", nowMs: 0 });
    expect(f.machine.get("r", 0).type).toBe(LockDoesNotExist);
    expect(f.op(2, extend("r", "a", 100, 0)).type).toBe(LockDoesNotExist);
    expect(f.op(2, unlock("r", "a", 0))).toEqual({ type: Unlocked, fencingToken: 0 });
  });

  test("any entry of a new term rebases, not only leaderStart; a Raft no-op does not", () => {
    const f = startedMachine(0);
    f.op(1, tryLock("r", "a", 1000, 0));
    f.noop(2);
    expect(f.machine.baseTerm).toBe(1);
    expect(f.op(3, extend("r", "a", 500, 20))).toEqual({ type: Extended, fencingToken: 0 });
    expect(f.machine.baseTerm).toBe(3);
    expect(f.machine.get("r", 20)).toMatchObject({ type: Got, expiresMs: 500 });
    expect(f.machine.ephemeralFrom).toBe(0);
  });

  test("within one term the clock base only moves forward", () => {
    const f = startedMachine(0);
    f.op(1, tryLock("other", "x", 1, 500));
    f.op(1, tryLock("r", "a", 1000, 100)); // an earlier reading after a later one
    f.apply(2, { kind: "leaderStart", nowMs: 0 });
    // Remaining is measured from the latest reading, 500: 1100 - 500 = 600.
    expect(f.machine.get("r", 0)).toMatchObject({ type: Got, expiresMs: 600 });
  });

  test("rebaseEnd keeps remaining time, adds a margin if asked, and leaves the past past", () => {
    const ppm = clockDriftPpmMax;
    expect(rebaseEnd(1500, 500, 0, ppm)).toBe(1010);
    expect(rebaseEnd(1500, 500, 0, 0)).toBe(1000);
    expect(rebaseEnd(500, 500, 42, ppm)).toBe(42);
    expect(rebaseEnd(400, 500, 42, ppm)).toBe(-58);
    expect(rebaseEnd(2 ** 31 + 1000, 1000, 0, ppm)).toBe(2 ** 31 + Math.ceil(2 ** 31 / 100));
  });
});

describe("ephemeral token ranges and horizon", () => {
  test("each leaderStart reserves a block above every token reserved before", () => {
    const f = new MachineFeeder();
    expect(f.machine.ephemeralThrough).toBe(-1);
    f.apply(1, { kind: "leaderStart", nowMs: 0 });
    expect([f.machine.ephemeralFrom, f.machine.ephemeralThrough]).toEqual([
      0,
      ephemeralTokenBlock - 1,
    ]);
    f.apply(1, { kind: "horizon", nowMs: 0, horizonMs: 0, tokensThrough: 5 * ephemeralTokenBlock });
    f.apply(1, { kind: "horizon", nowMs: 0, horizonMs: 0, tokensThrough: 7 }); // never shrinks
    expect(f.machine.ephemeralThrough).toBe(5 * ephemeralTokenBlock);
    f.apply(2, { kind: "leaderStart", nowMs: 0 });
    expect(f.machine.ephemeralFrom).toBe(5 * ephemeralTokenBlock + 1);
    expect(f.machine.ephemeralThrough).toBe(6 * ephemeralTokenBlock);
  });

  test("ephemeral tokens keep rising across leaders' ranges", () => {
    const f = new MachineFeeder();
    const tokens: number[] = [];
    const request = (owner: string) =>
      ({
        op: "tryLock",
        resource: "r",
        owner,
        expiresMs: 100,
        durability: Durability.Ephemeral,
      }) as const;
    for (let term = 1; term <= 3; term++) {
      f.apply(term, { kind: "leaderStart", nowMs: 0 });
      const table = new EphemeralLocks(f.machine.ephemeralFrom);
      tokens.push(table.execute(request("a"), 0).fencingToken);
      tokens.push(table.execute(request("b"), 100).fencingToken);
    }
    const block = ephemeralTokenBlock;
    expect(tokens).toEqual([0, 1, block, block + 1, 2 * block, 2 * block + 1]);
  });

  // Regression (issue: the ephemeral epoch ran out after 2^20 leader starts of a partition,
  // and apply threw on every replica, at every restart). A state at the old format's last
  // epoch takes more leader starts, and tokens go on rising.
  test("leader starts never run out: a machine at version 1's last epoch goes on", () => {
    const v1 = encodeMsgpack([1, 10, 3, 500, 2 ** 20 - 1, 0, [["r", "", 4, 0]]]);
    const restored = LockMachine.restore(v1);
    if ("error" in restored) throw new Error(restored.error);
    const f = new MachineFeeder(restored);
    expect(f.machine.ephemeralThrough).toBe(2 ** 52 - 1); // every token epoch 2^20-1 could use
    for (let term = 4; term < 4 + 100; term++) f.apply(term, { kind: "leaderStart", nowMs: 0 });
    expect(f.machine.ephemeralFrom).toBe(2 ** 52 + 99 * ephemeralTokenBlock);
    expect(f.machine.ephemeralFrom).toBeGreaterThan(2 ** 52 - 1);
  });

  test("the horizon only rises within a term and is rebased with the leases", () => {
    const f = startedMachine(1000);
    expect(f.machine.horizonMs).toBe(1000); // an empty horizon rebased onto leader 1: now
    f.apply(1, { kind: "horizon", nowMs: 1000, horizonMs: 21_000, tokensThrough: -1 });
    f.apply(1, { kind: "horizon", nowMs: 1500, horizonMs: 11_000, tokensThrough: -1 });
    expect(f.machine.horizonMs).toBe(21_000);
    f.apply(1, { kind: "horizon", nowMs: 5000, horizonMs: 25_000, tokensThrough: -1 });
    expect(f.machine.horizonMs).toBe(25_000);
    f.apply(2, { kind: "leaderStart", nowMs: 0 }); // 20_000 remained at 5000
    expect(f.machine.horizonMs).toBe(20_200);
  });
});

describe("apply", () => {
  test("answers persistent ops and nothing else, and tracks the applied index", () => {
    const f = new MachineFeeder();
    f.noop(1);
    expect(f.apply(1, { kind: "leaderStart", nowMs: 0 })).toBeUndefined();
    expect(f.apply(1, { kind: "horizon", nowMs: 0, horizonMs: 5, tokensThrough: -1 }))
      .toBeUndefined();
    expect(f.apply(1, tryLock("r", "a", 1, 0))).toEqual({ type: Locked, fencingToken: 0 });
    expect(f.machine.appliedIndex).toBe(4);
  });

  test("an entry that does not decode answers Errored and changes nothing", () => {
    const f = startedMachine();
    const before = f.machine.snapshot();
    const answer = f.machine.apply({ term: 1, index: 3, data: new Uint8Array([0xc1]) });
    expect(answer?.type).toBe(Errored);
    expect(answer?.error).toContain("entry 3");
    expect(f.machine.appliedIndex).toBe(3);
    const after = LockMachine.restore(f.machine.snapshot());
    if ("error" in after) throw new Error(after.error);
    expect(after.size()).toBe(0);
    // [array header, version, appliedIndex, ...]: only the applied index moved.
    expect(f.machine.snapshot().subarray(3)).toEqual(before.subarray(3));
  });

  test("applying an index twice or going back is a bug and asserts", () => {
    const f = startedMachine();
    const data = encodeCommand(tryLock("r", "a", 1, 0));
    expect(() => f.machine.apply({ term: 1, index: 2, data })).toThrow(AssertionError);
    expect(() => f.machine.apply({ term: 0, index: 3, data })).toThrow(AssertionError);
  });
});

/** A machine with every kind of record: held, expired, unlocked, several terms behind it. */
function busyMachine(): MachineFeeder {
  const f = startedMachine(100);
  f.op(1, tryLock("held", "a", 10_000, 100));
  f.op(1, tryLock("expired", "b", 10, 100));
  f.op(1, tryLock("unlocked", "c", 10_000, 100));
  f.op(1, unlock("unlocked", "c", 200));
  f.apply(1, { kind: "horizon", nowMs: 300, horizonMs: 10_300, tokensThrough: -1 });
  f.apply(2, { kind: "leaderStart", nowMs: 0 });
  f.op(2, tryLock("zé\u{1F512}", "d", 777, 3));
  f.op(2, tryLock("again", "e", 1, 3));
  f.op(2, tryLock("again", "f", 1, 9));
  f.op(2, tryLock("gone", "g", 1, 9));
  f.apply(2, { kind: "sweep", nowMs: 20, graceMs: 5, resources: ["gone"] });
  return f;
}

describe("sweep", () => {
  const sweep = (nowMs: number, graceMs: number, ...resources: string[]): LockCommand => ({
    kind: "sweep",
    nowMs,
    graceMs,
    resources,
  });

  test("removes records free for the grace period, and a re-created lock continues above", () => {
    const f = startedMachine(0);
    f.op(1, tryLock("expired", "a", 10, 0)); // free from 10
    f.op(1, tryLock("unlocked", "a", 1000, 0));
    f.op(1, unlock("unlocked", "a", 20)); // free from 20
    f.op(1, tryLock("unlocked", "b", 1000, 21));
    f.op(1, unlock("unlocked", "b", 30)); // token 1, free from 30
    f.op(1, tryLock("held", "a", 1000, 0));
    f.apply(1, sweep(100, 75, "expired", "unlocked", "held", "never"));
    expect(f.machine.size()).toBe(2); // only expired had been free 75 ms at 100
    expect(f.machine.tokenFloor).toBe(1);
    f.apply(1, sweep(105, 75, "expired", "unlocked", "held"));
    expect(f.machine.size()).toBe(1);
    expect(f.machine.tokenFloor).toBe(2);
    // Both re-created resources start above every removed token; untouched ones do not move.
    expect(f.op(1, tryLock("unlocked", "c", 10, 110)).fencingToken).toBe(2);
    expect(f.op(1, tryLock("expired", "c", 10, 110)).fencingToken).toBe(2);
    expect(f.op(1, tryLock("held", "a", 1000, 110)).fencingToken).toBe(0);
  });

  test("an unlocked or expired record within its grace answers as before", () => {
    const f = startedMachine(0);
    f.op(1, tryLock("r", "a", 10, 0));
    f.apply(1, sweep(50, 1000, "r"));
    expect(f.op(1, unlock("r", "a", 60))).toEqual({ type: Unlocked, fencingToken: 0 });
    expect(f.machine.size()).toBe(1);
  });

  test("a record free since before a leader change keeps the grace it had left", () => {
    const f = startedMachine(1000);
    f.op(1, tryLock("r", "a", 10, 1000)); // free from 1010
    f.op(1, tryLock("other", "x", 5000, 1100)); // last reading 1100: r free 90 ms
    f.apply(2, { kind: "leaderStart", nowMs: 0 });
    f.apply(2, sweep(9, 100, "r")); // 99 ms: not yet
    expect(f.machine.size()).toBe(2);
    f.apply(2, sweep(10, 100, "r"));
    expect(f.machine.size()).toBe(1);
  });

  test("the leader's scan proposes what is sweepable, a bounded batch at a time", () => {
    const f = startedMachine(0);
    for (let i = 0; i < 10; i++) f.op(1, tryLock(`r${i}`, "a", i < 7 ? 1 : 10_000, 0));
    const seen: string[] = [];
    for (let call = 0; call < 4; call++) seen.push(...f.machine.sweepCandidates(100, 50, 3, 1000));
    expect(seen.sort()).toEqual(["r0", "r1", "r2", "r3", "r4", "r5", "r6"]);
    expect(f.machine.sweepCandidates(100, 50, 100, 3 * 2 + 5)).toEqual(["r0"]); // bytes bound
    expect(f.machine.heldCount(100)).toBe(3);
  });
});

describe("snapshots", () => {
  test("a version 1 snapshot converts: tokens above its epochs, grace from the conversion", () => {
    const records = [["free", "", 3, 0], ["held", "o", 7, 900]];
    const restored = LockMachine.restore(encodeMsgpack([1, 42, 2, 500, 3, 800, records]));
    if ("error" in restored) throw new Error(restored.error);
    expect(restored.appliedIndex).toBe(42);
    expect(restored.ephemeralFrom).toBe(3 * 2 ** 32);
    expect(restored.ephemeralThrough).toBe(4 * 2 ** 32 - 1);
    expect(restored.tokenFloor).toBe(0);
    expect(restored.get("held", 500)).toMatchObject({ type: Got, fencingToken: 7, expiresMs: 400 });
    const f = new MachineFeeder(restored);
    f.apply(2, { kind: "sweep", nowMs: 599, graceMs: 100, resources: ["free"] });
    expect(f.machine.size()).toBe(2); // unlocked at 500 (the conversion), 99 ms ago
    f.apply(2, { kind: "sweep", nowMs: 600, graceMs: 100, resources: ["free"] });
    expect(f.machine.size()).toBe(1);
    expect(f.op(2, tryLock("free", "n", 10, 600)).fencingToken).toBe(4);
    const bad = LockMachine.restore(encodeMsgpack([1, 42, 2, 500, 3, 800, [["x", "", 3, 9]]]));
    expect(bad).toEqual({ error: "lock snapshot: record 0: an unlocked record has leaseEndMs 0" });
  });

  test("restore gives an identical machine: same getters, answers and snapshot bytes", () => {
    const original = busyMachine();
    const bytes = original.machine.snapshot();
    const restored = LockMachine.restore(bytes);
    if ("error" in restored) throw new Error(restored.error);
    expect(restored.snapshot()).toEqual(bytes);
    for (
      const key of [
        "ephemeralFrom",
        "ephemeralThrough",
        "tokenFloor",
        "horizonMs",
        "baseTerm",
        "appliedIndex",
      ] as const
    ) {
      expect(restored[key]).toBe(original.machine[key]);
    }
    expect(restored.size()).toBe(original.machine.size());
    const copy = new MachineFeeder(restored);
    const script: [number, LockCommand][] = [
      [2, tryLock("held", "x", 50, 10)],
      [2, tryLock("expired", "x", 50, 10)],
      [2, extend("zé\u{1F512}", "d", 50, 20)],
      [2, unlock("unlocked", "c", 20)],
      [3, tryLock("unlocked", "c", 50, 0)],
      [3, tryLock("again", "g", 5, 0)],
    ];
    for (const [term, command] of script) {
      expect(copy.op(term, command)).toEqual(original.op(term, command));
    }
    for (const r of ["held", "expired", "unlocked", "again", "zé\u{1F512}", "none"]) {
      expect(copy.machine.get(r, 1)).toEqual(original.machine.get(r, 1));
    }
    expect(copy.machine.snapshot()).toEqual(original.machine.snapshot());
  });

  test("the same entries give the same snapshot bytes", () => {
    expect(busyMachine().machine.snapshot()).toEqual(busyMachine().machine.snapshot());
  });

  test("an empty machine round-trips", () => {
    const bytes = new LockMachine().snapshot();
    const restored = LockMachine.restore(bytes);
    if ("error" in restored) throw new Error(restored.error);
    expect(restored.snapshot()).toEqual(bytes);
    expect(restored.ephemeralThrough).toBe(-1);
  });

  test("restore rejects random bytes and mutated snapshots without throwing", () => {
    const random = seededRandom(3);
    const valid = busyMachine().machine.snapshot();
    let rejected = 0;
    for (let i = 0; i < 4000; i++) {
      const data = i % 2 === 0 ? randomBytes(random, 1 + random.int(200)) : mutate(valid, random);
      const result = LockMachine.restore(data);
      if ("error" in result) {
        rejected++;
        expect(result.error).toStartWith("lock snapshot");
        continue;
      }
      // Whatever is accepted is a whole machine: its own snapshot restores to the same bytes.
      const again = LockMachine.restore(result.snapshot());
      if ("error" in again) throw new Error(again.error);
      expect(again.snapshot()).toEqual(result.snapshot());
    }
    expect(rejected).toBeGreaterThan(2500);
  });
});

/**
 * docs/spec.md §2.1, one case per row of its table, run for both durabilities: persistent through
 * encodeCommand → LockMachine.apply (and LockMachine.get), ephemeral through EphemeralLocks.
 * Time is only the `atMs` of each step: nothing sleeps. Every step's answer is checked, so the
 * expiry column is checked by the Get steps that follow the operation under test.
 */
import { describe, expect, test } from "bun:test";
import { EphemeralLocks } from "./ephemeral-locks.ts";
import { MachineFeeder } from "./test-kit.ts";
import { Durability, type LockResponse, ResponseType } from "./types.ts";

const resource = "orders/42";
const A = "786f947d8a6643f0b939865f72aa512a";
const B = "0b939865f72aa512a786f947d8a6643f";

type Step =
  | { op: "tryLock" | "extend"; owner: string; expiresMs: number; atMs: number }
  | { op: "unlock"; owner: string; atMs: number }
  | { op: "get"; atMs: number };

/** Expected answer; `t(n)` is the n-th grant's token for the durability under test. */
type Expect = (t: (n: number) => number) => LockResponse;

type Case = { row: string; steps: [Step, Expect][] };

const { Locked, Busy, Extended, Unlocked, Got, LockDoesNotExist, InvalidOwner } = ResponseType;
const locked = (n: number): Expect => (t) => ({ type: Locked, fencingToken: t(n) });
const extended = (n: number): Expect => (t) => ({ type: Extended, fencingToken: t(n) });
const unlocked = (n: number): Expect => (t) => ({ type: Unlocked, fencingToken: t(n) });
const got = (owner: string, n: number, expiresMs: number): Expect => (t) => ({
  type: Got,
  fencingToken: t(n),
  owner,
  expiresMs,
});
const busy: Expect = () => ({ type: Busy, fencingToken: 0 });
const missing: Expect = () => ({ type: LockDoesNotExist, fencingToken: 0 });
const notOwner: Expect = () => ({ type: InvalidOwner, fencingToken: 0 });

const lock = (owner: string, expiresMs: number, atMs: number): Step => ({
  op: "tryLock",
  owner,
  expiresMs,
  atMs,
});
const extend = (owner: string, expiresMs: number, atMs: number): Step => ({
  op: "extend",
  owner,
  expiresMs,
  atMs,
});
const unlock = (owner: string, atMs: number): Step => ({ op: "unlock", owner, atMs });
const get = (atMs: number): Step => ({ op: "get", atMs });

const cases: Case[] = [
  {
    row: "TryLock on a free lock: Locked, first token, expiry now + expiresMs",
    steps: [[lock(A, 100, 1000), locked(0)], [get(1010), got(A, 0, 90)], [get(1100), missing]],
  },
  {
    row: "TryLock on an unlocked lock: Locked, previous + 1",
    steps: [
      [lock(A, 100, 1000), locked(0)],
      [unlock(A, 1010), unlocked(0)],
      [lock(B, 50, 1020), locked(1)],
      [get(1030), got(B, 1, 40)],
    ],
  },
  {
    row: "TryLock on a lock expired under another owner: Locked, previous + 1",
    steps: [
      [lock(A, 100, 1000), locked(0)],
      [lock(B, 50, 1100), locked(1)], // the lease ends at 1100: expired exactly then
      [get(1110), got(B, 1, 40)],
    ],
  },
  {
    row: "TryLock on a lock expired under the same owner: a fresh grant, previous + 1",
    steps: [[lock(A, 100, 1000), locked(0)], [lock(A, 70, 1500), locked(1)], [
      get(1510),
      got(A, 1, 60),
    ]],
  },
  {
    row: "TryLock held by the same owner: Locked (idempotent), token and expiry unchanged",
    steps: [[lock(A, 100, 1000), locked(0)], [lock(A, 5000, 1040), locked(0)], [
      get(1050),
      got(A, 0, 50),
    ]],
  },
  {
    row: "TryLock held by another owner: Busy, token 0, expiry unchanged",
    steps: [
      [lock(A, 100, 1000), locked(0)],
      [lock(B, 5000, 1099), busy],
      [get(1099), got(A, 0, 1)],
      [get(1100), missing],
    ],
  },
  {
    row: "Extend held by the same owner: Extended, token unchanged, expiry now + expiresMs",
    steps: [
      [lock(A, 100, 1000), locked(0)],
      [extend(A, 200, 1060), extended(0)],
      [get(1100), got(A, 0, 160)],
      [get(1260), missing],
    ],
  },
  {
    row: "Extend held by another owner: InvalidOwner, token 0, expiry unchanged",
    steps: [[lock(A, 100, 1000), locked(0)], [extend(B, 900, 1010), notOwner], [
      get(1020),
      got(A, 0, 80),
    ]],
  },
  {
    row: "Extend on a missing lock: LockDoesNotExist",
    steps: [[extend(A, 100, 1000), missing], [get(1000), missing]],
  },
  {
    row: "Extend on an unlocked lock: LockDoesNotExist",
    steps: [
      [lock(A, 100, 1000), locked(0)],
      [unlock(A, 1010), unlocked(0)],
      [extend(A, 100, 1020), missing],
      [get(1030), missing],
    ],
  },
  {
    row: "Extend on an expired lock: LockDoesNotExist, even for its owner",
    steps: [[lock(A, 100, 1000), locked(0)], [extend(A, 100, 1100), missing], [get(1100), missing]],
  },
  {
    row: "Unlock by the owner of a held lock: Unlocked, token kept for the next grant",
    steps: [
      [lock(A, 100, 1000), locked(0)],
      [unlock(A, 1010), unlocked(0)],
      [get(1020), missing],
      [lock(B, 100, 1030), locked(1)],
    ],
  },
  {
    row: "Unlock by the owner of an expired lock nobody re-took: Unlocked",
    steps: [
      [lock(A, 100, 1000), locked(0)],
      [unlock(A, 5000), unlocked(0)],
      [unlock(A, 5001), missing],
      [lock(B, 100, 5002), locked(1)],
    ],
  },
  {
    row: "Unlock of a lock held by another owner: InvalidOwner, lock unchanged",
    steps: [[lock(A, 100, 1000), locked(0)], [unlock(B, 1010), notOwner], [
      get(1020),
      got(A, 0, 80),
    ]],
  },
  {
    row: "Unlock of a lock that expired and was re-taken: InvalidOwner for the old owner",
    steps: [
      [lock(A, 100, 1000), locked(0)],
      [lock(B, 100, 1200), locked(1)],
      [unlock(A, 1210), notOwner],
      [get(1220), got(B, 1, 80)],
    ],
  },
  {
    row: "Unlock of a missing lock: LockDoesNotExist",
    steps: [[unlock(A, 1000), missing], [get(1000), missing]],
  },
  {
    row: "Unlock of an already unlocked lock: LockDoesNotExist",
    steps: [[lock(A, 100, 1000), locked(0)], [unlock(A, 1010), unlocked(0)], [
      unlock(A, 1020),
      missing,
    ]],
  },
  {
    row: "Get on a held lock: Got with owner, current token, remaining ms",
    steps: [
      [lock(A, 100, 1000), locked(0)],
      [unlock(A, 1001), unlocked(0)],
      [lock(B, 300, 1002), locked(1)],
      [get(1002), got(B, 1, 300)],
      [get(1301), got(B, 1, 1)],
    ],
  },
  {
    row: "Get on a missing, unlocked or expired lock: LockDoesNotExist, token 0",
    steps: [
      [get(1000), missing],
      [lock(A, 100, 1000), locked(0)],
      [get(1100), missing],
      [lock(A, 100, 1200), locked(1)],
      [unlock(A, 1210), unlocked(1)],
      [get(1220), missing],
    ],
  },
];

type Driver = { run(step: Step): LockResponse };

function persistentDriver(): Driver {
  const feeder = new MachineFeeder();
  const term = 1;
  feeder.noop(term);
  feeder.apply(term, { kind: "leaderStart", nowMs: 0 });
  return {
    run(step) {
      if (step.op === "get") return feeder.machine.get(resource, step.atMs);
      const expiresMs = step.op === "unlock" ? 0 : step.expiresMs;
      return feeder.op(term, {
        kind: step.op,
        resource,
        owner: step.owner,
        expiresMs,
        nowMs: step.atMs,
      });
    },
  };
}

function ephemeralDriver(fromToken: number): Driver {
  const locks = new EphemeralLocks(fromToken);
  const durability = Durability.Ephemeral;
  return {
    run(step) {
      switch (step.op) {
        case "get":
          return locks.execute({ op: "get", resource, durability }, step.atMs);
        case "unlock":
          return locks.execute(
            { op: "unlock", resource, owner: step.owner, durability },
            step.atMs,
          );
        default:
          return locks.execute({ ...step, resource, durability }, step.atMs);
      }
    },
  };
}

const durabilities: { name: string; driver: () => Driver; firstToken: number }[] = [
  { name: "persistent", driver: persistentDriver, firstToken: 0 },
  { name: "ephemeral, first leader (from 0)", driver: () => ephemeralDriver(0), firstToken: 0 },
  {
    name: "ephemeral, a later leader's range",
    driver: () => ephemeralDriver(5 * 2 ** 20 + 1),
    firstToken: 5 * 2 ** 20 + 1,
  },
];

for (const durability of durabilities) {
  describe(`spec 2.1 semantics, ${durability.name}`, () => {
    for (const c of cases) {
      test(c.row, () => {
        const driver = durability.driver();
        const t = (n: number) => durability.firstToken + n;
        c.steps.forEach(([step, expected], i) => {
          const answer = driver.run(step);
          expect({ step: i, answer }).toEqual({ step: i, answer: expected(t) });
        });
      });
    }
  });
}

test("the same resource name in the two durabilities is two locks", () => {
  const persistent = persistentDriver();
  const ephemeral = ephemeralDriver(0);
  expect(persistent.run(lock(A, 100, 1000))).toEqual({ type: Locked, fencingToken: 0 });
  expect(ephemeral.run(lock(B, 100, 1000))).toEqual({ type: Locked, fencingToken: 0 });
  expect(persistent.run(get(1010))).toEqual({
    type: Got,
    fencingToken: 0,
    owner: A,
    expiresMs: 90,
  });
  expect(ephemeral.run(get(1010))).toEqual({ type: Got, fencingToken: 0, owner: B, expiresMs: 90 });
});

import { describe, expect, test } from "bun:test";
import { AssertionError } from "../assert.ts";
import { EphemeralLocks } from "./ephemeral-locks.ts";
import { Durability, type LockOpRequest, ResponseType } from "./types.ts";

const durability = Durability.Ephemeral;
const lock = (owner: string, expiresMs: number): LockOpRequest => ({
  op: "tryLock",
  resource: "r",
  owner,
  expiresMs,
  durability,
});
const extend = (owner: string, expiresMs: number): LockOpRequest => ({
  op: "extend",
  resource: "r",
  owner,
  expiresMs,
  durability,
});

describe("EphemeralLocks", () => {
  test("the first grant is the range's first token and later grants count up from it", () => {
    const from = 7 * 2 ** 20;
    const table = new EphemeralLocks(from);
    expect(table.execute(lock("a", 10), 0)).toEqual({
      type: ResponseType.Locked,
      fencingToken: from,
    });
    expect(table.execute(lock("b", 10), 10).fencingToken).toBe(from + 1);
    expect(table.fromToken).toBe(from);
  });

  test("executeWithin holds back a grant or an extension past the horizon, and nothing else", () => {
    const table = new EphemeralLocks(0);
    const horizon = 200;
    const all = Number.MAX_SAFE_INTEGER;
    expect(table.executeWithin(lock("a", 300), 50, horizon, all)).toEqual({
      leaseEndMs: 350,
      fencingToken: 0,
    });
    expect(table.size()).toBe(0); // held back: nothing changed
    expect(table.executeWithin(lock("a", 100), 50, horizon, all)).toMatchObject({
      type: ResponseType.Locked,
    });
    // An idempotent retry keeps its lease (no new end); busy and not-the-owner create none.
    expect(table.executeWithin(lock("a", 500), 60, horizon, all)).toMatchObject({
      type: ResponseType.Locked,
    });
    expect(table.executeWithin(lock("b", 500), 60, horizon, all)).toMatchObject({
      type: ResponseType.Busy,
    });
    expect(table.executeWithin(extend("b", 300), 60, horizon, all)).not.toHaveProperty(
      "leaseEndMs",
    );
    expect(table.executeWithin(extend("a", 300), 60, horizon, all)).toEqual({
      leaseEndMs: 360,
      fencingToken: 0,
    });
    expect(table.executeWithin(extend("a", 140), 60, horizon, all)).toMatchObject({
      type: ResponseType.Extended,
    });
    expect(table.executeWithin(lock("b", 100), 250, horizon, all)).toEqual({
      leaseEndMs: 350,
      fencingToken: 1,
    });
    const unlock = { op: "unlock", resource: "r", owner: "a", durability } as const;
    expect(table.executeWithin(unlock, 60, 0, -1)).toMatchObject({ type: ResponseType.Unlocked });
    const get = { op: "get", resource: "r", durability } as const;
    expect(table.executeWithin(get, 60, 0, -1)).not.toHaveProperty("leaseEndMs");
  });

  test("executeWithin holds back a grant whose token is not reserved, and only that", () => {
    const table = new EphemeralLocks(100);
    const horizon = Number.POSITIVE_INFINITY;
    expect(table.executeWithin(lock("a", 10), 0, horizon, 99)).toEqual({
      leaseEndMs: 10,
      fencingToken: 100,
    });
    expect(table.size()).toBe(0);
    expect(table.executeWithin(lock("a", 10), 0, horizon, 100)).toEqual({
      type: ResponseType.Locked,
      fencingToken: 100,
    });
    // Extending keeps the token: it needs no reservation, only the horizon.
    expect(table.executeWithin(extend("a", 10), 5, horizon, 100)).toMatchObject({
      type: ResponseType.Extended,
    });
    expect(table.executeWithin(lock("b", 10), 20, horizon, 100)).toEqual({
      leaseEndMs: 30,
      fencingToken: 101,
    });
  });

  test("a sweep removes records free for the grace period and tokens still rise", () => {
    const table = new EphemeralLocks(0);
    table.execute(lock("a", 10), 0); // r: token 0, free from 10
    table.execute({ ...lock("a", 100), resource: "s" }, 0); // s: token 0, held until 100
    table.execute({ ...lock("a", 10), resource: "t" }, 0);
    table.execute({ op: "unlock", resource: "t", owner: "a", durability }, 5); // free from 5
    expect(table.sweep(50, 45, 100)).toBe(1); // t: free 45 ms; r: free only 40
    expect(table.sweep(50, 45, 100)).toBe(0);
    expect(table.sweep(60, 45, 100)).toBe(1); // now r too; s is still held
    expect(table.size()).toBe(1);
    // A swept resource starts again above every token removed: 0 was, so 1.
    expect(table.execute(lock("b", 10), 70).fencingToken).toBe(1);
    expect(table.execute({ ...lock("b", 10), resource: "new" }, 70).fencingToken).toBe(1);
    // Expired, but within the grace: its owner may still unlock it.
    expect(table.execute({ op: "unlock", resource: "s", owner: "a", durability }, 120)).toEqual({
      type: ResponseType.Unlocked,
      fencingToken: 0,
    });
  });

  test("a scan looks at scanMax records and goes on from there", () => {
    const table = new EphemeralLocks(0);
    for (let i = 0; i < 10; i++) table.execute({ ...lock("a", 1), resource: `r${i}` }, 0);
    expect(table.sweep(100, 0, 4)).toBe(4);
    expect(table.sweep(100, 0, 4)).toBe(4);
    expect(table.sweep(100, 0, 4)).toBe(2);
    expect(table.size()).toBe(0);
  });

  test("counts every resource it has seen, unlocked ones included, and the held ones", () => {
    const table = new EphemeralLocks(0);
    table.execute(lock("a", 100), 0);
    table.execute({ op: "unlock", resource: "r", owner: "a", durability }, 1);
    table.execute({ ...lock("a", 100), resource: "s" }, 1);
    table.execute({ op: "get", resource: "t", durability }, 1);
    expect(table.size()).toBe(2);
    expect(table.heldCount(1)).toBe(1);
    expect(table.heldCount(101)).toBe(0);
  });

  test("refuses persistent requests and impossible ranges: those are host bugs", () => {
    const table = new EphemeralLocks(0);
    expect(() => table.execute({ ...lock("a", 1), durability: Durability.Persistent }, 0)).toThrow(
      AssertionError,
    );
    expect(() => new EphemeralLocks(-1)).toThrow(AssertionError);
    expect(() => new EphemeralLocks(2 ** 53)).toThrow(AssertionError);
    expect(() => new EphemeralLocks(0.5)).toThrow(AssertionError);
  });
});

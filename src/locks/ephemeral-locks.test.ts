import { describe, expect, test } from "bun:test";
import { AssertionError } from "../assert.ts";
import { ephemeralEpochMax } from "../constants.ts";
import { EphemeralLocks } from "./ephemeral-locks.ts";
import { Durability, type LockRequest, ResponseType } from "./types.ts";

const durability = Durability.Ephemeral;
const lock = (owner: string, expiresMs: number): LockRequest => ({
  op: "tryLock",
  resource: "r",
  owner,
  expiresMs,
  durability,
});
const extend = (owner: string, expiresMs: number): LockRequest => ({
  op: "extend",
  resource: "r",
  owner,
  expiresMs,
  durability,
});

describe("EphemeralLocks", () => {
  test("the first grant of epoch e is e * 2^32 and later grants count up from it", () => {
    const table = new EphemeralLocks(7);
    expect(table.execute(lock("a", 10), 0)).toEqual({
      type: ResponseType.Locked,
      fencingToken: 7 * 2 ** 32,
    });
    expect(table.execute(lock("b", 10), 10).fencingToken).toBe(7 * 2 ** 32 + 1);
    expect(table.epoch).toBe(7);
  });

  test("executeWithin holds back a grant or an extension past the horizon, and nothing else", () => {
    const table = new EphemeralLocks(0);
    const horizon = 200;
    expect(table.executeWithin(lock("a", 300), 50, horizon)).toEqual({ leaseEndMs: 350 });
    expect(table.size()).toBe(0); // held back: nothing changed
    expect(table.executeWithin(lock("a", 100), 50, horizon)).toMatchObject({
      type: ResponseType.Locked,
    });
    // An idempotent retry keeps its lease (no new end); busy and not-the-owner create none.
    expect(table.executeWithin(lock("a", 500), 60, horizon)).toMatchObject({
      type: ResponseType.Locked,
    });
    expect(table.executeWithin(lock("b", 500), 60, horizon)).toMatchObject({
      type: ResponseType.Busy,
    });
    expect(table.executeWithin(extend("b", 300), 60, horizon)).not.toHaveProperty("leaseEndMs");
    expect(table.executeWithin(extend("a", 300), 60, horizon)).toEqual({ leaseEndMs: 360 });
    expect(table.executeWithin(extend("a", 140), 60, horizon)).toMatchObject({
      type: ResponseType.Extended,
    });
    expect(table.executeWithin(lock("b", 100), 250, horizon)).toEqual({ leaseEndMs: 350 });
    const unlock = { op: "unlock", resource: "r", owner: "a", durability } as const;
    expect(table.executeWithin(unlock, 60, 0)).toMatchObject({ type: ResponseType.Unlocked });
    const get = { op: "get", resource: "r", durability } as const;
    expect(table.executeWithin(get, 60, 0)).not.toHaveProperty("leaseEndMs");
  });

  test("counts every resource it has seen, unlocked ones included", () => {
    const table = new EphemeralLocks(0);
    table.execute(lock("a", 100), 0);
    table.execute({ op: "unlock", resource: "r", owner: "a", durability }, 1);
    table.execute({ ...lock("a", 100), resource: "s" }, 1);
    table.execute({ op: "get", resource: "t", durability }, 1);
    expect(table.size()).toBe(2);
  });

  test("refuses persistent requests and impossible epochs: those are host bugs", () => {
    const table = new EphemeralLocks(0);
    expect(() => table.execute({ ...lock("a", 1), durability: Durability.Persistent }, 0)).toThrow(
      AssertionError,
    );
    expect(() => new EphemeralLocks(-1)).toThrow(AssertionError);
    expect(() => new EphemeralLocks(ephemeralEpochMax)).toThrow(AssertionError);
    expect(() => new EphemeralLocks(0.5)).toThrow(AssertionError);
  });
});

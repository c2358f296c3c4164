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

  test("leaseEndFor names the end a grant or an extension needs covered, else 0", () => {
    const table = new EphemeralLocks(0);
    expect(table.leaseEndFor(lock("a", 100), 50)).toBe(150);
    expect(table.size()).toBe(0); // asking changes nothing
    table.execute(lock("a", 100), 50);
    expect(table.leaseEndFor(lock("a", 100), 60)).toBe(0); // idempotent retry keeps its lease
    expect(table.leaseEndFor(lock("b", 100), 60)).toBe(0); // busy
    expect(table.leaseEndFor(extend("a", 300), 60)).toBe(360);
    expect(table.leaseEndFor(extend("b", 300), 60)).toBe(0); // not the owner
    expect(table.leaseEndFor(lock("b", 100), 150)).toBe(250); // a's lease ended at 150
    expect(table.leaseEndFor({ op: "unlock", resource: "r", owner: "a", durability }, 60)).toBe(0);
    expect(table.leaseEndFor({ op: "get", resource: "r", durability }, 60)).toBe(0);
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

/**
 * A lock's published value (docs/spec.md §2.1): a grant sets it, an Extend with a value
 * replaces it and counts the change, one without keeps it, a release drops it; the holder's
 * retried TryLock keeps the first. The same in the replicated machine (through the command
 * codec, into and out of a snapshot) and in the ephemeral table; entries and snapshots written
 * before values existed still read.
 */
import { expect, test } from "bun:test";
import { decodeCommand, encodeCommand, type LockCommand } from "../codec/lock-command.ts";
import { encodeMsgpack } from "../codec/msgpack.ts";
import { valueBytesMax } from "../constants.ts";
import { EphemeralLocks } from "./ephemeral-locks.ts";
import { LockMachine } from "./lock-machine.ts";
import * as rules from "./lock-rules.ts";
import { MachineFeeder } from "./test-kit.ts";
import { Durability, ResponseType } from "./types.ts";

test("the rules: grant sets, Extend replaces and counts, a retry keeps, release drops", () => {
  const granted = rules.tryLock(undefined, "a", 1_000, 0, 0, "host-a").record!;
  expect(granted).toEqual({ owner: "a", fencingToken: 0, leaseEndMs: 1_000, value: "host-a" });
  expect(rules.tryLock(granted, "a", 5_000, 10, 0, "other").record).toBe(granted);
  const kept = rules.extend(granted, "a", 1_000, 20).record!;
  expect(kept).toEqual({ owner: "a", fencingToken: 0, leaseEndMs: 1_020, value: "host-a" });
  const same = rules.extend(kept, "a", 1_000, 30, "host-a").record!;
  expect(same.valueSeq).toBeUndefined();
  const proclaimed = rules.extend(same, "a", 1_000, 40, "host-b").record!;
  expect(proclaimed).toMatchObject({ value: "host-b", valueSeq: 1 });
  expect(rules.extend(proclaimed, "a", 1_000, 50, "host-c").record).toMatchObject({
    value: "host-c",
    valueSeq: 2,
  });
  expect(rules.get(proclaimed, 100)).toMatchObject({ type: ResponseType.Got, value: "host-b" });
  const released = rules.unlock(proclaimed, "a", 60).record!;
  expect(released).toEqual({ owner: "", fencingToken: 0, leaseEndMs: 60 });
  const next = rules.tryLock(released, "b", 1_000, 70, 0).record!;
  expect(next).toEqual({ owner: "b", fencingToken: 1, leaseEndMs: 1_070 });
  expect(rules.get(next, 80)).not.toHaveProperty("value");
});

test("the machine: values through the log and a snapshot", () => {
  const feeder = new MachineFeeder();
  const command = (c: Partial<LockCommand> & { kind: "tryLock" | "extend" }): LockCommand => ({
    resource: "leader",
    owner: "a",
    expiresMs: 60_000,
    nowMs: 10,
    ...c,
  } as LockCommand);
  expect(feeder.op(1, command({ kind: "tryLock", value: "host-a" })).type).toBe(
    ResponseType.Locked,
  );
  expect(feeder.op(1, command({ kind: "extend", value: "host-b", nowMs: 20 })).type).toBe(
    ResponseType.Extended,
  );
  expect(feeder.machine.get("leader", 30)).toMatchObject({ owner: "a", value: "host-b" });
  const restored = LockMachine.restore(feeder.machine.snapshot());
  if ("error" in restored) throw new Error(restored.error);
  expect(restored.record("leader")).toEqual(feeder.machine.record("leader"));
  expect(restored.record("leader")).toMatchObject({ value: "host-b", valueSeq: 1 });
  expect(restored.snapshot()).toEqual(feeder.machine.snapshot());
});

test("entries of before values decode as before; a bad value is an error, not a crash", () => {
  const old = encodeMsgpack([1, "r", "a", 1_000, 5]);
  expect(decodeCommand(old)).toEqual({
    kind: "tryLock",
    resource: "r",
    owner: "a",
    expiresMs: 1_000,
    nowMs: 5,
  });
  const withValue = encodeCommand({
    kind: "extend",
    resource: "r",
    owner: "a",
    expiresMs: 1_000,
    nowMs: 5,
    value: "v",
  });
  expect(decodeCommand(withValue)).toMatchObject({ kind: "extend", value: "v" });
  expect(decodeCommand(encodeMsgpack([3, "r", "a", 0, 5, "v"]))).toEqual({
    error: "unlock needs 4 fields, got 5",
  });
  expect(decodeCommand(encodeMsgpack([1, "r", "a", 1_000, 5, ""]))).toEqual({
    error: "tryLock: value must be 1 to 256 UTF-8 bytes, got 0",
  });
  const long = "x".repeat(valueBytesMax + 1);
  expect("error" in decodeCommand(encodeMsgpack([1, "r", "a", 1_000, 5, long]))).toBe(true);
  expect(decodeCommand(encodeMsgpack([2, "r", "a", 1_000, 5, 7]))).toEqual({
    error: "extend: value is not a UTF-8 string",
  });
});

test("the ephemeral table keeps values by the same rules", () => {
  const table = new EphemeralLocks(0);
  const e = Durability.Ephemeral;
  table.execute({
    op: "tryLock",
    resource: "r",
    owner: "a",
    expiresMs: 1_000,
    durability: e,
    value: "x",
  }, 0);
  expect(table.execute({ op: "get", resource: "r", durability: e }, 1)).toMatchObject({
    value: "x",
  });
  table.execute({
    op: "extend",
    resource: "r",
    owner: "a",
    expiresMs: 1_000,
    durability: e,
    value: "y",
  }, 2);
  expect(table.record("r")).toMatchObject({ value: "y", valueSeq: 1 });
});

/**
 * Shared locks (docs/spec.md §2.8) in the lock rules, the replicated machine, its snapshot and
 * its log commands: a semaphore admits at most its limit, an exclusive grant excludes every
 * shared one and the other way round, each holder has its own lease and token, and tokens keep
 * rising across every change of mode.
 */
import { expect, test } from "bun:test";
import { sharedLimitMax } from "../constants.ts";
import { decodeCommand, encodeCommand } from "../codec/lock-command.ts";
import { encodeMsgpack } from "../codec/msgpack.ts";
import { EphemeralLocks } from "./ephemeral-locks.ts";
import { LockMachine } from "./lock-machine.ts";
import * as rules from "./lock-rules.ts";
import { decodeSnapshot, encodeSnapshot } from "./lock-snapshot.ts";
import { Durability, ResponseType } from "./types.ts";

const { Locked, Busy, Unlocked, Extended, InvalidOwner, LockDoesNotExist, Got } = ResponseType;

test("a semaphore of 3 admits 3 holders, each with its own token, and refuses the 4th", () => {
  let record: rules.LockRecord | undefined;
  const tokens: number[] = [];
  for (const owner of ["a", "b", "c"]) {
    const outcome = rules.tryLock(record, owner, 1_000, 0, 7, undefined, 3);
    expect(outcome.response.type).toBe(Locked);
    tokens.push(outcome.response.fencingToken);
    record = outcome.record;
  }
  expect(tokens).toEqual([7, 8, 9]);
  expect(rules.tryLock(record, "d", 1_000, 0, 7, undefined, 3).response.type).toBe(Busy);
  // A holder asking again gets its own grant back, lease unchanged.
  const again = rules.tryLock(record, "b", 5_000, 10, 7, undefined, 3);
  expect(again).toMatchObject({ response: { type: Locked, fencingToken: 8 }, record });
  const info = rules.get(record, 100);
  expect(info).toMatchObject({ type: Got, owner: "c", fencingToken: 9, limit: 3 });
  expect(info.holders?.map((h) => [h.owner, h.fencingToken, h.expiresMs])).toEqual([
    ["a", 7, 900],
    ["b", 8, 900],
    ["c", 9, 900],
  ]);
});

test("the smallest limit among the holders and the asker applies", () => {
  let record = rules.tryLock(undefined, "a", 1_000, 0, 0, undefined, 2).record;
  // b asks for 5, but a admits only 2 holders at once: b fits, c does not.
  record = rules.tryLock(record, "b", 1_000, 0, 0, undefined, 5).record;
  expect(rules.tryLock(record, "c", 1_000, 0, 0, undefined, 5).response.type).toBe(Busy);
  expect(rules.get(record, 0).limit).toBe(2);
  // With a gone, b's 5 applies; d's own limit of 1 does not fit beside b.
  record = rules.unlock(record, "a", 10).record;
  expect(rules.tryLock(record, "d", 1_000, 10, 0, undefined, 1).response.type).toBe(Busy);
  expect(rules.tryLock(record, "d", 1_000, 10, 0, undefined, 5).response.type).toBe(Locked);
});

test("a writer excludes readers and readers exclude a writer; one owner holds one way", () => {
  const read = (r: rules.LockRecord | undefined, owner: string, nowMs = 0) =>
    rules.tryLock(r, owner, 1_000, nowMs, 0, undefined, sharedLimitMax);
  const write = (r: rules.LockRecord | undefined, owner: string, nowMs = 0) =>
    rules.tryLock(r, owner, 1_000, nowMs, 0);
  const writer = write(undefined, "w").record;
  expect(read(writer, "r").response.type).toBe(Busy);
  expect(read(writer, "w").response.type).toBe(Busy);
  const released = rules.unlock(writer, "w", 5).record;
  const readers = read(read(released, "r1", 5).record, "r2", 5).record;
  expect(rules.get(readers, 6).holders?.map((h) => h.fencingToken)).toEqual([1, 2]);
  expect(write(readers, "w", 6).response.type).toBe(Busy);
  expect(write(readers, "r1", 6).response.type).toBe(Busy);
  // Once the readers' leases end, the writer gets the next token.
  const later = write(readers, "w", 1_005);
  expect(later.response).toEqual({ type: Locked, fencingToken: 3 });
  expect(later.record?.holders).toBeUndefined();
});

test("extend and unlock act on the owner's own grant; the last release frees the lock", () => {
  let record = rules.tryLock(undefined, "a", 1_000, 0, 0, undefined, 3).record;
  record = rules.tryLock(record, "b", 1_000, 0, 0, undefined, 3).record;
  const extended = rules.extend(record, "a", 5_000, 500, "host-a");
  expect(extended.response).toEqual({ type: Extended, fencingToken: 0 });
  expect(extended.lease).toEqual({ leaseEndMs: 5_500, fencingToken: 0 });
  record = extended.record;
  expect(record?.leaseEndMs).toBe(5_500);
  expect(rules.get(record, 600).holders?.[0]).toMatchObject({ owner: "a", value: "host-a" });
  expect(rules.extend(record, "z", 1_000, 600).response.type).toBe(InvalidOwner);
  // b's lease ran out at 1 000: it can no longer extend, but may still release.
  expect(rules.extend(record, "b", 1_000, 1_200).response.type).toBe(InvalidOwner);
  const b = rules.unlock(record, "b", 1_200);
  expect(b.response).toEqual({ type: Unlocked, fencingToken: 1 });
  record = b.record;
  expect(rules.unlock(record, "z", 1_300).response.type).toBe(InvalidOwner);
  const a = rules.unlock(record, "a", 1_300);
  expect(a.response).toEqual({ type: Unlocked, fencingToken: 0 });
  expect(a.record).toEqual({ owner: "", fencingToken: 1, leaseEndMs: 1_300 });
  expect(rules.unlock(a.record, "a", 1_400).response.type).toBe(LockDoesNotExist);
  expect(rules.tryLock(a.record, "c", 1_000, 1_400, 0).response.fencingToken).toBe(2);
});

test("an unlock prunes holders whose leases ended; the record is free from the last end", () => {
  let record = rules.tryLock(undefined, "a", 100, 0, 0, undefined, 2).record;
  record = rules.tryLock(record, "b", 1_000, 0, 0, undefined, 2).record;
  expect(rules.isHeld(record, 500)).toBe(true);
  expect(rules.isSweepable(record!, 1_500, 0)).toBe(true);
  expect(rules.isSweepable(record!, 999, 0)).toBe(false);
  const pruned = rules.unlock(record, "b", 500).record;
  expect(pruned).toEqual({ owner: "", fencingToken: 1, leaseEndMs: 500 });
});

test("the replicated machine runs shared grants from the log and rebases every holder", () => {
  const machine = new LockMachine();
  let index = 0;
  const apply = (term: number, command: Parameters<typeof encodeCommand>[0]) =>
    machine.apply({ term, index: ++index, data: encodeCommand(command) });
  const shared = (owner: string, nowMs: number, limit = 2) =>
    apply(1, { kind: "tryLock", resource: "r", owner, expiresMs: 1_000, nowMs, limit });
  apply(1, { kind: "leaderStart", nowMs: 0 });
  expect(shared("a", 10)?.type).toBe(Locked);
  expect(shared("b", 20)?.type).toBe(Locked);
  expect(shared("c", 30)?.type).toBe(Busy);
  // A new leader's clock starts at 0: each holder keeps the lease it had left at 30.
  apply(2, { kind: "leaderStart", nowMs: 0 });
  expect(machine.get("r", 0).holders?.map((h) => h.expiresMs)).toEqual([980, 990]);
  const restored = LockMachine.restore(machine.snapshot());
  if ("error" in restored) throw new Error(restored.error);
  expect(restored.snapshot()).toEqual(machine.snapshot());
  expect(restored.get("r", 0)).toEqual(machine.get("r", 0));
});

test("an ephemeral shared grant waits for the horizon to cover its own lease", () => {
  const table = new EphemeralLocks(100);
  const ask = (owner: string, expiresMs: number, horizonMs: number) =>
    table.executeWithin(
      {
        op: "tryLock",
        resource: "r",
        owner,
        expiresMs,
        durability: Durability.Ephemeral,
        limit: 5,
      },
      0,
      horizonMs,
      1_000,
    );
  expect(ask("a", 5_000, 10_000)).toEqual({ type: Locked, fencingToken: 100 });
  // b's lease (to 20 000) is past the horizon, though the record's latest end (a's) is not.
  expect(ask("b", 20_000, 10_000)).toEqual({ leaseEndMs: 20_000, fencingToken: 101 });
  expect(ask("b", 1_000, 10_000)).toEqual({ type: Locked, fencingToken: 101 });
});

test("shared tryLock commands round-trip, and bad limits are refused on decode", () => {
  const command = {
    kind: "tryLock",
    resource: "r",
    owner: "o",
    expiresMs: 5,
    nowMs: 1,
    limit: 3,
    value: "v",
  } as const;
  expect(decodeCommand(encodeCommand(command))).toEqual(command);
  const { value: _, ...plain } = command;
  expect(decodeCommand(encodeCommand(plain))).toEqual(plain);
  const raw = (limit: unknown) => encodeMsgpack([7, "r", "o", 5, 1, limit]);
  expect(decodeCommand(raw(0))).toEqual({
    error: `tryLock: limit must be an integer from 1 to ${sharedLimitMax}, got 0`,
  });
  expect(decodeCommand(raw(sharedLimitMax + 1))).toHaveProperty("error");
  expect(decodeCommand(raw(1.5))).toHaveProperty("error");
  expect(decodeCommand(encodeMsgpack([7, "r", "o", 5, 1]))).toHaveProperty("error");
});

test("a snapshot with a malformed shared record is refused, naming the record", () => {
  const machine = new LockMachine();
  machine.apply({
    term: 1,
    index: 1,
    data: encodeCommand({
      kind: "tryLock",
      resource: "r",
      owner: "a",
      expiresMs: 100,
      nowMs: 0,
      limit: 2,
    }),
  });
  const good = decodeSnapshot(machine.snapshot());
  if ("error" in good) throw new Error(good.error);
  expect(encodeSnapshot(good)).toEqual(machine.snapshot());
  const holder = ["a", 0, 100, 2, null, 0];
  const bad = (record: unknown[]) =>
    decodeSnapshot(encodeMsgpack([2, 1, 1, 0, 0, 0, -1, 0, [record]]));
  const shared = (
    holders: unknown[],
    leaseEndMs = 100,
  ) => ["r", "", 0, leaseEndMs, null, 0, holders];
  expect(bad(shared([holder]))).not.toHaveProperty("error");
  expect(bad(shared([]))).toMatchObject({ error: expect.stringContaining("record 0: holders") });
  expect(bad(shared([holder], 99))).toHaveProperty("error");
  expect(bad(shared([holder, ["b", 0, 100, 2, null, 0]]))).toHaveProperty("error"); // token
  expect(bad(shared([["a", 0, 100, 0, null, 0]]))).toHaveProperty("error"); // limit 0
  expect(bad(["r", "x", 0, 100, null, 0, [holder]])).toHaveProperty("error"); // owner set
});

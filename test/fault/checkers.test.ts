/**
 * The checkers can fail: hand-made histories with a double grant, a token going back, a lost
 * write and a stale read are each reported, and a correct history with retries, unknown
 * outcomes and lease expiry passes.
 */
import { expect, test } from "bun:test";
import { type Durability, type LockOp, ResponseType } from "../../src/locks/types.ts";
import {
  checkDurableLocks,
  checkFencedWrites,
  checkLinearizability,
  checkMutualExclusion,
  checkTokens,
  expiryHandovers,
} from "./checkers.ts";
import type { OpRecord, Outcome } from "./history.ts";

let nextId = 0;
type Spec = {
  op: LockOp;
  owner?: string;
  expiresMs?: number;
  send: number;
  ack: number;
  outcome?: Outcome;
  type?: ResponseType;
  token?: number;
  gotOwner?: string;
  resource?: string;
  durability?: Durability;
  leaseFrom?: number;
  client?: string;
};

function op(s: Spec): OpRecord {
  return {
    id: nextId++,
    client: s.client ?? "c",
    op: s.op,
    resource: s.resource ?? "hot",
    durability: s.durability ?? 1,
    owner: s.owner ?? "",
    expiresMs: s.expiresMs ?? 0,
    sendMs: s.send,
    leaseFromMs: s.leaseFrom ?? s.send,
    ackMs: s.ack,
    outcome: s.outcome ?? "ok",
    type: s.type,
    fencingToken: s.token ?? 0,
    gotOwner: s.gotOwner,
    node: "1",
  };
}

const lock = (owner: string, send: number, ack: number, token: number, expiresMs = 1000) =>
  op({ op: "tryLock", owner, expiresMs, send, ack, type: ResponseType.Locked, token });
const unlock = (owner: string, send: number, ack: number, token: number) =>
  op({ op: "unlock", owner, send, ack, type: ResponseType.Unlocked, token });
const get = (send: number, ack: number, holder: string | undefined, token = 0) =>
  holder === undefined
    ? op({ op: "get", send, ack, type: ResponseType.LockDoesNotExist })
    : op({ op: "get", send, ack, type: ResponseType.Got, gotOwner: holder, token });

/** A correct history: grants, a busy, an extend, an unlock, an expiry, an unknown retry. */
function goodHistory(): OpRecord[] {
  return [
    lock("aaaa", 0, 10, 0),
    op({
      op: "tryLock",
      owner: "bbbb",
      expiresMs: 1000,
      send: 20,
      ack: 30,
      type: ResponseType.Busy,
    }),
    op({
      op: "extend",
      owner: "aaaa",
      expiresMs: 1000,
      send: 500,
      ack: 510,
      type: ResponseType.Extended,
      token: 0,
    }),
    get(600, 610, "aaaa", 0),
    unlock("aaaa", 700, 710, 0),
    get(720, 730, undefined),
    lock("bbbb", 800, 810, 1, 300),
    // bbbb's lease (300 ms from 800) ran out; cccc's first attempt timed out, its retry
    // with the same owner answered Locked with the grant the first attempt made.
    op({
      op: "tryLock",
      owner: "cccc",
      expiresMs: 1000,
      send: 1200,
      ack: 9999,
      outcome: "unknown",
    }),
    op({
      op: "tryLock",
      owner: "cccc",
      expiresMs: 1000,
      send: 1300,
      ack: 1310,
      leaseFrom: 1200,
      type: ResponseType.Locked,
      token: 2,
    }),
    get(1320, 1330, "cccc", 2),
  ];
}

test("a correct history with retries, unknown outcomes and expiry passes every checker", () => {
  const history = goodHistory();
  expect(checkMutualExclusion(history)).toEqual([]);
  expect(checkTokens(history)).toEqual([]);
  const lin = checkLinearizability(history);
  expect(lin.violations).toEqual([]);
  expect(lin.inconclusiveKeys).toEqual([]);
  expect(lin.keysChecked).toBe(1);
});

test("a double grant inside the first holder's lease is reported by mutual exclusion and linearizability", () => {
  const history = [lock("aaaa", 0, 10, 0, 1000), lock("bbbb", 400, 410, 1, 1000)];
  const mutex = checkMutualExclusion(history);
  expect(mutex).toHaveLength(1);
  expect(mutex[0]!.message).toContain("could rely on its lease");
  expect(checkLinearizability(history).violations).toHaveLength(1);
});

test("a grant just after the reliance end (send + 0.99 × lease) is not a violation", () => {
  const history = [lock("aaaa", 0, 10, 0, 1000), lock("bbbb", 980, 990, 1, 1000)];
  expect(checkMutualExclusion(history)).toEqual([]);
  expect(checkLinearizability(history).violations).toEqual([]);
  const early = [lock("aaaa", 0, 10, 0, 1000), lock("bbbb", 970, 989, 1, 1000)];
  expect(checkMutualExclusion(early)).toHaveLength(1);
});

test("a grant after an extend is checked against the extended lease", () => {
  const history = [
    lock("aaaa", 0, 10, 0, 1000),
    op({
      op: "extend",
      owner: "aaaa",
      expiresMs: 1000,
      send: 900,
      ack: 910,
      type: ResponseType.Extended,
      token: 0,
    }),
    lock("bbbb", 1200, 1210, 1, 1000),
  ];
  expect(checkMutualExclusion(history)).toHaveLength(1);
  expect(checkLinearizability(history).violations).toHaveLength(1);
});

test("a grant after a possible unlock is not a double grant", () => {
  const history = [
    lock("aaaa", 0, 10, 0, 1000),
    op({ op: "unlock", owner: "aaaa", send: 100, ack: 5000, outcome: "unknown" }),
    lock("bbbb", 200, 210, 1, 1000),
  ];
  expect(checkMutualExclusion(history)).toEqual([]);
  expect(checkLinearizability(history).violations).toEqual([]);
});

test("a token going back is reported by the token checker and linearizability", () => {
  const history = [
    lock("aaaa", 0, 10, 5, 100),
    lock("bbbb", 500, 510, 4, 100),
  ];
  const tokens = checkTokens(history);
  expect(tokens.map((v) => v.message)).toContain(
    "token went back: f4 granted after f5 was acknowledged",
  );
  expect(checkLinearizability(history).violations).toHaveLength(1);
});

test("one token given to two owners is reported", () => {
  const history = [lock("aaaa", 0, 10, 3, 100), lock("bbbb", 500, 510, 3, 100)];
  expect(checkTokens(history).some((v) => v.message.includes("granted to two owners"))).toBe(true);
});

test("a persistent token that skips a number fails linearizability; an ephemeral one may jump", () => {
  const persistent = [
    lock("aaaa", 0, 10, 0, 100),
    unlock("aaaa", 20, 30, 0),
    lock("bbbb", 40, 50, 2, 100),
  ];
  expect(checkLinearizability(persistent).violations).toHaveLength(1);
  const ephemeral = persistent.map((o) => ({ ...o, durability: 0 as const }));
  ephemeral[2] = { ...ephemeral[2]!, fencingToken: 2 ** 32 };
  expect(checkLinearizability(ephemeral).violations).toEqual([]);
});

test("a stale read is reported by the token checker and linearizability", () => {
  const history = [
    lock("aaaa", 0, 10, 0, 100),
    unlock("aaaa", 20, 30, 0),
    lock("bbbb", 40, 50, 1, 10_000),
    get(100, 110, "aaaa", 0),
  ];
  expect(checkTokens(history).some((v) => v.message.startsWith("stale read"))).toBe(true);
  expect(checkLinearizability(history).violations).toHaveLength(1);
});

test("a read that misses a held persistent lock is reported by linearizability", () => {
  const history = [lock("aaaa", 0, 10, 0, 10_000), get(100, 110, undefined)];
  expect(checkLinearizability(history).violations).toHaveLength(1);
  // The same read of an ephemeral lock may follow a leader change: allowed.
  const ephemeral = history.map((o) => ({ ...o, durability: 0 as const }));
  expect(checkLinearizability(ephemeral).violations).toEqual([]);
});

test("a stale extend after another owner's grant is reported", () => {
  const history = [
    lock("aaaa", 0, 10, 0, 100),
    lock("bbbb", 200, 210, 1, 1000),
    op({
      op: "extend",
      owner: "aaaa",
      expiresMs: 100,
      send: 300,
      ack: 310,
      type: ResponseType.Extended,
      token: 0,
    }),
  ];
  expect(checkTokens(history).some((v) => v.message.includes("answered Extended"))).toBe(true);
  expect(checkLinearizability(history).violations).toHaveLength(1);
});

test("a lost acknowledged persistent lock and an undone unlock are reported after the final restart", () => {
  const history = [
    lock("aaaa", 0, 10, 0, 3_600_000),
    op({ op: "get", send: 5000, ack: 5010, type: ResponseType.LockDoesNotExist, client: "final" }),
    op({
      op: "tryLock",
      resource: "r2",
      owner: "bbbb",
      expiresMs: 3_600_000,
      send: 0,
      ack: 10,
      type: ResponseType.Locked,
      token: 0,
    }),
    op({
      op: "unlock",
      resource: "r2",
      owner: "bbbb",
      send: 20,
      ack: 30,
      type: ResponseType.Unlocked,
      token: 0,
    }),
    op({
      op: "get",
      resource: "r2",
      send: 5000,
      ack: 5010,
      type: ResponseType.Got,
      gotOwner: "bbbb",
      client: "final",
    }),
    op({
      op: "tryLock",
      resource: "r3",
      owner: "cccc",
      expiresMs: 3_600_000,
      send: 0,
      ack: 10,
      type: ResponseType.Locked,
      token: 0,
    }),
    op({
      op: "get",
      resource: "r3",
      send: 5000,
      ack: 5010,
      type: ResponseType.Got,
      gotOwner: "cccc",
      client: "final",
    }),
  ];
  const durable = checkDurableLocks(history, "final");
  expect(durable.map((v) => v.key).sort()).toEqual(["1:hot", "1:r2"]);
  expect(checkLinearizability(history).violations.map((v) => v.key).sort()).toEqual([
    "1:hot",
    "1:r2",
  ]);
});

test("a fenced write refused while its writer could rely on the lease is reported", () => {
  const writes = [
    {
      key: "1:hot",
      owner: "aaaa",
      fencingToken: 1,
      atMs: 100,
      accepted: true,
      storedToken: 0,
      reliedUntilMs: 990,
    },
    {
      key: "1:hot",
      owner: "bbbb",
      fencingToken: 0,
      atMs: 200,
      accepted: false,
      storedToken: 1,
      reliedUntilMs: 500,
    },
    {
      key: "1:hot",
      owner: "cccc",
      fencingToken: 0,
      atMs: 600,
      accepted: false,
      storedToken: 1,
      reliedUntilMs: 500,
    },
  ];
  const violations = checkFencedWrites(writes);
  expect(violations).toHaveLength(1);
  expect(violations[0]!.message).toContain("bbbb");
});

test("the linearizability search gives up as inconclusive, not as a pass, past its step bound", () => {
  const many: OpRecord[] = [];
  for (let i = 0; i < 12; i++) {
    many.push(
      op({ op: "tryLock", owner: `o${i}`, expiresMs: 1, send: i, ack: 1e9, outcome: "unknown" }),
    );
  }
  many.push(get(100, 110, "zzzz", 0));
  const result = checkLinearizability(many, 500);
  expect(result.inconclusiveKeys).toEqual(["1:hot"]);
});

test("handovers after an unreleased lease report how close the next grant came to its end", () => {
  const history = [
    lock("aaaa", 0, 10, 0, 1000),
    lock("bbbb", 1000, 1010, 1, 1000),
    unlock("bbbb", 1100, 1110, 1),
    lock("cccc", 1200, 1210, 2, 1000),
  ];
  expect(expiryHandovers(history)).toEqual({ persistent: { count: 1, minMarginMs: 20 } });
});

test("a burst of unknown attempts before a grant is decided quickly: unknown may mean never ran", () => {
  const history: OpRecord[] = [lock("aaaa", 0, 10, 0, 100), unlock("aaaa", 20, 30, 0)];
  for (let i = 0; i < 40; i++) {
    const owner = `u${i % 8}`;
    history.push(
      op({
        op: "tryLock",
        owner,
        expiresMs: 300,
        send: 100 + i * 5,
        ack: 102 + i * 5,
        outcome: "unknown",
      }),
    );
  }
  history.push(lock("u3", 400, 410, 1, 300), get(420, 430, "u3", 1));
  const result = checkLinearizability(history, 100_000);
  expect(result.violations).toEqual([]);
  expect(result.inconclusiveKeys).toEqual([]);
  expect(result.steps).toBeLessThan(1_000);
});

test("a deposed ephemeral leader's 'no lock' answer is allowed; the same from a persistent lock is not", () => {
  const ephemeral = [
    op({
      op: "tryLock",
      owner: "aaaa",
      expiresMs: 1000,
      send: 0,
      ack: 10,
      type: ResponseType.Locked,
      token: 2 ** 32,
      durability: 0,
    }),
    op({
      op: "unlock",
      owner: "aaaa",
      send: 100,
      ack: 110,
      type: ResponseType.LockDoesNotExist,
      durability: 0,
    }),
    op({
      op: "tryLock",
      owner: "bbbb",
      expiresMs: 1000,
      send: 200,
      ack: 210,
      type: ResponseType.Busy,
      durability: 0,
    }),
  ];
  expect(checkLinearizability(ephemeral).violations).toEqual([]);
  const persistent = ephemeral.map((o) => ({
    ...o,
    durability: 1 as const,
    fencingToken: 0,
  }));
  expect(checkLinearizability(persistent).violations).toHaveLength(1);
});

test("a short lease read back after it ended is not a lost lock", () => {
  const history = [
    lock("aaaa", 0, 10, 0, 800),
    op({ op: "get", send: 5000, ack: 5010, type: ResponseType.LockDoesNotExist, client: "final" }),
  ];
  expect(checkDurableLocks(history, "final")).toEqual([]);
  expect(checkLinearizability(history).violations).toEqual([]);
});

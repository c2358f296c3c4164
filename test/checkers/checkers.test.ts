/**
 * The checkers can fail: hand-made histories, from the simulator's findings and from the
 * fault suite's, each judged as its comment says, under the lease model of the suite it came
 * from (simulated: true time, an upper bound while the leader stays; measured: no upper
 * bound). Double grants, tokens going back or given twice, a token that skips, stale and
 * missing reads, a lost lock are each reported; correct histories with retries, unknown
 * outcomes and expiry pass.
 */
import { expect, test } from "bun:test";
import {
  type Durability,
  Durability as D,
  type LockOp,
  ResponseType,
} from "../../src/locks/types.ts";
import { checkHistory, checkLockLinearizable } from "./check.ts";
import { checkDurableLocks, checkFencedWrites } from "./durability.ts";
import type { OpRecord, Outcome } from "./history.ts";
import {
  type KeyLease,
  type LeaseModel,
  measuredLease,
  simulatedUnknownWindowMs,
} from "./lease.ts";

let nextId = 0;

// ---- From the simulator (simulated lease) ----------------------------------------------------

const P = D.Persistent;
function op(fields: Partial<OpRecord> & Pick<OpRecord, "op" | "sendMs" | "ackMs">): OpRecord {
  return {
    id: nextId++,
    client: "c",
    resource: "r",
    durability: P,
    owner: "",
    expiresMs: 0,
    leaseFromMs: fields.sendMs,
    outcome: "ok",
    type: undefined,
    fencingToken: 0,
    gotOwner: undefined,
    node: "1",
    ...fields,
  };
}

const lock = (
  owner: string,
  sendMs: number,
  ackMs: number,
  expiresMs: number,
  token: number,
  type: ResponseType = ResponseType.Locked,
) => op({ op: "tryLock", owner, sendMs, ackMs, expiresMs, type, fencingToken: token });

const bounds: KeyLease = {
  driftBoundPpm: 10_000,
  slowestRatePpm: 10_000,
  leaderChangesMs: undefined,
  unknownWindowMs: simulatedUnknownWindowMs,
  sweepGraceMs: Number.POSITIVE_INFINITY,
};
const leaseOf = (lease: KeyLease): LeaseModel => ({ name: "simulated", forKey: () => lease });
const check = (ops: OpRecord[]) => checkHistory(ops, { lease: leaseOf(bounds) });
/** The simulator's linearizability verdict on one lock: "ok" or "violation" (or "inconclusive"). */
function checkLinearizable(ops: readonly OpRecord[], lease: KeyLease): string {
  const result = checkLockLinearizable("1:r", ops, lease);
  return result.violation !== undefined ? "violation" : result.inconclusive ? "inconclusive" : "ok";
}

test("a double grant inside the first lease is a lock-safety violation", () => {
  const report = check([lock("a", 0, 10, 1_000, 0), lock("b", 500, 510, 1_000, 1)]);
  expect(report.violations.map((v) => v.checker)).toContain("lock safety");
  expect(report.violations.map((v) => v.checker)).toContain("linearizability");
});

test("a grant after the first lease ran out (less the drift bound) is fine", () => {
  const report = check([lock("a", 0, 10, 1_000, 0), lock("b", 995, 1_005, 1_000, 1)]);
  expect(report.violations).toEqual([]);
});

test("a grant just inside the drift margin is a violation", () => {
  // a may rely on it until 0 + 1000 * 0.99 = 990 ms; b was told at 985.
  const report = check([lock("a", 0, 10, 1_000, 0), lock("b", 975, 985, 1_000, 1)]);
  expect(report.violations.map((v) => v.checker)).toContain("lock safety");
});

test("an unlock ends the holder's reliance when it is sent", () => {
  const unlock = op({
    op: "unlock",
    owner: "a",
    sendMs: 100,
    ackMs: 110,
    type: ResponseType.Unlocked,
    fencingToken: 0,
  });
  const report = check([lock("a", 0, 10, 1_000, 0), unlock, lock("b", 120, 130, 1_000, 1)]);
  expect(report.violations).toEqual([]);
});

test("an Extend keeps the lease: another grant during it is a violation", () => {
  const extend = op({
    op: "extend",
    owner: "a",
    sendMs: 900,
    ackMs: 910,
    expiresMs: 1_000,
    type: ResponseType.Extended,
    fencingToken: 0,
  });
  const report = check([lock("a", 0, 10, 1_000, 0), extend, lock("b", 1_500, 1_510, 1_000, 1)]);
  expect(report.violations.map((v) => v.checker)).toContain("lock safety");
});

test("a shorter Extend shortens what the holder relies on", () => {
  const extend = op({
    op: "extend",
    owner: "a",
    sendMs: 100,
    ackMs: 110,
    expiresMs: 100,
    type: ResponseType.Extended,
    fencingToken: 0,
  });
  const report = check([lock("a", 0, 10, 1_000, 0), extend, lock("b", 300, 310, 1_000, 1)]);
  expect(report.violations).toEqual([]);
});

test("fencing tokens that go back between grants in real-time order are a violation", () => {
  const report = check([lock("a", 0, 10, 100, 5), lock("b", 200, 210, 100, 4)]);
  expect(report.violations.map((v) => v.checker)).toContain("fencing tokens");
});

test("one token granted to two owners is a violation", () => {
  const E = D.Ephemeral;
  const different = check([lock("a", 0, 10, 100, 0), {
    ...lock("b", 200, 210, 100, 0),
    durability: E,
  }]);
  expect(different.violations).toEqual([]); // different durabilities are different locks
  const same = check([{ ...lock("a", 0, 10, 100, 3), durability: E }, {
    ...lock("b", 5, 12, 100, 3),
    durability: E,
  }]);
  expect(same.violations.map((v) => v.checker)).toContain("fencing tokens");
});

test("a Get that misses a held persistent lock is not linearizable", () => {
  const get = op({ op: "get", sendMs: 100, ackMs: 110, type: ResponseType.LockDoesNotExist });
  expect(checkLinearizable([lock("a", 0, 10, 1_000, 0), get], bounds)).toBe("violation");
});

test("a Get after the lease may have ended may say either", () => {
  const free = op({ op: "get", sendMs: 2_000, ackMs: 2_010, type: ResponseType.LockDoesNotExist });
  const held = op({
    op: "get",
    sendMs: 2_000,
    ackMs: 2_010,
    type: ResponseType.Got,
    gotOwner: "a",
    fencingToken: 0,
  });
  expect(checkLinearizable([lock("a", 0, 10, 1_000, 0), free], bounds)).toBe("ok");
  expect(checkLinearizable([lock("a", 0, 10, 1_000, 0), held], bounds)).toBe("ok");
});

test("an unknown outcome may have taken effect: a later Busy is then explained", () => {
  const unknown = {
    ...lock("a", 0, Number.POSITIVE_INFINITY, 1_000, 0),
    outcome: "unknown" as const,
    type: undefined,
  };
  const busy = lock("b", 100, 110, 1_000, 0, ResponseType.Busy);
  expect(checkLinearizable([unknown, busy], bounds)).toBe("ok");
  expect(checkLinearizable([busy], bounds)).toBe("violation");
});

test("a persistent token must continue from the last grant (first grant 0, then +1)", () => {
  const a = lock("a", 0, 10, 100, 0);
  const unlock = op({
    op: "unlock",
    owner: "a",
    sendMs: 20,
    ackMs: 30,
    type: ResponseType.Unlocked,
    fencingToken: 0,
  });
  expect(checkLinearizable([a, unlock, lock("b", 40, 50, 100, 1)], bounds)).toBe("ok");
  expect(checkLinearizable([a, unlock, lock("b", 40, 50, 100, 2)], bounds)).toBe("violation");
});

test("a probe's acknowledged lock that a later Get does not read is a durability violation", () => {
  const probeLock = lock("p", 0, 10, 600_000, 7);
  const get = op({ op: "get", sendMs: 20, ackMs: 30, type: ResponseType.LockDoesNotExist });
  const report = checkHistory([probeLock, get], {
    lease: leaseOf(bounds),
    readBacks: [{ lock: probeLock, get }],
  });
  expect(report.violations.map((v) => v.checker)).toContain("durability");
});

test("with the same leader throughout, a lease must have ended by its upper bound", () => {
  const stable = { ...bounds, leaderChangesMs: [] as number[] };
  // 1000 ms on a clock 1% slow lasts at most 1010.1 ms after the answer at 10 ms.
  const held = op({
    op: "get",
    sendMs: 1_100,
    ackMs: 1_110,
    type: ResponseType.Got,
    gotOwner: "a",
    fencingToken: 0,
  });
  expect(checkLinearizable([lock("a", 0, 10, 1_000, 0), held], stable)).toBe("violation");
  expect(checkLinearizable([lock("a", 0, 10, 1_000, 0), held], bounds)).toBe("ok");
  const failover = { ...bounds, leaderChangesMs: [500] };
  expect(checkLinearizable([lock("a", 0, 10, 1_000, 0), held], failover)).toBe("ok");
  const busy = lock("b", 1_100, 1_110, 1_000, 0, ResponseType.Busy);
  expect(checkLinearizable([lock("a", 0, 10, 1_000, 0), busy], stable)).toBe("violation");
});

test("a Get that names an owner never granted, or one that had unlocked, is a phantom holder", () => {
  const got = (owner: string, sendMs: number) =>
    op({
      op: "get",
      sendMs,
      ackMs: sendMs + 5,
      type: ResponseType.Got,
      gotOwner: owner,
      fencingToken: 0,
    });
  const unlock = op({
    op: "unlock",
    owner: "a",
    sendMs: 100,
    ackMs: 110,
    type: ResponseType.Unlocked,
  });
  const E = D.Ephemeral;
  const ephemeral = (o: OpRecord) => ({ ...o, durability: E });
  const lockA = lock("a", 0, 10, 1_000, 0);
  expect(check([lockA, got("a", 50)].map(ephemeral)).violations).toEqual([]);
  expect(check([lockA, got("b", 50)].map(ephemeral)).violations.map((v) => v.checker))
    .toContain("phantom holder");
  expect(check([lockA, unlock, got("a", 200)].map(ephemeral)).violations.map((v) => v.checker))
    .toContain("phantom holder");
});

test("an unknown grant may have taken effect early even if nothing answered until its window closed", () => {
  const unknown = {
    ...lock("a", 0, Number.POSITIVE_INFINITY, 300, 0),
    outcome: "unknown" as const,
    type: undefined,
  };
  // Leader changes keep the lease alive (no upper bound); 12 s later someone is still Busy.
  const busy = lock("b", 12_000, 12_010, 1_000, 0, ResponseType.Busy);
  expect(checkLinearizable([unknown, busy], { ...bounds, leaderChangesMs: [5_000] })).toBe(
    "ok",
  );
  // Without the unknown grant nothing explains the Busy.
  expect(checkLinearizable([busy], { ...bounds, leaderChangesMs: [5_000] })).toBe("violation");
});

test("one request retried after unknown answers may take effect three times (seed 2565)", () => {
  // A 217 ms TryLock sent three times through a follower that could not reach the leader; each
  // attempt ran, the lease running out in between: tokens 0, 1 and 2 for the same owner.
  const attempt = (sendMs: number) => ({
    ...lock("a", sendMs, Number.POSITIVE_INFINITY, 217, 0),
    leaseFromMs: 0,
    outcome: "unknown" as const,
    type: undefined,
  });
  const get = op({
    op: "get",
    sendMs: 8_000,
    ackMs: 8_010,
    type: ResponseType.Got,
    gotOwner: "a",
    fencingToken: 2,
  });
  const failover = { ...bounds, leaderChangesMs: [1_000, 3_000] };
  expect(checkLinearizable([attempt(0), attempt(300), attempt(900), get], failover)).toBe(
    "ok",
  );
  expect(checkLinearizable([attempt(0), attempt(300), get], failover)).toBe("violation");
});

// ---- From the fault suite (measured lease) ---------------------------------------------------

const measured = (history: readonly OpRecord[], stepsMax = 2_000_000) =>
  checkHistory(history, { lease: measuredLease, stepsMax });
const named = (history: readonly OpRecord[], checker: string) =>
  checkHistory(history, { lease: measuredLease, skipLinearizability: true }).violations
    .filter((v) => v.checker === checker);
const checkMutualExclusion = (history: readonly OpRecord[]) => named(history, "lock safety");
const checkTokens = (history: readonly OpRecord[]) => named(history, "fencing tokens");
function checkLinearizability(history: readonly OpRecord[], stepsMax?: number) {
  const report = measured(history, stepsMax);
  return {
    ...report,
    violations: report.violations.filter((v) => v.checker === "linearizability"),
    keysChecked: report.keys,
  };
}
const expiryHandovers = (history: readonly OpRecord[]) => measured(history).handovers;

type Spec = {
  op: Exclude<LockOp, "watch">;
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

function spec(s: Spec): OpRecord {
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

const flock = (owner: string, send: number, ack: number, token: number, expiresMs = 1000) =>
  spec({ op: "tryLock", owner, expiresMs, send, ack, type: ResponseType.Locked, token });
const funlock = (owner: string, send: number, ack: number, token: number) =>
  spec({ op: "unlock", owner, send, ack, type: ResponseType.Unlocked, token });
const fget = (send: number, ack: number, holder: string | undefined, token = 0) =>
  holder === undefined
    ? spec({ op: "get", send, ack, type: ResponseType.LockDoesNotExist })
    : spec({ op: "get", send, ack, type: ResponseType.Got, gotOwner: holder, token });

/** A correct history: grants, a busy, an extend, an unlock, an expiry, an unknown retry. */
function goodHistory(): OpRecord[] {
  return [
    flock("aaaa", 0, 10, 0),
    spec({
      op: "tryLock",
      owner: "bbbb",
      expiresMs: 1000,
      send: 20,
      ack: 30,
      type: ResponseType.Busy,
    }),
    spec({
      op: "extend",
      owner: "aaaa",
      expiresMs: 1000,
      send: 500,
      ack: 510,
      type: ResponseType.Extended,
      token: 0,
    }),
    fget(600, 610, "aaaa", 0),
    funlock("aaaa", 700, 710, 0),
    fget(720, 730, undefined),
    flock("bbbb", 800, 810, 1, 300),
    // bbbb's lease (300 ms from 800) ran out; cccc's first attempt timed out, its retry
    // with the same owner answered Locked with the grant the first attempt made.
    spec({
      op: "tryLock",
      owner: "cccc",
      expiresMs: 1000,
      send: 1200,
      ack: 9999,
      outcome: "unknown",
    }),
    spec({
      op: "tryLock",
      owner: "cccc",
      expiresMs: 1000,
      send: 1300,
      ack: 1310,
      leaseFrom: 1200,
      type: ResponseType.Locked,
      token: 2,
    }),
    fget(1320, 1330, "cccc", 2),
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
  const history = [flock("aaaa", 0, 10, 0, 1000), flock("bbbb", 400, 410, 1, 1000)];
  const mutex = checkMutualExclusion(history);
  expect(mutex).toHaveLength(1);
  expect(mutex[0]!.message).toContain("could rely on its lease");
  expect(checkLinearizability(history).violations).toHaveLength(1);
});

test("a grant just after the reliance end (send + 0.99 × lease) is not a violation", () => {
  const history = [flock("aaaa", 0, 10, 0, 1000), flock("bbbb", 980, 990, 1, 1000)];
  expect(checkMutualExclusion(history)).toEqual([]);
  expect(checkLinearizability(history).violations).toEqual([]);
  const early = [flock("aaaa", 0, 10, 0, 1000), flock("bbbb", 970, 989, 1, 1000)];
  expect(checkMutualExclusion(early)).toHaveLength(1);
});

test("a grant after an extend is checked against the extended lease", () => {
  const history = [
    flock("aaaa", 0, 10, 0, 1000),
    spec({
      op: "extend",
      owner: "aaaa",
      expiresMs: 1000,
      send: 900,
      ack: 910,
      type: ResponseType.Extended,
      token: 0,
    }),
    flock("bbbb", 1200, 1210, 1, 1000),
  ];
  expect(checkMutualExclusion(history)).toHaveLength(1);
  expect(checkLinearizability(history).violations).toHaveLength(1);
});

test("a grant after a possible unlock is not a double grant", () => {
  const history = [
    flock("aaaa", 0, 10, 0, 1000),
    spec({ op: "unlock", owner: "aaaa", send: 100, ack: 5000, outcome: "unknown" }),
    flock("bbbb", 200, 210, 1, 1000),
  ];
  expect(checkMutualExclusion(history)).toEqual([]);
  expect(checkLinearizability(history).violations).toEqual([]);
});

test("a token going back is reported by the token checker and linearizability", () => {
  const history = [
    flock("aaaa", 0, 10, 5, 100),
    flock("bbbb", 500, 510, 4, 100),
  ];
  const tokens = checkTokens(history);
  expect(tokens.map((v) => v.message)).toContain(
    "token went back: f4 granted after f5 was acknowledged",
  );
  expect(checkLinearizability(history).violations).toHaveLength(1);
});

test("one token given to two owners is reported", () => {
  const history = [flock("aaaa", 0, 10, 3, 100), flock("bbbb", 500, 510, 3, 100)];
  expect(checkTokens(history).some((v) => v.message.includes("granted to two owners"))).toBe(true);
});

test("a persistent token that skips a number fails linearizability; an ephemeral one may jump", () => {
  const persistent = [
    flock("aaaa", 0, 10, 0, 100),
    funlock("aaaa", 20, 30, 0),
    flock("bbbb", 40, 50, 2, 100),
  ];
  expect(checkLinearizability(persistent).violations).toHaveLength(1);
  const ephemeral = persistent.map((o) => ({ ...o, durability: 0 as const }));
  ephemeral[2] = { ...ephemeral[2]!, fencingToken: 2 ** 32 };
  expect(checkLinearizability(ephemeral).violations).toEqual([]);
});

test("a persistent token may jump only once the record may have been swept", () => {
  const sweeping = (graceMs: number) => (history: readonly OpRecord[]) =>
    checkLockLinearizable("1:r", history, { ...bounds, sweepGraceMs: graceMs }).violation;
  const history = [
    flock("aaaa", 0, 10, 0, 100),
    funlock("aaaa", 20, 30, 0), // free from 20 at the earliest
    flock("bbbb", 1_040, 1_050, 7, 100),
  ];
  expect(sweeping(1_000)(history)).toBeUndefined(); // answered 1050 >= 20 + 990
  expect(sweeping(1_100)(history)).toBeDefined(); // not yet free long enough: must be 1
  // Going back stays wrong whatever the grace.
  history[2] = { ...history[2]!, fencingToken: 0 };
  expect(sweeping(0)(history)).toBeDefined();
  // A lock's first grant is 0 until the run is older than the grace: the floor may rise then.
  const first = [flock("aaaa", 2_000, 2_010, 5, 100)];
  expect(sweeping(1_000)(first)).toBeUndefined();
  expect(sweeping(3_000)(first)).toBeDefined();
});

test("a stale read is reported by the token checker and linearizability", () => {
  const history = [
    flock("aaaa", 0, 10, 0, 100),
    funlock("aaaa", 20, 30, 0),
    flock("bbbb", 40, 50, 1, 10_000),
    fget(100, 110, "aaaa", 0),
  ];
  expect(checkTokens(history).some((v) => v.message.startsWith("stale read"))).toBe(true);
  expect(checkLinearizability(history).violations).toHaveLength(1);
});

test("a read that misses a held persistent lock is reported by linearizability", () => {
  const history = [flock("aaaa", 0, 10, 0, 10_000), fget(100, 110, undefined)];
  expect(checkLinearizability(history).violations).toHaveLength(1);
  // The same read of an ephemeral lock may follow a leader change: allowed.
  const ephemeral = history.map((o) => ({ ...o, durability: 0 as const }));
  expect(checkLinearizability(ephemeral).violations).toEqual([]);
});

test("a stale extend after another owner's grant is reported", () => {
  const history = [
    flock("aaaa", 0, 10, 0, 100),
    flock("bbbb", 200, 210, 1, 1000),
    spec({
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
    flock("aaaa", 0, 10, 0, 3_600_000),
    spec({
      op: "get",
      send: 5000,
      ack: 5010,
      type: ResponseType.LockDoesNotExist,
      client: "final",
    }),
    spec({
      op: "tryLock",
      resource: "r2",
      owner: "bbbb",
      expiresMs: 3_600_000,
      send: 0,
      ack: 10,
      type: ResponseType.Locked,
      token: 0,
    }),
    spec({
      op: "unlock",
      resource: "r2",
      owner: "bbbb",
      send: 20,
      ack: 30,
      type: ResponseType.Unlocked,
      token: 0,
    }),
    spec({
      op: "get",
      resource: "r2",
      send: 5000,
      ack: 5010,
      type: ResponseType.Got,
      gotOwner: "bbbb",
      client: "final",
    }),
    spec({
      op: "tryLock",
      resource: "r3",
      owner: "cccc",
      expiresMs: 3_600_000,
      send: 0,
      ack: 10,
      type: ResponseType.Locked,
      token: 0,
    }),
    spec({
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
      spec({ op: "tryLock", owner: `o${i}`, expiresMs: 1, send: i, ack: 1e9, outcome: "unknown" }),
    );
  }
  many.push(fget(100, 110, "zzzz", 0));
  const result = checkLinearizability(many, 500);
  expect(result.inconclusiveKeys).toEqual(["1:hot"]);
});

test("handovers after an unreleased lease report how close the next grant came to its end", () => {
  const history = [
    flock("aaaa", 0, 10, 0, 1000),
    flock("bbbb", 1000, 1010, 1, 1000),
    funlock("bbbb", 1100, 1110, 1),
    flock("cccc", 1200, 1210, 2, 1000),
  ];
  expect(expiryHandovers(history)).toEqual({ persistent: { count: 1, minMarginMs: 20 } });
});

test("a burst of unknown attempts before a grant is decided quickly: unknown may mean never ran", () => {
  const history: OpRecord[] = [flock("aaaa", 0, 10, 0, 100), funlock("aaaa", 20, 30, 0)];
  for (let i = 0; i < 40; i++) {
    const owner = `u${i % 8}`;
    history.push(
      spec({
        op: "tryLock",
        owner,
        expiresMs: 300,
        send: 100 + i * 5,
        ack: 102 + i * 5,
        outcome: "unknown",
      }),
    );
  }
  history.push(flock("u3", 400, 410, 1, 300), fget(420, 430, "u3", 1));
  const result = checkLinearizability(history, 100_000);
  expect(result.violations).toEqual([]);
  expect(result.inconclusiveKeys).toEqual([]);
  expect(result.steps).toBeLessThan(1_000);
});

test("a deposed ephemeral leader's 'no lock' answer is allowed; the same from a persistent lock is not", () => {
  const ephemeral = [
    spec({
      op: "tryLock",
      owner: "aaaa",
      expiresMs: 1000,
      send: 0,
      ack: 10,
      type: ResponseType.Locked,
      token: 2 ** 32,
      durability: 0,
    }),
    spec({
      op: "unlock",
      owner: "aaaa",
      send: 100,
      ack: 110,
      type: ResponseType.LockDoesNotExist,
      durability: 0,
    }),
    spec({
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
    flock("aaaa", 0, 10, 0, 800),
    spec({
      op: "get",
      send: 5000,
      ack: 5010,
      type: ResponseType.LockDoesNotExist,
      client: "final",
    }),
  ];
  expect(checkDurableLocks(history, "final")).toEqual([]);
  expect(checkLinearizability(history).violations).toEqual([]);
});

// ---- Owners that repeat a request (simulated lease) -----------------------------------------

test("an owner that repeats its requests: idempotent TryLock, a second Unlock, a new grant", () => {
  const unlockA = (sendMs: number, type: ResponseType, token = 0) =>
    op({ op: "unlock", owner: "a", sendMs, ackMs: sendMs + 10, type, fencingToken: token });
  const gotA = (sendMs: number, token: number) =>
    op({
      op: "get",
      sendMs,
      ackMs: sendMs + 5,
      type: ResponseType.Got,
      gotOwner: "a",
      fencingToken: token,
    });
  const history = [
    lock("a", 0, 10, 1_000, 0),
    lock("a", 100, 110, 1_000, 0), // the repeat while held: the same grant
    unlockA(200, ResponseType.Unlocked),
    unlockA(300, ResponseType.LockDoesNotExist), // the repeat finds no lock
    lock("a", 400, 410, 1_000, 1), // the TryLock repeated after the unlock: a new grant
    gotA(500, 1),
  ];
  expect(check(history).violations).toEqual([]);
  // A repeat answered with a new token while the first lease still runs is a second grant.
  const regrant = [lock("a", 0, 10, 1_000, 0), lock("a", 100, 110, 1_000, 1)];
  expect(check(regrant).violations.map((v) => v.checker)).toContain("linearizability");
  // The unlocked grant read back as held is still a phantom holder.
  const stale = [lock("a", 0, 10, 1_000, 0), unlockA(200, ResponseType.Unlocked), gotA(300, 0)]
    .map((o) => ({ ...o, durability: D.Ephemeral }));
  expect(check(stale).violations.map((v) => v.checker)).toContain("phantom holder");
});

// ---- Shared locks (docs/spec.md §2.8) ---------------------------------------------------------

const shared = (owner: string, sendMs: number, ackMs: number, token: number, limit: number) =>
  op({
    op: "tryLock",
    owner,
    sendMs,
    ackMs,
    expiresMs: 1_000,
    type: ResponseType.Locked,
    fencingToken: token,
    limit,
  });

test("shared holders up to the limit pass; one more is a lock-safety violation", () => {
  const two = [shared("a", 0, 10, 0, 2), shared("b", 100, 110, 1, 2)];
  expect(check(two).violations).toEqual([]);
  const three = [...two, shared("c", 200, 210, 2, 2)];
  const report = check(three);
  expect(report.violations.map((v) => v.checker)).toContain("lock safety");
  expect(report.violations.some((v) => v.message.includes("more than the limit 2"))).toBe(true);
  // The smallest limit among the holders applies: a limit of 5 beside a holder of 2 is not room.
  const mixed = [...two, shared("c", 200, 210, 2, 5)];
  expect(check(mixed).violations.map((v) => v.checker)).toContain("lock safety");
});

test("an exclusive grant beside a shared one is a violation, either way round", () => {
  const writerAfter = [shared("a", 0, 10, 0, 5), lock("w", 100, 110, 1_000, 1)];
  expect(check(writerAfter).violations.map((v) => v.checker)).toContain("lock safety");
  const readerAfter = [lock("w", 0, 10, 1_000, 0), shared("a", 100, 110, 1, 5)];
  expect(check(readerAfter).violations.map((v) => v.checker)).toContain("lock safety");
  // After the writer's lease (less the drift bound), readers are fine.
  const later = [lock("w", 0, 10, 1_000, 0), shared("a", 995, 1_005, 1, 5)];
  expect(check(later).violations).toEqual([]);
});

test("a shared holder's retry answered with its old token after newer grants is fine", () => {
  const ops = [
    op({ op: "tryLock", owner: "a", sendMs: 0, ackMs: Infinity, outcome: "unknown", limit: 2 }),
    shared("b", 100, 110, 1, 2),
    shared("a", 300, 310, 0, 2),
    op({
      op: "extend",
      owner: "a",
      sendMs: 400,
      ackMs: 410,
      expiresMs: 1_000,
      type: ResponseType.Extended,
      fencingToken: 0,
    }),
  ];
  expect(check(ops).violations).toEqual([]);
  // The same answer for a fresh attempt (nothing of a's sent before b's grant) went back.
  const fresh = [shared("b", 100, 110, 1, 2), shared("a", 300, 310, 0, 2)];
  expect(check(fresh).violations.map((v) => v.checker)).toContain("fencing tokens");
});

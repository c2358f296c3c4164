/**
 * The checkers can fail. Each broken rule below must make the simulator report a violation
 * within a stated number of seeds; hand-made histories must be judged as their comments say.
 */
import { expect, test } from "bun:test";
import { Durability, ResponseType } from "../../src/locks/types.ts";
import { checkHistory } from "./checkers/history-checks.ts";
import { checkLinearizable } from "./checkers/linearizable.ts";
import type { OpRecord } from "./history.ts";
import { brokenModes, brokenPatches } from "./run.ts";
import { simulate } from "./simulator.ts";

/** The first seed in [1, seeds] where the broken rule is caught, and by which checkers. */
function firstCaught(
  mode: string,
  seeds: number,
): { seed: number; checkers: string[] } | undefined {
  for (let seed = 1; seed <= seeds; seed++) {
    const result = simulate(seed, brokenModes[mode] ?? {});
    if (result.violations.length > 0) {
      return {
        seed,
        checkers: [...new Set(result.violations.map((v) => v.checker))],
      };
    }
  }
  return undefined;
}

test("a disk that acknowledges fsyncs it then loses on crash is caught within 20 seeds", () => {
  expect(firstCaught("lying-disk", 20)).toBeDefined();
}, 60_000);

test("a network that delivers Raft messages to the wrong group is caught within 20 seeds", () => {
  expect(firstCaught("misdeliver", 20)).toBeDefined();
}, 60_000);

test("a network that corrupts the term of replicated entries is caught within 30 seeds", () => {
  const caught = firstCaught("corrupt-term", 30);
  expect(caught).toBeDefined();
}, 60_000);

test("clocks drifting 60 times past the bound break lock safety within 20 seeds", () => {
  const caught = firstCaught("wild-clocks", 20);
  expect(caught).toBeDefined();
  expect(caught!.checkers.some((c) => c === "lock safety" || c === "linearizability")).toBe(true);
}, 60_000);

test(
  "a Raft that grants votes to candidates with stale logs (§5.4.1) is caught within 40 seeds",
  () => {
    const undo = brokenPatches["vote-without-log-check"]!();
    try {
      expect(firstCaught("none", 40)).toBeDefined();
    } finally {
      undo();
    }
  },
  120_000,
);

test(
  "a new leader that grants ephemeral locks without waiting out the old horizon is caught within 60 seeds",
  () => {
    const undo = brokenPatches["ephemeral-no-wait"]!();
    try {
      const caught = firstCaught("none", 60);
      expect(caught?.checkers).toContain("lock safety");
    } finally {
      undo();
    }
  },
  120_000,
);

// ---- Hand-made histories --------------------------------------------------------------------

const P = Durability.Persistent;
let nextId = 0;

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
    error: undefined,
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

const bounds = { driftBoundPpm: 10_000, slowestRatePpm: 10_000, leaderChangesMs: undefined };
const check = (ops: OpRecord[]) => checkHistory(ops, { driftBoundPpm: 10_000, probes: [] });

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
  const E = Durability.Ephemeral;
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
  expect(checkLinearizable([lock("a", 0, 10, 1_000, 0), get], bounds).kind).toBe("violation");
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
  expect(checkLinearizable([lock("a", 0, 10, 1_000, 0), free], bounds).kind).toBe("ok");
  expect(checkLinearizable([lock("a", 0, 10, 1_000, 0), held], bounds).kind).toBe("ok");
});

test("an unknown outcome may have taken effect: a later Busy is then explained", () => {
  const unknown = {
    ...lock("a", 0, Number.POSITIVE_INFINITY, 1_000, 0),
    outcome: "unknown" as const,
    type: undefined,
  };
  const busy = lock("b", 100, 110, 1_000, 0, ResponseType.Busy);
  expect(checkLinearizable([unknown, busy], bounds).kind).toBe("ok");
  expect(checkLinearizable([busy], bounds).kind).toBe("violation");
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
  expect(checkLinearizable([a, unlock, lock("b", 40, 50, 100, 1)], bounds).kind).toBe("ok");
  expect(checkLinearizable([a, unlock, lock("b", 40, 50, 100, 2)], bounds).kind).toBe("violation");
});

test("a probe's acknowledged lock that a later Get does not read is a durability violation", () => {
  const probeLock = lock("p", 0, 10, 600_000, 7);
  const get = op({ op: "get", sendMs: 20, ackMs: 30, type: ResponseType.LockDoesNotExist });
  const report = checkHistory([probeLock, get], {
    driftBoundPpm: 10_000,
    probes: [{ lock: probeLock, get }],
  });
  expect(report.violations.map((v) => v.checker)).toContain("durability");
});

test("with the same leader throughout, a lease must have ended by its upper bound", () => {
  const stable = { ...bounds, leaderChangesMs: [] };
  // 1000 ms on a clock 1% slow lasts at most 1010.1 ms after the answer at 10 ms.
  const held = op({
    op: "get",
    sendMs: 1_100,
    ackMs: 1_110,
    type: ResponseType.Got,
    gotOwner: "a",
    fencingToken: 0,
  });
  expect(checkLinearizable([lock("a", 0, 10, 1_000, 0), held], stable).kind).toBe("violation");
  expect(checkLinearizable([lock("a", 0, 10, 1_000, 0), held], bounds).kind).toBe("ok");
  const failover = { ...bounds, leaderChangesMs: [500] };
  expect(checkLinearizable([lock("a", 0, 10, 1_000, 0), held], failover).kind).toBe("ok");
  const busy = lock("b", 1_100, 1_110, 1_000, 0, ResponseType.Busy);
  expect(checkLinearizable([lock("a", 0, 10, 1_000, 0), busy], stable).kind).toBe("violation");
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
  const E = Durability.Ephemeral;
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
  expect(checkLinearizable([unknown, busy], { ...bounds, leaderChangesMs: [5_000] }).kind).toBe(
    "ok",
  );
  // Without the unknown grant nothing explains the Busy.
  expect(checkLinearizable([busy], { ...bounds, leaderChangesMs: [5_000] }).kind).toBe("violation");
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
  expect(checkLinearizable([attempt(0), attempt(300), attempt(900), get], failover).kind).toBe(
    "ok",
  );
  expect(checkLinearizable([attempt(0), attempt(300), get], failover).kind).toBe("violation");
});

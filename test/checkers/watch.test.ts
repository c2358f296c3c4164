/**
 * The watch checker (watch.ts) on small scripted histories: it passes what a correct server
 * shows, and names each kind of wrong watch: out of order, an acquisition over a running
 * grant, an owner that never asked, an expiry before an Extend's lease could end, a grant
 * never seen.
 */
import { expect, test } from "bun:test";
import type { WatchEvent } from "../../src/locks/types.ts";
import type { OpRecord } from "./history.ts";
import { checkWatches, type SeenChange, type WatchLog } from "./watch.ts";

let nextId = 0;

function op(o: Partial<OpRecord> & Pick<OpRecord, "op" | "owner">): OpRecord {
  return {
    id: nextId++,
    client: "c",
    resource: "r",
    durability: 1,
    expiresMs: 0,
    sendMs: 0,
    leaseFromMs: 0,
    ackMs: 1,
    outcome: "ok",
    type: undefined,
    fencingToken: 0,
    gotOwner: undefined,
    node: "1",
    ...o,
  };
}

function event(kind: WatchEvent["kind"], owner: string, token: number, atMs: number): SeenChange {
  const phase = kind === "acquired" || (kind === "state" && owner !== "") ? 1 : 2;
  return {
    event: { kind, owner, fencingToken: token, cursor: `${token}.${phase}` },
    missed: false,
    atMs,
  };
}

function log(seen: SeenChange[]): WatchLog {
  return { watcher: "w", resource: "r", durability: 1, seen };
}

const history = [
  op({
    op: "tryLock",
    owner: "A",
    expiresMs: 1_000,
    sendMs: 10,
    ackMs: 12,
    type: 0,
    fencingToken: 1,
  }),
  op({ op: "unlock", owner: "A", sendMs: 20, ackMs: 22, type: 3, fencingToken: 1 }),
  op({
    op: "tryLock",
    owner: "B",
    expiresMs: 100,
    sendMs: 30,
    ackMs: 32,
    type: 0,
    fencingToken: 2,
  }),
  op({ op: "extend", owner: "B", expiresMs: 500, sendMs: 40, ackMs: 42, type: 2, fencingToken: 2 }),
];
const good = [
  event("state", "", 0, 5),
  event("acquired", "A", 1, 13),
  event("released", "A", 1, 23),
  event("acquired", "B", 2, 33),
  event("expired", "B", 2, 600),
];

const messages = (seen: SeenChange[]) => checkWatches([log(seen)], history).map((v) => v.message);

test("what a correct server shows passes", () => {
  expect(messages(good)).toEqual([]);
});

test("each kind of wrong watch is named", () => {
  expect(messages([good[0]!, good[1]!, good[3]!])[0]).toContain("while grant f1 had not ended");
  expect(messages([good[0]!, good[2]!, good[1]!]).join()).toContain("does not come after");
  expect(messages([good[0]!, event("acquired", "Z", 1, 13)])[0]).toContain("never asked");
  expect(messages([...good.slice(0, 4), event("expired", "B", 2, 300)])[0])
    .toContain("and then the lease was extended");
  expect(messages([good[0]!, good[1]!, good[2]!, event("acquired", "C", 3, 40)]).join())
    .toContain("grant f2 is within cursors");
});

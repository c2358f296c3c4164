import { expect, test } from "bun:test";
import { MemoryLogStore } from "../adapters/memory/memory-log-store.ts";
import { Durability, type LockRequest, type LockResponse, ResponseType } from "../locks/types.ts";
import { NodeHost } from "./node-host.ts";

class ManualClock {
  ms = 1_000;
  nowMs = () => this.ms;
  wallMs = () => 1_700_000_000_000 + this.ms;
}

function seeded(seed: number) {
  let state = seed >>> 0;
  return {
    int(maxExclusive: number) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state % maxExclusive;
    },
  };
}

function singleNode(store = new MemoryLogStore(), clock = new ManualClock(), groups = 4) {
  const host = new NodeHost({
    nodeId: "1",
    voters: ["1"],
    groups,
    logStore: store,
    transport: { send: () => {} },
    clock,
    random: seeded(7),
  });
  host.flush();
  return { host, store, clock };
}

/** Submits and flushes until answered; a host that never answers fails the test. */
function run(host: NodeHost, request: LockRequest): LockResponse {
  let answer: LockResponse | undefined;
  host.submit(request, (response) => (answer = response));
  for (let i = 0; i < 10 && answer === undefined; i++) host.flush();
  expect(answer).toBeDefined();
  return answer!;
}

const P = Durability.Persistent;
const E = Durability.Ephemeral;
const lock = (owner: string, expiresMs: number, durability: 0 | 1 = P): LockRequest => ({
  op: "tryLock",
  resource: "locks/tasks/123",
  owner,
  expiresMs,
  durability,
});
const get = (durability: 0 | 1 = P): LockRequest => ({
  op: "get",
  resource: "locks/tasks/123",
  durability,
});

test("a single node leads every group and answers a persistent lock after commit", () => {
  const { host, store } = singleNode();
  expect(host.health()).toEqual({ ok: true });
  const before = store.saves;
  expect(run(host, lock("a", 10_000))).toEqual({ type: ResponseType.Locked, fencingToken: 0 });
  expect(store.saves).toBeGreaterThan(before);
  expect(run(host, lock("b", 10_000)).type).toBe(ResponseType.Busy);
  const info = run(host, get());
  expect(info).toMatchObject({
    type: ResponseType.Got,
    owner: "a",
    fencingToken: 0,
    expiresMs: 10_000,
  });
});

test("many requests in one burst share one storage write (group commit)", () => {
  const { host, store } = singleNode();
  const answers: LockResponse[] = [];
  for (let i = 0; i < 50; i++) {
    host.submit(
      { op: "tryLock", resource: `r${i}`, owner: "o", expiresMs: 1000, durability: P },
      (r) => answers.push(r),
    );
  }
  const before = store.saves;
  host.flush();
  expect(answers.length).toBe(50);
  expect(answers.every((a) => a.type === ResponseType.Locked)).toBe(true);
  expect(store.saves - before).toBe(1);
});

test("ephemeral locks are served from memory after the horizon is published", () => {
  const { host, clock } = singleNode();
  expect(run(host, lock("a", 5_000, E))).toEqual({ type: ResponseType.Locked, fencingToken: 0 });
  expect(run(host, lock("b", 5_000, E)).type).toBe(ResponseType.Busy);
  clock.ms += 5_000;
  expect(run(host, lock("b", 5_000, E))).toEqual({ type: ResponseType.Locked, fencingToken: 1 });
  expect(run(host, get(E))).toMatchObject({ type: ResponseType.Got, owner: "b", fencingToken: 1 });
});

test("a restart keeps persistent locks with their lease and waits out ephemeral ones", () => {
  const store = new MemoryLogStore();
  const first = singleNode(store);
  run(first.host, lock("a", 60_000));
  run(first.host, lock("e", 3_000, E));
  first.clock.ms += 1_000;

  // A new process: its monotonic clock starts over.
  const clock = new ManualClock();
  clock.ms = 5;
  const { host } = singleNode(store, clock);
  const info = run(host, get());
  expect(info).toMatchObject({ type: ResponseType.Got, owner: "a", fencingToken: 0 });
  expect(info.expiresMs!).toBeGreaterThanOrEqual(59_000);
  expect(run(host, lock("b", 1_000)).type).toBe(ResponseType.Busy);
  // The old leader's ephemeral lease could still run: no ephemeral grant until it ends.
  expect(run(host, lock("f", 1_000, E)).type).toBe(ResponseType.MustRetry);
  clock.ms += 20_000;
  const granted = run(host, lock("f", 1_000, E));
  expect(granted.type).toBe(ResponseType.Locked);
  expect(granted.fencingToken).toBeGreaterThan(0);
});

test("a persistent lock's token continues after a restart", () => {
  const store = new MemoryLogStore();
  const first = singleNode(store);
  run(first.host, lock("a", 1_000));
  run(first.host, { op: "unlock", resource: "locks/tasks/123", owner: "a", durability: P });
  const { host } = singleNode(store);
  expect(run(host, lock("b", 1_000))).toEqual({ type: ResponseType.Locked, fencingToken: 1 });
});

test("snapshots compact the log and a restart restores from them", () => {
  const store = new MemoryLogStore();
  const host = new NodeHost({
    nodeId: "1",
    voters: ["1"],
    groups: 1,
    logStore: store,
    transport: { send: () => {} },
    clock: new ManualClock(),
    random: seeded(3),
    snapshotEntries: 20,
  });
  host.flush();
  for (let i = 0; i < 100; i++) {
    run(host, { op: "tryLock", resource: `r${i}`, owner: "o", expiresMs: 60_000, durability: P });
  }
  expect(host.metrics.snapshots).toBeGreaterThan(0);
  expect(store.load(0).snapshot).toBeDefined();
  const { host: restarted } = singleNode(store, new ManualClock(), 1);
  for (let i = 0; i < 100; i += 9) {
    expect(run(restarted, { op: "get", resource: `r${i}`, durability: P })).toMatchObject({
      owner: "o",
    });
  }
});

import { expect, test } from "bun:test";
import { MemoryStorage } from "./memory-storage.ts";
import { RawNode } from "./raw-node.ts";
import { bytes, testConfig, text } from "./test-network.ts";

function singleNode(): { node: RawNode; storage: MemoryStorage } {
  const storage = new MemoryStorage(["a"]);
  return { node: new RawNode(testConfig("a", 1), storage), storage };
}

/** Does what the host does with one Ready; returns the data of applied entries. */
function cycle(node: RawNode, storage: MemoryStorage): string[] {
  const ready = node.ready();
  storage.append(ready.entries);
  if (ready.hardState !== undefined) storage.setHardState(ready.hardState);
  expect(ready.messages).toEqual([]);
  node.advance(ready);
  return ready.committedEntries.map((e) => text(e.data));
}

/** Runs Ready cycles until there is nothing left to do; returns everything applied. */
function settle(node: RawNode, storage: MemoryStorage): string[] {
  const applied: string[] = [];
  for (let i = 0; i < 10 && node.hasReady(); i++) applied.push(...cycle(node, storage));
  expect(node.hasReady()).toBe(false);
  return applied;
}

test("single-node group elects itself after its first election timeout (Raft §5.2)", () => {
  const { node, storage } = singleNode();
  let ticks = 0;
  while (node.status().role !== "leader" && ticks < 100) {
    node.tick();
    ticks++;
  }
  expect(node.status().role).toBe("leader");
  expect(ticks).toBeGreaterThanOrEqual(10);
  expect(ticks).toBeLessThan(20);
  // The leader counts its own no-op toward the commit only once it is persisted (Raft thesis
  // §10.2.1), so the no-op commits in the Ready after the one that persists it.
  const ready = node.ready();
  expect(ready.softState).toEqual({ leader: "a", role: "leader" });
  expect(ready.hardState).toEqual({ term: 1, vote: "a", commit: 0 });
  expect(ready.entries.map((e) => e.index)).toEqual([1]);
  expect(ready.committedEntries).toEqual([]);
  expect(ready.mustSync).toBe(true);
  storage.append(ready.entries);
  storage.setHardState(ready.hardState!);
  node.advance(ready);
  expect(node.hasReady()).toBe(true);
  const next = node.ready();
  expect(next.hardState).toEqual({ term: 1, vote: "a", commit: 1 });
  expect(next.entries).toEqual([]);
  expect(next.committedEntries.map((e) => e.data.byteLength)).toEqual([0]);
  storage.setHardState(next.hardState!);
  node.advance(next);
  expect(node.hasReady()).toBe(false);
});

test("single-node group commits a proposal in the Ready after the one that persists it", () => {
  const { node, storage } = singleNode();
  node.campaign();
  expect(node.status().role).toBe("leader");
  settle(node, storage);
  const result = node.propose(bytes("x"));
  expect(result).toEqual({ kind: "proposed", index: 2, term: 1 });
  expect(node.hasReady()).toBe(true);
  expect(cycle(node, storage)).toEqual([]);
  expect(node.status().commit).toBe(2);
  expect(cycle(node, storage)).toEqual(["x"]);
  expect(node.status()).toEqual({
    id: "a",
    term: 1,
    role: "leader",
    leader: "a",
    commit: 2,
    applied: 2,
    lastIndex: 2,
  });
  expect(node.hasReady()).toBe(false);
});

test("single-node group answers ReadIndex at once with its commit index", () => {
  const { node, storage } = singleNode();
  node.campaign();
  settle(node, storage);
  node.propose(bytes("y"));
  node.readIndex(77);
  const ready = node.ready();
  // y is not committed yet (not persisted): the read sees the state as of the no-op.
  expect(ready.readStates).toEqual([{ index: 1, context: 77 }]);
});

test("a follower refuses proposals and names no leader when it knows none", () => {
  const storage = new MemoryStorage(["a", "b", "c"]);
  const node = new RawNode(testConfig("a", 3), storage);
  expect(node.propose(bytes("z"))).toEqual({ kind: "notLeader", leader: "" });
});

test("single-node group restarts from storage and keeps term, vote and log", () => {
  const { node, storage } = singleNode();
  node.campaign();
  settle(node, storage);
  node.propose(bytes("p"));
  expect(settle(node, storage)).toEqual(["p"]);
  const restarted = new RawNode(testConfig("a", 9, { applied: 2 }), storage);
  expect(restarted.status()).toMatchObject({ term: 1, commit: 2, applied: 2, lastIndex: 2 });
  expect(restarted.status().role).toBe("follower");
  restarted.campaign();
  expect(restarted.status()).toMatchObject({ term: 2, role: "leader" });
  const ready = restarted.ready();
  expect(ready.hardState).toEqual({ term: 2, vote: "a", commit: 2 });
  expect(ready.entries.map((e) => e.index)).toEqual([3]);
  storage.append(ready.entries);
  storage.setHardState(ready.hardState!);
  restarted.advance(ready);
  expect(restarted.ready().committedEntries.map((e) => e.index)).toEqual([3]);
});

test("restart without an applied index re-applies committed entries", () => {
  const { node, storage } = singleNode();
  node.campaign();
  settle(node, storage);
  node.propose(bytes("q"));
  settle(node, storage);
  const restarted = new RawNode(testConfig("a", 9), storage);
  expect(cycle(restarted, storage)).toEqual(["", "q"]);
});

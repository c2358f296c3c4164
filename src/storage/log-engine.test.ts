import { expect, test } from "bun:test";
import { MemoryFileSystem } from "../adapters/memory/memory-file-system.ts";
import { Prng } from "../adapters/sim/prng.ts";
import type { FileHandle, FileSystem } from "../ports/file-system.ts";
import { emptyNodeState, type GroupWrite, type NodeState } from "../ports/log-store.ts";
import type { Entry, HardState, Snapshot } from "../raft/types.ts";
import { LogEngine, segmentFileName, StorageCorruptError } from "./log-engine.ts";

const small = { segmentBytesTarget: 4096, segmentsRetainedMax: 3 };
const data = (text: string) => new TextEncoder().encode(text);
const entry = (index: number, term: number, text = `e${index}`): Entry => ({
  index,
  term,
  data: data(text),
});
const snapshotAt = (index: number, term: number, text = `state@${index}`): Snapshot => ({
  metadata: { index, term, voters: ["a", "b", "c"] },
  data: data(text),
});

// ---- a model of the LogStore contract, to compare the engine with ----

type ModelGroup = { hardState: HardState; snapshot: Snapshot | undefined; entries: Entry[] };
type Model = { groups: Map<number, ModelGroup>; nodeState: NodeState; incarnation: number };

function newModel(): Model {
  return { groups: new Map(), nodeState: emptyNodeState, incarnation: 0 };
}

function modelGroup(model: Model, id: number): ModelGroup {
  let g = model.groups.get(id);
  if (g === undefined) {
    g = { hardState: { term: 0, vote: "", commit: 0 }, snapshot: undefined, entries: [] };
    model.groups.set(id, g);
  }
  return g;
}

function cloneModel(model: Model): Model {
  const groups = new Map<number, ModelGroup>();
  for (const [id, g] of model.groups) groups.set(id, { ...g, entries: [...g.entries] });
  return { groups, nodeState: model.nodeState, incarnation: model.incarnation };
}

function modelSave(model: Model, writes: readonly GroupWrite[]): void {
  for (const w of writes) {
    const g = modelGroup(model, w.group);
    if (w.snapshot !== undefined) {
      g.snapshot = w.snapshot;
      g.entries = [];
    }
    const first = w.entries[0];
    if (first !== undefined) {
      g.entries = [...g.entries.filter((e) => e.index < first.index), ...w.entries];
    }
    if (w.hardState !== undefined) g.hardState = w.hardState;
  }
}

/** What a store shows for `groups`, as comparable text. */
function shown(
  load: (
    g: number,
  ) => { hardState: HardState; snapshot: Snapshot | undefined; entries: readonly Entry[] },
  nodeState: NodeState,
  groups: number,
): string {
  const out = [];
  for (let g = 0; g < groups; g++) {
    const s = load(g);
    out.push({
      hardState: s.hardState,
      snapshot: s.snapshot === undefined
        ? null
        : { ...s.snapshot.metadata, data: new TextDecoder().decode(s.snapshot.data) },
      entries: s.entries.map((e) => [e.index, e.term, new TextDecoder().decode(e.data)]),
    });
  }
  return JSON.stringify({ nodeState, out });
}

function modelShown(model: Model, groups: number): string {
  return shown(
    (g) => {
      const m = modelGroup(cloneModel(model), g);
      const after = m.snapshot?.metadata.index ?? 0;
      return { ...m, entries: m.entries.filter((e) => e.index > after) };
    },
    model.nodeState,
    groups,
  );
}

function engineShown(engine: LogEngine, groups: number): string {
  return shown((g) => engine.load(g), engine.nodeState(), groups);
}

// ---- scripted behaviour ----

test("a reopened log holds what was saved: entries, hard state, snapshots, identity", () => {
  const fs = new MemoryFileSystem();
  const engine = LogEngine.open(fs);
  engine.setIdentity({ nodeId: "a", voters: ["a", "b", "c"], groups: 2 });
  expect(engine.nextIncarnation()).toBe(1);
  engine.save([
    { group: 0, entries: [entry(1, 1), entry(2, 1)], hardState: { term: 1, vote: "a", commit: 1 } },
    { group: 1, entries: [entry(1, 2)], hardState: { term: 2, vote: "b", commit: 0 } },
  ]);
  engine.saveSnapshot(0, snapshotAt(1, 1));
  engine.save([{ group: 0, entries: [entry(3, 1)] }]);
  engine.compact(0, 1);
  engine.close();

  const reopened = LogEngine.open(fs);
  expect(reopened.identity()).toEqual({ nodeId: "a", voters: ["a", "b", "c"], groups: 2 });
  expect(reopened.nextIncarnation()).toBe(2);
  const g0 = reopened.load(0);
  expect(g0.hardState).toEqual({ term: 1, vote: "a", commit: 1 });
  expect(g0.snapshot?.metadata).toEqual({ index: 1, term: 1, voters: ["a", "b", "c"] });
  expect(new TextDecoder().decode(g0.snapshot!.data)).toBe("state@1");
  expect(g0.entries.map((e) => e.index)).toEqual([2, 3]);
  expect(reopened.load(1).entries.map((e) => [e.index, e.term])).toEqual([[1, 2]]);
  expect(reopened.load(7)).toEqual({
    hardState: { term: 0, vote: "", commit: 0 },
    snapshot: undefined,
    entries: [],
  });
});

test("an append at a lower index replaces the suffix; a leader's snapshot replaces the log", () => {
  const fs = new MemoryFileSystem();
  const engine = LogEngine.open(fs);
  engine.save([{ group: 0, entries: [entry(1, 1), entry(2, 1), entry(3, 1)] }]);
  engine.save([{ group: 0, entries: [entry(2, 2, "new2")] }]);
  engine.save([{ group: 1, entries: [entry(1, 1), entry(2, 1)] }]);
  engine.save([{
    group: 1,
    snapshot: snapshotAt(10, 3),
    entries: [entry(11, 3)],
    hardState: { term: 3, vote: "", commit: 10 },
  }]);
  engine.close();
  const reopened = LogEngine.open(fs);
  expect(reopened.load(0).entries.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 2]]);
  const g1 = reopened.load(1);
  expect(g1.snapshot?.metadata.index).toBe(10);
  expect(g1.entries.map((e) => e.index)).toEqual([11]);
});

/** Counts the calls that reach the disk. */
function counting(fs: FileSystem) {
  const counts = { appends: 0, syncs: 0, directorySyncs: 0 };
  const wrap = (file: FileHandle): FileHandle => ({
    name: file.name,
    size: () => file.size(),
    read: (offset, length) => file.read(offset, length),
    append: (bytes) => {
      counts.appends += 1;
      file.append(bytes);
    },
    sync: () => {
      counts.syncs += 1;
      file.sync();
    },
    truncate: (length) => file.truncate(length),
    close: () => file.close(),
  });
  const counted: FileSystem = {
    list: () => fs.list(),
    open: (name, mode) => wrap(fs.open(name, mode)),
    rename: (from, to) => fs.rename(from, to),
    remove: (name) => fs.remove(name),
    syncDirectory: () => {
      counts.directorySyncs += 1;
      fs.syncDirectory();
    },
  };
  return { counted, counts };
}

test("a save of many groups is one append and one sync; snapshots' records wait for it", () => {
  const { counted, counts } = counting(new MemoryFileSystem());
  const engine = LogEngine.open(counted);
  engine.save([{ group: 0, entries: [entry(1, 1)] }]);
  engine.compact(0, 0);
  Object.assign(counts, { appends: 0, syncs: 0, directorySyncs: 0 });
  const writes: GroupWrite[] = [];
  for (let g = 0; g < 16; g++) {
    writes.push({
      group: g,
      entries: [entry(2, 1), entry(3, 1)],
      hardState: { term: 1, vote: "a", commit: 1 },
    });
  }
  engine.save(writes);
  expect(counts).toEqual({ appends: 1, syncs: 1, directorySyncs: 0 });
  engine.compact(0, 1);
  expect(counts.appends).toBe(1);
});

test("segments roll at their target and go once compaction empties them", () => {
  const fs = new MemoryFileSystem();
  const engine = LogEngine.open(fs, small);
  let index = 0;
  for (let round = 0; round < 60; round++) {
    const entries = Array.from({ length: 10 }, () => entry(++index, 1, "x".repeat(40)));
    engine.save([{ group: 0, entries, hardState: { term: 1, vote: "", commit: index } }]);
    engine.saveSnapshot(0, snapshotAt(index, 1));
    engine.compact(0, index - 5);
  }
  // 600 entries of ~60 bytes are ~36 KB: many segments were written, few are kept.
  expect(engine.segmentNames().length).toBeLessThanOrEqual(2);
  expect(Number(engine.segmentNames()[0]!.slice(0, 20))).toBeGreaterThan(5);
  // The newest snapshot's record waits for the next write; the file it replaces, for its sync.
  expect(fs.list().filter((n) => n.endsWith(".snap")).length).toBe(2);
  engine.close();
  expect(fs.list().filter((n) => n.endsWith(".snap"))).toEqual([`snap-0-${index}-1.snap`]);
  const g = LogEngine.open(fs, small).load(0);
  expect(g.snapshot?.metadata.index).toBe(600);
  expect(g.entries).toEqual([]);
});

test("a group that stops writing is relocated rather than holding every segment", () => {
  const fs = new MemoryFileSystem();
  const engine = LogEngine.open(fs, small);
  engine.save([{ group: 1, entries: [entry(1, 1, "quiet"), entry(2, 1, "quiet2")] }]);
  let index = 0;
  for (let round = 0; round < 100; round++) {
    const entries = Array.from({ length: 10 }, () => entry(++index, 1, "y".repeat(40)));
    engine.save([{ group: 0, entries, hardState: { term: 1, vote: "", commit: index } }]);
    engine.saveSnapshot(0, snapshotAt(index, 1));
    engine.compact(0, index);
  }
  expect(engine.segmentNames().length).toBeLessThanOrEqual(small.segmentsRetainedMax + 1);
  engine.close();
  const reopened = LogEngine.open(fs, small);
  expect(reopened.load(1).entries.map((e) => new TextDecoder().decode(e.data))).toEqual([
    "quiet",
    "quiet2",
  ]);
});

test("a bit flipped anywhere in a segment stops the open, naming file, offset and partition", () => {
  const fs = new MemoryFileSystem();
  const engine = LogEngine.open(fs);
  engine.save([{ group: 3, entries: [entry(1, 1, "owner-abc"), entry(2, 1)] }]);
  engine.save([{ group: 5, entries: [entry(1, 1)], hardState: { term: 1, vote: "a", commit: 1 } }]);
  engine.close();
  const name = segmentFileName(1);
  const file = fs.open(name, "existing");
  const size = file.size();
  file.close();
  for (let offset = 0; offset < size; offset++) {
    for (const bit of [0, 5]) {
      fs.flipBit(name, offset, bit);
      let error: unknown;
      try {
        LogEngine.open(fs).close();
      } catch (e) {
        error = e;
      }
      fs.flipBit(name, offset, bit);
      expect(error).toBeInstanceOf(StorageCorruptError);
      expect(String(error)).toContain(name);
    }
  }
  // A flip inside group 3's entries names the partition and the record's offset.
  const file2 = fs.open(name, "existing");
  const at = new TextDecoder().decode(file2.read(0, size)).indexOf("owner-abc");
  file2.close();
  fs.flipBit(name, at, 1);
  expect(() => LogEngine.open(fs)).toThrow(/at offset \d+ \(partition 3\)/);
});

test("a sealed segment cut short is damage, not a torn tail", () => {
  const fs = new MemoryFileSystem();
  const engine = LogEngine.open(fs);
  engine.save([{ group: 0, entries: [entry(1, 1), entry(2, 1)] }]);
  engine.close();
  LogEngine.open(fs).close(); // segment 2 now seals segment 1
  const file = fs.open(segmentFileName(1), "existing");
  // Cut exactly at a record boundary: the bytes left are all good records.
  file.truncate(file.size() - 37);
  file.sync();
  file.close();
  expect(() => LogEngine.open(fs)).toThrow(/truncated after it was synced|torn record/);
});

test("a missing segment between two kept ones is damage", () => {
  const fs = new MemoryFileSystem();
  const engine = LogEngine.open(fs);
  engine.save([{ group: 0, entries: [entry(1, 1)] }]);
  engine.close();
  LogEngine.open(fs).close();
  LogEngine.open(fs).close();
  expect(fs.list()).toContain(segmentFileName(2));
  fs.remove(segmentFileName(2));
  fs.syncDirectory();
  expect(() => LogEngine.open(fs)).toThrow(/00000000000000000002.log is missing/);
});

test("a damaged snapshot file is reported when its partition loads", () => {
  const fs = new MemoryFileSystem();
  const engine = LogEngine.open(fs);
  engine.save([{ group: 2, entries: [entry(1, 1)], hardState: { term: 1, vote: "", commit: 1 } }]);
  engine.saveSnapshot(2, snapshotAt(1, 1, "a-big-state"));
  engine.close();
  fs.flipBit("snap-2-1-1.snap", 40, 3);
  expect(() => LogEngine.open(fs).load(2)).toThrow(/snapshot of partition 2 cannot be read/);
});

test("repair drops the damaged partition, keeps the others, and marks it recovering", () => {
  const fs = new MemoryFileSystem();
  const engine = LogEngine.open(fs);
  engine.setNodeState({ ...emptyNodeState, storeId: "abc" });
  engine.save([{
    group: 0,
    entries: [entry(1, 1, "zero")],
    hardState: { term: 1, vote: "a", commit: 1 },
  }]);
  engine.save([{ group: 1, entries: [entry(1, 1, "one-".repeat(30))] }]);
  engine.save([{ group: 2, entries: [entry(1, 1, "two")] }]);
  engine.close();
  const name = segmentFileName(1);
  const file = fs.open(name, "existing");
  const bytes = file.read(0, file.size());
  file.close();
  const at = new TextDecoder().decode(bytes).indexOf("one-one-");
  fs.flipBit(name, at + 10, 2);
  expect(() => LogEngine.open(fs)).toThrow(/partition 1/);

  expect(LogEngine.repair(fs, "def")).toEqual({ dropped: [1] });
  const repaired = LogEngine.open(fs);
  expect(repaired.nodeState()).toEqual({ ...emptyNodeState, storeId: "def", recovering: [1] });
  expect(repaired.load(0).entries.map((e) => new TextDecoder().decode(e.data))).toEqual(["zero"]);
  expect(repaired.load(0).hardState).toEqual({ term: 1, vote: "a", commit: 1 });
  expect(repaired.load(1).entries).toEqual([]);
  expect(repaired.load(2).entries.length).toBe(1);
});

test("repair refuses damage that hides which partitions it touches", () => {
  const fs = new MemoryFileSystem();
  const engine = LogEngine.open(fs);
  engine.save([{ group: 0, entries: [entry(1, 1)] }]);
  engine.close();
  fs.flipBit(segmentFileName(1), 3, 0); // the segment header
  expect(() => LogEngine.repair(fs, "def")).toThrow(StorageCorruptError);
});

// ---- crashes against the model ----

/** One random mutation; returns whether it is durable when it returns. */
function randomStep(engine: LogEngine, model: Model, random: Prng, groups: number): boolean {
  const group = random.int(groups);
  const g = modelGroup(model, group);
  const snapIndex = g.snapshot?.metadata.index ?? 0;
  const last = g.entries[g.entries.length - 1]?.index ?? snapIndex;
  const commit = g.hardState.commit;
  const term = Math.max(1, g.hardState.term);
  const roll = random.int(100);
  if (roll < 60) {
    const from = Math.max(snapIndex, commit) + 1 +
      random.int(last - Math.max(snapIndex, commit) + 1);
    const count = 1 + random.int(6);
    const entries = Array.from(
      { length: count },
      (_, i) => entry(from + i, term, `g${group}-${from + i}-${random.int(1000)}`),
    );
    const newCommit = Math.min(from + count - 1, commit + random.int(4));
    const write: GroupWrite = { group, entries, hardState: { term, vote: "a", commit: newCommit } };
    engine.save([write]);
    modelSave(model, [write]);
    return true;
  }
  if (roll < 68) {
    const index = last + 1 + random.int(5);
    const write: GroupWrite = {
      group,
      snapshot: snapshotAt(index, term + 1),
      entries: [entry(index + 1, term + 1)],
      hardState: { term: term + 1, vote: "", commit: index },
    };
    engine.save([write]);
    modelSave(model, [write]);
    return true;
  }
  if (roll < 80 && commit > snapIndex) {
    const index = snapIndex + 1 + random.int(commit - snapIndex);
    const termAt = g.entries.find((e) => e.index === index)?.term ?? term;
    engine.saveSnapshot(group, snapshotAt(index, termAt));
    g.snapshot = snapshotAt(index, termAt);
    return false;
  }
  if (roll < 92 && snapIndex > 0) {
    const through = random.int(snapIndex + 1);
    engine.compact(group, through);
    g.entries = g.entries.filter((e) => e.index > through);
    return false;
  }
  if (roll < 96) {
    const state = { ...model.nodeState, storeId: `s${random.int(100)}`, recovering: [] };
    engine.setNodeState(state);
    model.nodeState = state;
    return true;
  }
  model.incarnation = engine.nextIncarnation();
  return true;
}

test("after any crash the log is the model at some point since the last durable write", () => {
  const groups = 3;
  for (let seed = 1; seed <= 150; seed++) {
    const random = new Prng(seed);
    const fs = new MemoryFileSystem();
    let engine = LogEngine.open(fs, small);
    let model = newModel();
    for (let life = 0; life < 4; life++) {
      let history = [cloneModel(model)];
      let durableAt = 0;
      const steps = 5 + random.int(60);
      for (let i = 0; i < steps; i++) {
        const durable = randomStep(engine, model, random, groups);
        history.push(cloneModel(model));
        if (durable) durableAt = history.length - 1;
      }
      fs.crash(random);
      engine = LogEngine.open(fs, small);
      const seen = engineShown(engine, groups);
      const candidates = history.slice(durableAt).map((m) => modelShown(m, groups));
      const match = candidates.indexOf(seen);
      if (match < 0) {
        throw new Error(
          `seed ${seed} life ${life}: the reopened log is no state since the ` +
            `last durable write\n  got  ${seen}\n  last ${candidates[candidates.length - 1]}`,
        );
      }
      model = cloneModel(history[durableAt + match]!);
      history = [];
      engine.close();
      engine = LogEngine.open(fs, small);
      // Loading cleared the scan's entries; a second load reads them back from the segments.
      expect(engineShown(engine, groups)).toBe(seen);
    }
  }
});

test("a whole store imported from another format reads back the same", () => {
  const source = new MemoryFileSystem();
  const original = LogEngine.open(source);
  original.setIdentity({ nodeId: "b", voters: ["a", "b"], groups: 2 });
  original.setNodeState({ ...emptyNodeState, storeId: "f00d", recovering: [1] });
  original.save([{
    group: 0,
    entries: [entry(1, 1), entry(2, 1)],
    hardState: { term: 1, vote: "b", commit: 2 },
  }]);
  original.save([{
    group: 1,
    snapshot: snapshotAt(5, 2),
    entries: [entry(6, 2)],
    hardState: { term: 2, vote: "", commit: 5 },
  }]);
  const groups = new Map([[0, original.load(0)], [1, original.load(1)]]);
  const target = new MemoryFileSystem();
  LogEngine.importState(target, {
    identity: original.identity(),
    nodeState: original.nodeState(),
    incarnation: 7,
    groups,
  });
  target.crash(); // only what the import made durable
  const imported = LogEngine.open(target);
  expect(imported.identity()).toEqual(original.identity());
  expect(engineShown(imported, 2)).toBe(engineShown(original, 2));
  expect(imported.nextIncarnation()).toBe(8);
});

test("repair of an undamaged log changes nothing", () => {
  const fs = new MemoryFileSystem();
  const engine = LogEngine.open(fs);
  engine.save([{ group: 0, entries: [entry(1, 1)] }]);
  engine.close();
  const before = fs.list();
  expect(LogEngine.repair(fs, "def")).toEqual({ dropped: [] });
  expect(fs.list()).toEqual(before);
});

test("damage in partition 0 leaves the node's own records; damage in those is not repaired", () => {
  const fs = new MemoryFileSystem();
  const engine = LogEngine.open(fs);
  engine.setIdentity({ nodeId: "a", voters: ["a", "b", "c"], groups: 2 });
  engine.setNodeState({ ...emptyNodeState, storeId: "abc" });
  engine.save([{ group: 0, entries: [entry(1, 1, "zero-".repeat(20))] }]);
  engine.close();
  const name = segmentFileName(1);
  const read = fs.open(name, "existing");
  const bytes = new TextDecoder().decode(read.read(0, read.size()));
  read.close();
  fs.flipBit(name, bytes.indexOf("zero-zero-") + 3, 0);
  expect(LogEngine.repair(fs, "def")).toEqual({ dropped: [0] });
  const repaired = LogEngine.open(fs);
  expect(repaired.identity()?.nodeId).toBe("a");
  expect(repaired.nodeState().recovering).toEqual([0]);
  repaired.close();

  const other = new MemoryFileSystem();
  const second = LogEngine.open(other);
  second.setIdentity({ nodeId: "node-b", voters: ["node-b"], groups: 1 });
  second.close();
  const segment = other.open(segmentFileName(1), "existing");
  const text = new TextDecoder().decode(segment.read(0, segment.size()));
  segment.close();
  other.flipBit(segmentFileName(1), text.indexOf("node-b") + 1, 2);
  expect(() => LogEngine.open(other)).toThrow(/the node's own records/);
  expect(() => LogEngine.repair(other, "def")).toThrow(/start the node empty/);
});

import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../adapters/bun/sqlite.ts";
import { NodeFileSystem } from "../adapters/node-file-system.ts";
import { LogEngine } from "../storage/log-engine.ts";
import { lockDataDir } from "./data-dir-lock.ts";
import { repairDataDir } from "./repair-data-dir.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A stopped node's data directory: three partitions with a few entries each. */
function dataDir(voters: string[] = ["1", "2", "3"]): string {
  const dir = mkdtempSync(join(tmpdir(), "kahuna-repair-"));
  dirs.push(dir);
  mkdirSync(join(dir, "log"));
  const engine = LogEngine.open(new NodeFileSystem(join(dir, "log")));
  engine.setIdentity({ nodeId: "1", voters, groups: 3 });
  for (const group of [0, 1, 2]) {
    const data = new TextEncoder().encode(`lock of partition ${group}`);
    engine.save([{
      group,
      hardState: { term: 1, vote: "1", commit: 2 },
      entries: [{ index: 1, term: 1, data: new Uint8Array() }, { index: 2, term: 1, data }],
    }]);
  }
  engine.close();
  return dir;
}

function segment(dir: string): string {
  const names = readdirSync(join(dir, "log")).filter((name) => name.endsWith(".log"));
  return join(dir, "log", names[0]!);
}

/** Flips a bit of the first byte of `text` in the oldest segment. */
function damage(dir: string, text: string): void {
  const path = segment(dir);
  const bytes = readFileSync(path);
  const at = bytes.indexOf(Buffer.from(text));
  expect(at).toBeGreaterThan(0);
  bytes[at]! ^= 0x10;
  writeFileSync(path, bytes);
}

test("a sound log is left as it is", () => {
  const dir = dataDir();
  const before = readdirSync(join(dir, "log"));
  expect(repairDataDir(dir, openDatabase)).toEqual({ kind: "sound" });
  expect(readdirSync(join(dir, "log"))).toEqual(before);
});

test("a damaged record drops its partition, which is then recovering; the others stay", () => {
  const dir = dataDir();
  damage(dir, "lock of partition 1");
  expect(repairDataDir(dir, openDatabase)).toEqual({
    kind: "repaired",
    dropped: [1],
    identity: { nodeId: "1", voters: ["1", "2", "3"] },
  });
  const engine = LogEngine.open(new NodeFileSystem(join(dir, "log")));
  try {
    expect(engine.nodeState().recovering).toEqual([1]);
    expect(engine.load(1).entries).toEqual([]);
    expect(engine.load(0).entries.length).toBe(2);
    expect(engine.load(2).hardState).toEqual({ term: 1, vote: "1", commit: 2 });
  } finally {
    engine.close();
  }
  expect(repairDataDir(dir, openDatabase)).toEqual({ kind: "sound" });
});

test("a cluster of one is told so: no leader can re-seed what was dropped", () => {
  const dir = dataDir(["1"]);
  damage(dir, "lock of partition 2");
  expect(repairDataDir(dir, openDatabase)).toMatchObject({
    dropped: [2],
    identity: { voters: ["1"] },
  });
});

test("damage that hides its partitions is not repaired; the message says what to do instead", () => {
  const dir = dataDir();
  const path = segment(dir);
  const bytes = readFileSync(path);
  bytes[3]! ^= 0x01; // inside the segment header's magic
  writeFileSync(path, bytes);
  const outcome = repairDataDir(dir, openDatabase);
  expect(outcome.kind).toBe("failed");
  const message = (outcome as { message: string }).message;
  expect(message).toStartWith(`cannot repair the log in ${dir}: log segment `);
  expect(message).toContain("segment header");
  expect(message).toMatch(/move the data directory aside and start the node empty/i);
  // It was just run: its words do not suggest running it.
  expect(message).not.toContain("kahuna repair");
});

test("a data directory in use by a node is refused with the words kahuna serve uses", () => {
  const dir = dataDir();
  const held = lockDataDir(dir, openDatabase);
  expect(held.kind).toBe("locked");
  try {
    expect(repairDataDir(dir, openDatabase)).toEqual({
      kind: "failed",
      message: `the data directory ${dir} is in use by process ${process.pid}, another kahuna ` +
        `node; stop it first, or give this node its own --data-dir`,
    });
  } finally {
    if (held.kind === "locked") held.lock.release();
  }
});

test("a missing directory, one without a log and one of the SQLite format are named as such", () => {
  const missing = join(tmpdir(), "kahuna-repair-no-such-dir");
  expect(repairDataDir(missing, openDatabase)).toEqual({
    kind: "failed",
    message: `the data directory ${missing} does not exist`,
  });
  const empty = mkdtempSync(join(tmpdir(), "kahuna-repair-"));
  dirs.push(empty);
  expect(repairDataDir(empty, openDatabase)).toMatchObject({ kind: "failed" });
  expect((repairDataDir(empty, openDatabase) as { message: string }).message).toContain(
    "has no log",
  );
  expect(readdirSync(empty)).toEqual([]);
  writeFileSync(join(empty, "kahuna.sqlite"), "");
  expect((repairDataDir(empty, openDatabase) as { message: string }).message).toContain(
    "holds kahuna.sqlite, the format of kahuna 0.2",
  );
});

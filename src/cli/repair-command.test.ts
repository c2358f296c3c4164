import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeFileSystem } from "../adapters/node-file-system.ts";
import { LogEngine, segmentFileName } from "../storage/log-engine.ts";
import type { Io } from "./io.ts";
import { parseRepairCommand, runRepair } from "./repair-command.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function capture(): Io & { out_: string[]; err_: string[] } {
  const out_: string[] = [];
  const err_: string[] = [];
  return { out_, err_, out: (line) => out_.push(line), err: (line) => err_.push(line) };
}

/** A stopped node's data directory whose partitions `damaged` have a flipped bit. */
function dataDir(voters: string[], damaged: number[]): string {
  const dir = mkdtempSync(join(tmpdir(), "kahuna-repair-cli-"));
  dirs.push(dir);
  mkdirSync(join(dir, "log"));
  const engine = LogEngine.open(new NodeFileSystem(join(dir, "log")));
  engine.setIdentity({ nodeId: "2", voters, groups: 4 });
  for (const group of [0, 1, 2, 3]) {
    const data = new TextEncoder().encode(`resource-${group}`);
    engine.save([{ group, entries: [{ index: 1, term: 1, data }] }]);
  }
  engine.close();
  const path = join(dir, "log", segmentFileName(1));
  const bytes = readFileSync(path);
  for (const group of damaged) bytes[bytes.indexOf(Buffer.from(`resource-${group}`))]! ^= 0x04;
  writeFileSync(path, bytes);
  return dir;
}

test("repair takes --data-dir, or KAHUNA_DATA_DIR; nothing else", () => {
  expect(parseRepairCommand(["--data-dir", "/d"], {})).toEqual({ kind: "run", dataDir: "/d" });
  expect(parseRepairCommand([], { KAHUNA_DATA_DIR: "/e" })).toEqual({ kind: "run", dataDir: "/e" });
  expect(parseRepairCommand(["--data-dir=/d"], { KAHUNA_DATA_DIR: "/e" })).toEqual({
    kind: "run",
    dataDir: "/d",
  });
  expect(parseRepairCommand(["--help"], {})).toEqual({ kind: "help" });
  expect(parseRepairCommand([], {})).toEqual({
    kind: "usage",
    message: "repair needs --data-dir DIR (or KAHUNA_DATA_DIR): the stopped node's data directory",
  });
  expect(parseRepairCommand(["/d"], {})).toMatchObject({
    kind: "usage",
    message: 'repair takes only --data-dir DIR, got "/d"',
  });
  expect(parseRepairCommand(["--force"], {})).toMatchObject({ kind: "usage" });
});

test("a sound log: one line, exit 0", async () => {
  const dir = dataDir(["1", "2", "3"], []);
  const io = capture();
  expect(await runRepair(dir, io)).toBe(0);
  expect(io.out_).toEqual([`nothing to repair: the log in ${dir} is sound`]);
  expect(io.err_).toEqual([]);
});

test("dropped partitions are named, with what brings them back; exit 0", async () => {
  const dir = dataDir(["1", "2", "3"], [1, 3]);
  const io = capture();
  expect(await runRepair(dir, io)).toBe(0);
  expect(io.out_).toEqual([
    `repaired the log in ${dir}: dropped the damaged log of partitions 1, 3, now recovering, ` +
    `under a new store id; when the node starts, their leaders re-seed it (the other ` +
    `partitions are as they were)`,
  ]);
});

test("in a cluster of one there is no leader to re-seed: exit 1, and what to do", async () => {
  const dir = dataDir(["2"], [1]);
  const io = capture();
  expect(await runRepair(dir, io)).toBe(1);
  expect(io.out_).toEqual([]);
  expect(io.err_).toEqual([
    `kahuna: dropped the damaged log of partition 1 in ${dir}, but node 2 is a cluster of ` +
    `one: no other node holds partition 1, so no leader can re-seed it and it stays ` +
    `unavailable. Restore the data directory from a backup instead`,
  ]);
});

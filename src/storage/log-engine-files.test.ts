/**
 * The log engine on real files (the node:fs adapter): damage done to the files at rest, a
 * flipped bit or a cut at a random offset, is detected every time and never read back as data.
 * The offsets come from a seeded Prng, printed on failure, so a failing case replays.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeFileSystem } from "../adapters/node-file-system.ts";
import { Prng } from "../adapters/sim/prng.ts";
import type { Entry } from "../raft/types.ts";
import { LogEngine, StorageCorruptError } from "./log-engine.ts";

const directories: string[] = [];
afterAll(() => {
  for (const dir of directories) rmSync(dir, { recursive: true, force: true });
});

const options = { segmentBytesTarget: 4096, segmentsRetainedMax: 8 };
const text = new TextEncoder();

/** A log of three groups over several segments, with a snapshot file; returns its directory. */
function buildLog(): string {
  const dir = mkdtempSync(join(tmpdir(), "kahuna-log-"));
  directories.push(dir);
  const engine = LogEngine.open(new NodeFileSystem(dir), options);
  engine.setIdentity({ nodeId: "a", voters: ["a"], groups: 3 });
  engine.nextIncarnation();
  for (let index = 1; index <= 60; index++) {
    engine.save([0, 1, 2].map((group) => ({
      group,
      entries: [{ index, term: 1, data: text.encode(`lock-${group}-${index}-`.repeat(3)) }],
      hardState: { term: 1, vote: "a", commit: index },
    })));
  }
  engine.saveSnapshot(1, {
    metadata: { index: 30, term: 1, voters: ["a"] },
    data: text.encode("state".repeat(50)),
  });
  engine.close();
  return dir;
}

/** Opens the log and loads every group: what a node does at start. */
function openAndLoad(dir: string): Entry[][] {
  const engine = LogEngine.open(new NodeFileSystem(dir), options);
  const loaded = [0, 1, 2].map((g) => [...engine.load(g).entries]);
  engine.close();
  return loaded;
}

/** A copy of `dir` that `change` damages, opened: the error it gives, if any. */
function openError(dir: string, change: (copy: string) => void): unknown {
  const copy = copyOf(dir);
  change(copy);
  try {
    openAndLoad(copy);
    return undefined;
  } catch (error) {
    return error;
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

function copyOf(dir: string): string {
  const copy = mkdtempSync(join(tmpdir(), "kahuna-log-copy-"));
  directories.push(copy);
  for (const name of readdirSync(dir)) {
    writeFileSync(join(copy, name), readFileSync(join(dir, name)));
  }
  return copy;
}

test("a bit flipped at a random offset of any log file is detected", () => {
  const dir = buildLog();
  expect(openAndLoad(copyOf(dir))[0]!.length).toBe(60);
  const files = readdirSync(dir).filter((n) => n.endsWith(".log") || n.endsWith(".snap"));
  expect(files.filter((n) => n.endsWith(".log")).length).toBeGreaterThan(3);
  const random = new Prng(20261203);
  for (let round = 0; round < 150; round++) {
    const name = files[random.int(files.length)]!;
    const bytes = readFileSync(join(dir, name));
    const offset = random.int(bytes.length);
    const bit = random.int(8);
    const error = openError(dir, (copy) => {
      const flipped = Buffer.from(bytes);
      flipped[offset]! ^= 1 << bit;
      writeFileSync(join(copy, name), flipped);
    });
    const where = `round ${round}: bit ${bit} of byte ${offset} of ${name}`;
    expect(error instanceof StorageCorruptError ? "detected" : `missed (${where})`).toBe(
      "detected",
    );
    expect(String(error)).toContain(name);
  }
});

test("a sealed segment cut at a random offset is detected; the newest one is cut as a torn tail", () => {
  const dir = buildLog();
  const segments = readdirSync(dir).filter((n) => n.endsWith(".log")).sort();
  const newest = segments[segments.length - 1]!;
  const random = new Prng(7);
  for (let round = 0; round < 40; round++) {
    const name = segments[random.int(segments.length - 1)]!;
    const size = readFileSync(join(dir, name)).length;
    const cut = random.int(size);
    const error = openError(dir, (copy) => {
      writeFileSync(join(copy, name), readFileSync(join(copy, name)).subarray(0, cut));
    });
    const where = `round ${round}: ${name} cut to ${cut} of ${size} bytes`;
    expect(error instanceof StorageCorruptError ? "detected" : `missed (${where})`).toBe(
      "detected",
    );
  }
  // The newest segment holds what was written since the last open began it; cutting it is what
  // a crash does, and the open goes on from the records before the cut.
  const size = readFileSync(join(dir, newest)).length;
  const error = openError(dir, (copy) => {
    writeFileSync(join(copy, newest), readFileSync(join(copy, newest)).subarray(0, size - 3));
  });
  expect(error).toBeUndefined();
});

import { expect, test } from "bun:test";
import { FileSystemError } from "../../ports/file-system.ts";
import type { Random } from "../../ports/random.ts";
import { Prng } from "../sim/prng.ts";
import { MemoryFileSystem } from "./memory-file-system.ts";

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

/** A Random that answers from a script, so a test picks each choice a crash makes. */
function scripted(...answers: number[]): Random {
  return {
    int(maxExclusive: number): number {
      const answer = answers.shift();
      if (answer === undefined) throw new Error("the script ran out of answers");
      expect(answer).toBeLessThan(maxExclusive);
      return answer;
    },
  };
}

function contents(fs: MemoryFileSystem, name: string): number[] {
  const file = fs.open(name, "existing");
  const read = [...file.read(0, file.size())];
  file.close();
  return read;
}

/** A file named `name` whose creation and first bytes are durable. */
function durableFile(fs: MemoryFileSystem, name: string, ...values: number[]) {
  const file = fs.open(name, "create");
  file.append(bytes(...values));
  file.sync();
  fs.syncDirectory();
  return file;
}

test("reads see every append at once; only synced bytes survive a crash", () => {
  const fs = new MemoryFileSystem();
  const file = durableFile(fs, "a.log", 1, 2, 3);
  file.append(bytes(4, 5));
  expect(file.size()).toBe(5);
  expect([...file.read(1, 3)]).toEqual([2, 3, 4]);
  expect([...file.read(3, 100)]).toEqual([4, 5]);
  expect([...file.read(5, 1)]).toEqual([]);
  fs.crash();
  expect(contents(fs, "a.log")).toEqual([1, 2, 3]);
});

test("a read returns a copy and an append copies its input", () => {
  const fs = new MemoryFileSystem();
  const file = fs.open("a.log", "create");
  const input = bytes(1, 2);
  file.append(input);
  input[0] = 9;
  const read = file.read(0, 2);
  read[1] = 9;
  expect([...file.read(0, 2)]).toEqual([1, 2]);
});

test("a truncation is durable only after a sync", () => {
  const fs = new MemoryFileSystem();
  const file = durableFile(fs, "a.log", 1, 2, 3, 4);
  file.truncate(1);
  file.append(bytes(7, 8));
  expect(contents(fs, "a.log")).toEqual([1, 7, 8]);
  fs.crash();
  expect(contents(fs, "a.log")).toEqual([1, 2, 3, 4]);

  const again = fs.open("a.log", "existing");
  again.truncate(2);
  again.sync();
  fs.crash();
  expect(contents(fs, "a.log")).toEqual([1, 2]);
});

test("a crash may keep a prefix of the unsynced changes, in order", () => {
  const fs = new MemoryFileSystem();
  const file = durableFile(fs, "a.log", 1);
  file.append(bytes(2));
  file.truncate(1);
  file.append(bytes(3));
  // Directory: keep 0 of 0 changes. File: keep the first 2 of its 3 changes (append, truncate),
  // and 0 bytes of the third (real bytes: all of those 0).
  fs.crash(scripted(0, 2, 0, 0));
  expect(contents(fs, "a.log")).toEqual([1]);
});

test("a torn write keeps a prefix of the first append not kept whole", () => {
  const fs = new MemoryFileSystem();
  const file = durableFile(fs, "a.log", 1);
  file.append(bytes(2, 3));
  file.append(bytes(4, 5, 6, 7));
  // Keep the first append whole, then 3 bytes of the second, all of them real (choice 0).
  fs.crash(scripted(0, 1, 3, 0));
  expect(contents(fs, "a.log")).toEqual([1, 2, 3, 4, 5, 6]);
});

test("a torn write may read back as zeros where its data never reached the disk", () => {
  const fs = new MemoryFileSystem();
  const file = durableFile(fs, "a.log", 1);
  file.append(bytes(4, 5, 6, 7));
  // Keep 0 changes whole; tear the append at 3 bytes, of which only the first 1 is real.
  fs.crash(scripted(0, 0, 3, 1, 1));
  expect(contents(fs, "a.log")).toEqual([1, 4, 0, 0]);
});

test("a new file's name is durable only after a directory sync, even with its data synced", () => {
  const fs = new MemoryFileSystem();
  const file = fs.open("a.log", "create");
  file.append(bytes(1));
  file.sync();
  fs.crash();
  expect(fs.list()).toEqual([]);

  durableFile(fs, "b.log", 2);
  fs.crash();
  expect(fs.list()).toEqual(["b.log"]);
  expect(contents(fs, "b.log")).toEqual([2]);
});

test("a rename is atomic, replaces its target, and is durable after a directory sync", () => {
  const fs = new MemoryFileSystem();
  durableFile(fs, "old.log", 1).close();
  durableFile(fs, "manifest", 2).close();
  fs.rename("old.log", "manifest");
  expect(fs.list()).toEqual(["manifest"]);
  expect(contents(fs, "manifest")).toEqual([1]);
  fs.crash();
  expect(fs.list()).toEqual(["manifest", "old.log"]);
  expect(contents(fs, "manifest")).toEqual([2]);

  fs.rename("old.log", "manifest");
  fs.syncDirectory();
  fs.crash();
  expect(fs.list()).toEqual(["manifest"]);
  expect(contents(fs, "manifest")).toEqual([1]);
});

test("a crash keeps a prefix of the directory changes, in order", () => {
  const fs = new MemoryFileSystem();
  durableFile(fs, "a.log", 1).close();
  fs.rename("a.log", "b.log");
  fs.rename("b.log", "c.log");
  fs.remove("c.log");
  fs.crash(scripted(2, 0)); // keep both renames, not the remove; c.log has no changes to keep
  expect(fs.list()).toEqual(["c.log"]);
  expect(contents(fs, "c.log")).toEqual([1]);
});

test("a remove is durable after a directory sync; an open handle keeps working", () => {
  const fs = new MemoryFileSystem();
  const file = durableFile(fs, "a.log", 1);
  fs.remove("a.log");
  expect(fs.list()).toEqual([]);
  file.append(bytes(2));
  expect([...file.read(0, 2)]).toEqual([1, 2]);
  fs.crash();
  expect(fs.list()).toEqual(["a.log"]);
  fs.remove("a.log");
  fs.syncDirectory();
  fs.crash();
  expect(fs.list()).toEqual([]);
});

test("list is sorted", () => {
  const fs = new MemoryFileSystem();
  for (const name of ["c", "a", "b10", "b2"]) fs.open(name, "create").close();
  expect(fs.list()).toEqual(["a", "b10", "b2", "c"]);
});

test("open says why a file is missing or already there", () => {
  const fs = new MemoryFileSystem();
  fs.open("a.log", "create").close();
  const codeOf = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (e) {
      return e instanceof FileSystemError ? `${e.code}: ${e.message}` : String(e);
    }
    return undefined;
  };
  expect(codeOf(() => fs.open("a.log", "create"))).toBe("alreadyExists: a.log already exists");
  expect(codeOf(() => fs.open("b.log", "existing"))).toBe("notFound: b.log does not exist");
  expect(codeOf(() => fs.rename("b.log", "c"))).toMatch(/^notFound: cannot rename b\.log/);
  expect(codeOf(() => fs.remove("b.log"))).toMatch(/^notFound: cannot remove b\.log/);
});

test("a name with a separator, an uppercase letter or a leading dot is refused", () => {
  const fs = new MemoryFileSystem();
  expect(() => fs.open("../etc/passwd", "create")).toThrow(/a file name is lowercase letters/);
  expect(() => fs.open("A.log", "create")).toThrow(/got "A.log"/);
  expect(() => fs.open(".", "create")).toThrow(/not starting with/);
  expect(() => fs.open("", "create")).toThrow(/1 to 64 characters, got 0/);
  expect(() => fs.open("x".repeat(65), "create")).toThrow(/1 to 64 characters, got 65/);
});

test("handles from before a crash, and closed handles, refuse to be used", () => {
  const fs = new MemoryFileSystem();
  const file = durableFile(fs, "a.log", 1);
  fs.crash();
  expect(() => file.size()).toThrow(/opened before a crash; open the file again/);
  const again = fs.open("a.log", "existing");
  again.close();
  expect(() => again.append(bytes(1))).toThrow(/the handle to a\.log is closed/);
});

test("read and truncate outside the file are refused", () => {
  const fs = new MemoryFileSystem();
  const file = durableFile(fs, "a.log", 1, 2);
  expect(() => file.read(3, 1)).toThrow(/offset 3 is not within its 2 bytes/);
  expect(() => file.truncate(3)).toThrow(/3 is not from 0 to 2/);
});

test("a full disk fails an append with noSpace after writing what fits", () => {
  const fs = new MemoryFileSystem({ capacityBytes: 10 });
  const file = fs.open("a.log", "create");
  file.append(new Uint8Array(6));
  let error: unknown;
  try {
    file.append(bytes(1, 2, 3, 4, 5, 6));
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(FileSystemError);
  expect((error as FileSystemError).code).toBe("noSpace");
  expect((error as FileSystemError).message).toBe(
    "no space left on the disk: appending 6 bytes to a.log wrote only 4 (capacity 10 bytes, " +
      "now all in use); free space or truncate a.log back before appending again",
  );
  expect(file.size()).toBe(10);
  expect([...file.read(6, 4)]).toEqual([1, 2, 3, 4]);
  expect(fs.usedBytes()).toBe(10);
  expect(() => file.append(bytes(1))).toThrow(/wrote only 0/);
  file.truncate(6);
  file.append(bytes(1, 2, 3, 4));
  expect(fs.usedBytes()).toBe(10);
});

test("a removed file holds its space until its last handle closes", () => {
  const fs = new MemoryFileSystem({ capacityBytes: 4 });
  const a = fs.open("a.log", "create");
  a.append(bytes(1, 2, 3));
  fs.remove("a.log");
  expect(fs.usedBytes()).toBe(3);
  a.close();
  expect(fs.usedBytes()).toBe(0);
  const b = fs.open("b.log", "create");
  b.append(bytes(1, 2, 3, 4));
  expect(fs.usedBytes()).toBe(4);
  fs.capacityBytes = 8;
  b.append(bytes(5));
  expect(b.size()).toBe(5);
});

test("flipBit corrupts synced bytes in both views and refuses unsynced ones", () => {
  const fs = new MemoryFileSystem();
  const file = durableFile(fs, "a.log", 0b0000_0001, 2, 3);
  file.append(bytes(4));
  fs.flipBit("a.log", 0, 7);
  expect([...file.read(0, 1)]).toEqual([0b1000_0001]);
  expect(() => fs.flipBit("a.log", 3, 0)).toThrow(/byte 3 of a\.log is not among its first 3/);
  file.truncate(1);
  expect(() => fs.flipBit("a.log", 1, 0)).toThrow(/byte 1 of a\.log is not among its first 1/);
  fs.crash();
  expect(contents(fs, "a.log")).toEqual([0b1000_0001, 2, 3]);
  expect(() => fs.flipBit("a.log", 0, 8)).toThrow(/a bit is 0 to 7, got 8/);
  expect(() => fs.flipBit("b.log", 0, 0)).toThrow(/b\.log does not exist/);
});

test("after any crash, a file is its synced bytes then a prefix of what followed, or zeros", () => {
  // Appends only: every byte past the synced prefix is the byte written there, or a zero of a
  // torn write, and the real bytes come first.
  for (let seed = 1; seed <= 200; seed++) {
    const random = new Prng(seed);
    const fs = new MemoryFileSystem();
    const file = durableFile(fs, "a.log");
    let synced: number[] = [];
    for (let step = 0; step < 12; step++) {
      file.append(Uint8Array.from({ length: random.int(9) }, () => 1 + random.int(255)));
      if (random.int(4) === 0) {
        file.sync();
        synced = [...file.read(0, file.size())];
      }
    }
    const written = [...file.read(0, file.size())];
    fs.crash(random);
    const after = contents(fs, "a.log");
    expect(after.slice(0, synced.length)).toEqual(synced);
    expect(after.length).toBeLessThanOrEqual(written.length);
    const firstZero = after.indexOf(0);
    const real = firstZero === -1 ? after.length : firstZero;
    expect(after.slice(0, real)).toEqual(written.slice(0, real));
    expect(after.slice(real).every((b) => b === 0)).toBe(true);
    expect(real).toBeGreaterThanOrEqual(synced.length);
  }
});

test("the same seed gives the same crash", () => {
  const run = (seed: number): number[][] => {
    const fs = new MemoryFileSystem();
    for (const name of ["a", "b", "c"]) {
      const file = durableFile(fs, name, 1);
      for (let i = 0; i < 5; i++) file.append(Uint8Array.from({ length: 5 }, (_, j) => i + j + 1));
    }
    fs.rename("a", "d");
    fs.remove("b");
    fs.crash(new Prng(seed));
    return fs.list().map((name) => contents(fs, name));
  };
  expect(run(5)).toEqual(run(5));
  const outcomes = new Set(Array.from({ length: 20 }, (_, seed) => JSON.stringify(run(seed))));
  expect(outcomes.size).toBeGreaterThan(10);
});

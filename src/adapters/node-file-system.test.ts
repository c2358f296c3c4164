import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AssertionError } from "../assert.ts";
import { FileSystemError } from "../ports/file-system.ts";
import { NodeFileSystem } from "./node-file-system.ts";

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const repoRoot = join(import.meta.dir, "../..");
const denoBin = join(repoRoot, "node_modules/.bin/deno");

/** Runs `run` over a fresh temporary directory, removed afterwards. */
function withDirectory(run: (fs: NodeFileSystem, dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "kahuna-fs-"));
  try {
    run(new NodeFileSystem(dir), dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What `f` threw, as "code: message" for a FileSystemError; fails the test if nothing. */
function failure(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof FileSystemError ? `${e.code}: ${e.message}` : `${e}`;
  }
  throw new Error("expected a failure");
}

function contents(fs: NodeFileSystem, name: string): number[] {
  const file = fs.open(name, "existing");
  const read = [...file.read(0, file.size())];
  file.close();
  return read;
}

test("create makes a new empty file and refuses one already there", () => {
  withDirectory((fs, dir) => {
    const file = fs.open("a.log", "create");
    expect(file.name).toBe("a.log");
    expect(file.size()).toBe(0);
    expect(statSync(join(dir, "a.log")).size).toBe(0);
    expect(failure(() => fs.open("a.log", "create"))).toStartWith(
      `alreadyExists: cannot open ${join(dir, "a.log")} (a new file): EEXIST`,
    );
    file.close();
  });
});

test("existing opens a file with its size and refuses a missing one", () => {
  withDirectory((fs, dir) => {
    writeFileSync(join(dir, "a.log"), bytes(1, 2, 3));
    const file = fs.open("a.log", "existing");
    expect(file.size()).toBe(3);
    expect([...file.read(0, 3)]).toEqual([1, 2, 3]);
    file.close();
    expect(failure(() => fs.open("b.log", "existing"))).toStartWith(
      `notFound: cannot open ${join(dir, "b.log")} (an existing file): ENOENT`,
    );
    expect(failure(() => fs.rename("b.log", "c.log"))).toMatch(/^notFound: cannot rename .*b\.log/);
    expect(failure(() => fs.remove("b.log"))).toMatch(/^notFound: cannot remove .*b\.log/);
  });
});

test("appends are read back at once; a read past the end returns what there is", () => {
  withDirectory((fs) => {
    const file = fs.open("a.log", "create");
    file.append(bytes(1, 2, 3));
    file.append(bytes());
    file.append(bytes(4, 5));
    expect(file.size()).toBe(5);
    expect([...file.read(1, 3)]).toEqual([2, 3, 4]);
    expect([...file.read(3, 100)]).toEqual([4, 5]);
    expect([...file.read(5, 1)]).toEqual([]);
    file.close();
  });
});

test("a read returns a copy and an append may reuse its buffer once it returns", () => {
  withDirectory((fs) => {
    const file = fs.open("a.log", "create");
    const input = bytes(1, 2);
    file.append(input);
    input[0] = 9;
    const read = file.read(0, 2);
    read[1] = 9;
    expect([...file.read(0, 2)]).toEqual([1, 2]);
    file.close();
  });
});

test("an append of several MiB is written whole", () => {
  withDirectory((fs, dir) => {
    const big = Uint8Array.from({ length: 6 * 1024 * 1024 + 13 }, (_, i) => (i * 31 + 7) & 0xff);
    const file = fs.open("big.log", "create");
    file.append(bytes(42));
    file.append(big);
    expect(file.size()).toBe(1 + big.length);
    expect(statSync(join(dir, "big.log")).size).toBe(1 + big.length);
    const read = file.read(1, big.length);
    expect(read.length).toBe(big.length);
    expect(Buffer.from(read).equals(Buffer.from(big))).toBe(true);
    file.close();
  });
});

test("truncate shrinks the file and the next append goes at the new end", () => {
  withDirectory((fs, dir) => {
    const file = fs.open("a.log", "create");
    file.append(bytes(1, 2, 3, 4));
    file.truncate(1);
    expect(file.size()).toBe(1);
    expect(statSync(join(dir, "a.log")).size).toBe(1);
    file.append(bytes(7, 8));
    expect([...file.read(0, file.size())]).toEqual([1, 7, 8]);
    file.truncate(0);
    expect(file.size()).toBe(0);
    file.close();
  });
});

test("synced data and names survive closing the handles and opening the directory again", () => {
  withDirectory((fs, dir) => {
    const file = fs.open("a.log", "create");
    file.append(bytes(1, 2, 3));
    file.sync();
    fs.syncDirectory();
    file.append(bytes(4));
    file.sync();
    file.close();
    const again = new NodeFileSystem(dir);
    expect(again.list()).toEqual(["a.log"]);
    expect(contents(again, "a.log")).toEqual([1, 2, 3, 4]);
  });
});

test("a rename replaces its target and the open handle keeps working on the file", () => {
  withDirectory((fs) => {
    const manifest = fs.open("manifest", "create");
    manifest.append(bytes(2));
    manifest.close();
    const file = fs.open("manifest.tmp", "create");
    file.append(bytes(1));
    fs.rename("manifest.tmp", "manifest");
    fs.syncDirectory();
    expect(fs.list()).toEqual(["manifest"]);
    file.append(bytes(3));
    file.sync();
    expect(file.name).toBe("manifest.tmp");
    expect([...file.read(0, file.size())]).toEqual([1, 3]);
    expect(contents(fs, "manifest")).toEqual([1, 3]);
    file.close();
  });
});

test("a removed file still reads and grows through its open handle", () => {
  withDirectory((fs) => {
    const file = fs.open("a.log", "create");
    file.append(bytes(1));
    fs.remove("a.log");
    fs.syncDirectory();
    expect(fs.list()).toEqual([]);
    file.append(bytes(2));
    expect([...file.read(0, 2)]).toEqual([1, 2]);
    file.close();
    expect(failure(() => fs.open("a.log", "existing"))).toStartWith("notFound:");
  });
});

test("handles to one file share its size", () => {
  withDirectory((fs) => {
    const first = fs.open("a.log", "create");
    const second = fs.open("a.log", "existing");
    first.append(bytes(1, 2));
    expect(second.size()).toBe(2);
    second.append(bytes(3));
    expect([...first.read(0, first.size())]).toEqual([1, 2, 3]);
    second.truncate(1);
    expect(first.size()).toBe(1);
    first.close();
    second.append(bytes(4));
    expect([...second.read(0, second.size())]).toEqual([1, 4]);
    second.close();
  });
});

test("list is sorted and skips a subdirectory", () => {
  withDirectory((fs, dir) => {
    for (const name of ["c", "a", "b10", "b2"]) fs.open(name, "create").close();
    mkdirSync(join(dir, "b5"));
    expect(fs.list()).toEqual(["a", "b10", "b2", "c"]);
  });
});

test("a name with a separator, an uppercase letter or a leading dot is refused as a bug", () => {
  withDirectory((fs, dir) => {
    expect(() => fs.open("../etc/passwd", "create")).toThrow(AssertionError);
    expect(() => fs.open("../escape", "create")).toThrow(/a file name is lowercase letters/);
    expect(() => fs.open("A.log", "create")).toThrow(/got "A.log"/);
    expect(() => fs.open(".", "existing")).toThrow(/not starting with/);
    expect(() => fs.open("", "create")).toThrow(/1 to 64 characters, got 0/);
    expect(() => fs.rename("a.log", "sub/b.log")).toThrow(/got "sub\/b.log"/);
    expect(() => fs.remove("..")).toThrow(/not starting with/);
    expect(fs.list()).toEqual([]);
    expect(() => statSync(join(dir, "../escape"))).toThrow();
  });
});

test("a closed handle refuses to be used, closing it again included", () => {
  withDirectory((fs) => {
    const file = fs.open("a.log", "create");
    file.close();
    expect(() => file.append(bytes(1))).toThrow(/the handle to a\.log is closed/);
    expect(() => file.size()).toThrow(AssertionError);
    expect(() => file.close()).toThrow(/the handle to a\.log is closed/);
  });
});

test("read and truncate outside the file are refused", () => {
  withDirectory((fs) => {
    const file = fs.open("a.log", "create");
    file.append(bytes(1, 2));
    expect(() => file.read(3, 1)).toThrow(/offset 3 is not within its 2 bytes/);
    expect(() => file.read(0, -1)).toThrow(/a read length is >= 0, got -1/);
    expect(() => file.truncate(3)).toThrow(/3 is not from 0 to 2/);
    file.close();
  });
});

test("a missing log directory is reported as notFound", () => {
  withDirectory((_fs, dir) => {
    expect(failure(() => new NodeFileSystem(join(dir, "missing")))).toStartWith(
      `notFound: cannot use ${join(dir, "missing")} as the log directory: ENOENT`,
    );
    writeFileSync(join(dir, "plain"), "");
    expect(failure(() => new NodeFileSystem(join(dir, "plain")))).toMatch(/is not a directory/);
  });
});

/** Mounts a 64 KiB tmpfs on `dir`; returns why it could not, or undefined once mounted. */
function mountTinyTmpfs(dir: string): string | undefined {
  if (process.getuid?.() !== 0) return "not running as root";
  const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir], {
    encoding: "utf8",
  });
  if (mount.error !== undefined) return `mount did not run: ${mount.error.message}`;
  if (mount.status !== 0) return `mount refused: ${mount.stderr.trim()}`;
  return undefined;
}

function unmount(dir: string): void {
  const umount = spawnSync("umount", [dir], { encoding: "utf8" });
  if (umount.status !== 0) throw new Error(`umount ${dir} failed: ${umount.stderr.trim()}`);
}

// Probed once at load, so a machine that cannot mount shows the test as skipped, with why.
const tmpfsProblem = ((): string | undefined => {
  const dir = mkdtempSync(join(tmpdir(), "kahuna-fs-probe-"));
  const problem = mountTinyTmpfs(dir);
  if (problem === undefined) unmount(dir);
  rmSync(dir, { recursive: true, force: true });
  return problem;
})();
if (tmpfsProblem !== undefined) {
  console.warn(`skipping the full-disk test: cannot mount a tiny tmpfs (${tmpfsProblem})`);
}

test.skipIf(tmpfsProblem !== undefined)(
  "a full disk fails an append with noSpace, and the size says what was written",
  () => {
    const dir = mkdtempSync(join(tmpdir(), "kahuna-fs-full-"));
    const problem = mountTinyTmpfs(dir);
    expect(problem).toBeUndefined();
    try {
      const fs = new NodeFileSystem(dir);
      const file = fs.open("a.log", "create");
      file.append(new Uint8Array(1000).fill(7));
      const big = new Uint8Array(100_000).fill(9);
      const message = failure(() => file.append(big));
      expect(message).toStartWith(
        `noSpace: cannot append 100000 bytes to ${join(dir, "a.log")} at byte 1000 (the file ` +
          `now has ${file.size()}); free space or fix the disk, and truncate it back to 1000`,
      );
      // The 64 KiB filled up partway through the append: a prefix of it was written.
      expect(file.size()).toBeGreaterThan(1000);
      expect(file.size()).toBeLessThan(1000 + big.length);
      expect(file.size()).toBe(statSync(join(dir, "a.log")).size);
      const read = file.read(0, file.size());
      expect(read.subarray(0, 1000).every((b) => b === 7)).toBe(true);
      expect(read.subarray(1000).every((b) => b === 9)).toBe(true);
      expect(failure(() => file.append(bytes(1)))).toStartWith("noSpace:");

      file.truncate(1000);
      file.append(bytes(1, 2, 3));
      file.sync();
      expect([...file.read(1000, 3)]).toEqual([1, 2, 3]);
      file.close();
    } finally {
      unmount(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("the adapter works the same under Deno", () => {
  withDirectory((_fs, dir) => {
    const script = join(dir, "script.ts");
    const data = join(dir, "data");
    mkdirSync(data);
    writeFileSync(
      script,
      `import { NodeFileSystem } from ${
        JSON.stringify(join(import.meta.dir, "node-file-system.ts"))
      };
const fs = new NodeFileSystem(${JSON.stringify(data)});
const file = fs.open("a.log.tmp", "create");
file.append(Uint8Array.from([1, 2, 3]));
file.append(new Uint8Array(100_000).fill(5));
file.sync();
fs.rename("a.log.tmp", "a.log");
fs.syncDirectory();
file.truncate(100_001);
const codes = [];
for (const f of [() => fs.open("a.log", "create"), () => fs.open("b.log", "existing")]) {
  try { f(); } catch (e) { codes.push(e.name + " " + e.code); }
}
console.log(JSON.stringify({
  list: fs.list(),
  size: file.size(),
  head: [...file.read(0, 4)],
  tail: [...file.read(100_000, 10)],
  codes,
}));
file.close();
`,
    );
    const deno = spawnSync(denoBin, ["run", "--allow-all", script], {
      cwd: repoRoot,
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(deno.stderr).toBe("");
    expect(JSON.parse(deno.stdout)).toEqual({
      list: ["a.log"],
      size: 100_001,
      head: [1, 2, 3, 5],
      tail: [5],
      codes: ["FileSystemError alreadyExists", "FileSystemError notFound"],
    });
    expect(statSync(join(data, "a.log")).size).toBe(100_001);
  });
}, 40_000);

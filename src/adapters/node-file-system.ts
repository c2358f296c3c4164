/**
 * The file port (src/ports/file-system.ts) on a real disk, through `node:fs`'s synchronous calls,
 * which Bun and Deno both provide: `sync` is fdatasync, `syncDirectory` is fsync of the
 * directory, and appends are positional writes at the file's known end, repeated until every
 * byte is written (a write may be short).
 *
 * Invariants: this process is the only writer of the directory, so the size it made a file is
 * the file's size, kept in memory instead of asked of the kernel on every call. Handles to one
 * file (one inode, whatever its names) share that size, so an append through one is seen by
 * the others as the port promises. After a failed append the size is asked of the kernel again:
 * a prefix of the bytes may have been written.
 */
import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { assert } from "../assert.ts";
import {
  type FileHandle,
  fileNameProblem,
  type FileSystem,
  FileSystemError,
  type FileSystemErrorCode,
  type OpenMode,
} from "../ports/file-system.ts";

/** What every handle to one file shares: its size as this process made it. */
type OpenFile = { sizeBytes: number; handles: number };

export class NodeFileSystem implements FileSystem {
  readonly directory: string;
  /** Files with an open handle, by inode (`dev:ino`), whose handles share one size. */
  private readonly openFiles = new Map<string, OpenFile>();

  /** `directory` must exist (the data directory's owner creates it). */
  constructor(directory: string) {
    this.directory = resolve(directory);
    const what = () => `cannot use ${this.directory} as the log directory`;
    const stat = attempt(what, () => statSync(this.directory));
    if (!stat.isDirectory()) {
      throw new FileSystemError(
        "io",
        `${this.directory} is not a directory: cannot keep a log there`,
      );
    }
  }

  /** Regular files only: a subdirectory or a symbolic link is not something the engine made. */
  list(): string[] {
    const what = () => `cannot list ${this.directory}`;
    const entries = attempt(what, () => readdirSync(this.directory, { withFileTypes: true }));
    return entries.filter((entry) => entry.isFile()).map((entry) => entry.name).sort();
  }

  open(name: string, mode: OpenMode): FileHandle {
    const path = this.pathOf(name);
    // "wx+": read and write, create, fail if it exists (O_RDWR | O_CREAT | O_EXCL).
    const flags = mode === "create" ? "wx+" : "r+";
    const what = () => `cannot open ${path} (${mode === "create" ? "a new" : "an existing"} file)`;
    const fd = attempt(what, () => openSync(path, flags));
    try {
      const stat = fstatSync(fd);
      const key = `${stat.dev}:${stat.ino}`;
      const file = this.openFiles.get(key) ?? { sizeBytes: stat.size, handles: 0 };
      file.handles += 1;
      this.openFiles.set(key, file);
      return new NodeFileHandle(name, path, fd, file, () => this.released(key, file));
    } catch (error) {
      closeSync(fd);
      throw portError(error, `cannot read the size of ${path}`);
    }
  }

  rename(from: string, to: string): void {
    const fromPath = this.pathOf(from);
    const toPath = this.pathOf(to);
    attempt(() => `cannot rename ${fromPath} to ${to}`, () => renameSync(fromPath, toPath));
  }

  remove(name: string): void {
    const path = this.pathOf(name);
    attempt(() => `cannot remove ${path}`, () => unlinkSync(path));
  }

  syncDirectory(): void {
    const what = () => `cannot sync the directory ${this.directory} (fsync)`;
    const fd = attempt(what, () => openSync(this.directory, "r"));
    try {
      attempt(what, () => fsyncSync(fd));
    } finally {
      closeSync(fd);
    }
  }

  /** Names are checked here, so joining one to the directory never leaves it. */
  private pathOf(name: string): string {
    const problem = fileNameProblem(name);
    assert(problem === undefined, () => problem!);
    return join(this.directory, name);
  }

  private released(key: string, file: OpenFile): void {
    file.handles -= 1;
    if (file.handles === 0) this.openFiles.delete(key);
  }
}

class NodeFileHandle implements FileHandle {
  private closed = false;

  constructor(
    readonly name: string,
    private readonly path: string,
    private readonly fd: number,
    private readonly file: OpenFile,
    private readonly onClose: () => void,
  ) {}

  size(): number {
    this.checkOpen();
    return this.file.sizeBytes;
  }

  read(offset: number, length: number): Uint8Array {
    this.checkOpen();
    const size = this.file.sizeBytes;
    assert(
      Number.isInteger(offset) && offset >= 0 && offset <= size,
      () => `read of ${this.name}: offset ${offset} is not within its ${size} bytes`,
    );
    assert(Number.isInteger(length) && length >= 0, () => `a read length is >= 0, got ${length}`);
    const buffer = new Uint8Array(Math.min(length, size - offset));
    let done = 0;
    while (done < buffer.length) {
      const n = attempt(
        () => `cannot read ${buffer.length} bytes at ${offset} of ${this.path}`,
        () => readSync(this.fd, buffer, done, buffer.length - done, offset + done),
      );
      if (n === 0) {
        throw new FileSystemError(
          "io",
          `${this.path} ends at byte ${offset + done}, before the ${size} bytes this process ` +
            `wrote: something else truncated it`,
        );
      }
      done += n;
    }
    return buffer;
  }

  append(bytes: Uint8Array): void {
    this.checkOpen();
    const start = this.file.sizeBytes;
    let written = 0;
    try {
      while (written < bytes.length) {
        const n = writeSync(this.fd, bytes, written, bytes.length - written, start + written);
        // A regular file's write writes something or fails; zero would loop forever.
        if (n <= 0) throw Object.assign(new Error(`write returned ${n}`), { code: "EIO" });
        written += n;
        this.file.sizeBytes = start + written;
      }
    } catch (error) {
      this.resyncSize(start + written);
      throw portError(
        error,
        `cannot append ${bytes.length} bytes to ${this.path} at byte ${start} (the file now ` +
          `has ${this.file.sizeBytes}); free space or fix the disk, and truncate it back to ` +
          `${start} before appending again`,
      );
    }
  }

  sync(): void {
    this.checkOpen();
    attempt(() => `cannot sync ${this.path} (fdatasync)`, () => fdatasyncSync(this.fd));
  }

  truncate(length: number): void {
    this.checkOpen();
    const size = this.file.sizeBytes;
    assert(
      Number.isInteger(length) && length >= 0 && length <= size,
      () => `truncate of ${this.name} shrinks it: ${length} is not from 0 to ${size}`,
    );
    const what = () => `cannot truncate ${this.path} to ${length} bytes`;
    attempt(what, () => ftruncateSync(this.fd, length));
    this.file.sizeBytes = length;
  }

  close(): void {
    this.checkOpen();
    this.closed = true;
    this.onClose();
    attempt(() => `cannot close ${this.path}`, () => closeSync(this.fd));
  }

  /**
   * After a failed append the file holds a prefix of it: ask the kernel how long (a runtime's
   * write may have written part of a chunk before failing), or keep `counted`, the bytes the
   * writes reported, if even that fails.
   */
  private resyncSize(counted: number): void {
    try {
      this.file.sizeBytes = fstatSync(this.fd).size;
    } catch {
      this.file.sizeBytes = counted;
    }
  }

  private checkOpen(): void {
    assert(!this.closed, () => `the handle to ${this.name} is closed`);
  }
}

/** Runs `run`, turning a system error into the port's error, described by `what`. */
function attempt<T>(what: () => string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw portError(error, what());
  }
}

/**
 * A system error (an Error with a string `code`: ENOSPC, ENOENT...) as a `FileSystemError`;
 * anything else, a bug such as a wrong argument, is returned as it is, to be rethrown.
 */
function portError(error: unknown, what: string): unknown {
  const code: unknown = (error as { code?: unknown } | null)?.code;
  if (!(error instanceof Error) || typeof code !== "string") return error;
  return new FileSystemError(portErrorCode(code), `${what}: ${error.message}`);
}

function portErrorCode(code: string): FileSystemErrorCode {
  switch (code) {
    case "ENOSPC":
    case "EDQUOT":
      return "noSpace";
    case "ENOENT":
      return "notFound";
    case "EEXIST":
      return "alreadyExists";
    default:
      return "io";
  }
}

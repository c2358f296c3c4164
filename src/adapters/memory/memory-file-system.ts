/**
 * The in-memory twin of the file port (src/ports/file-system.ts), for unit tests and the
 * simulator: it keeps every promise of the port's durability contract and, on `crash`, breaks
 * every other one it models. Per file it keeps the durable image (what the last sync made
 * durable) and the unsynced changes since, in order; per directory, the durable entries and the
 * unsynced entry changes. A crash keeps, of each list, a prefix chosen by an injected `Random`
 * (none without one), tearing the first append it does not keep whole; the faults beyond that
 * are explicit calls: `flipBit` (media corruption), and `capacityBytes` (a full disk).
 *
 * What it does not model, on purpose: unsynced writes reaching the disk out of order within one
 * file (a later page landing before an earlier one). A log cannot then tell a crash from
 * corruption by content alone, and Linux file systems in their default modes do not do it for
 * appends; a crash here always leaves a prefix of each file's unsynced history.
 *
 * Invariants: the durable image is what a crash would keep with no unsynced change kept; the
 * bytes below `stableLength` are the same in the durable image and in what the process sees;
 * after a crash both views are equal and every old handle refuses to be used.
 */
import { assert, unreachable } from "../../assert.ts";
import {
  type FileHandle,
  fileNameProblem,
  type FileSystem,
  FileSystemError,
  type OpenMode,
} from "../../ports/file-system.ts";
import type { Random } from "../../ports/random.ts";

type FileChange =
  | { readonly kind: "append"; readonly bytes: Uint8Array }
  | { readonly kind: "truncate"; readonly length: number };

type EntryChange =
  | { readonly kind: "create"; readonly name: string; readonly file: StoredFile }
  | { readonly kind: "rename"; readonly from: string; readonly to: string }
  | { readonly kind: "remove"; readonly name: string };

/** One file's contents (an inode: names point at it, handles hold it). */
class StoredFile {
  /** What the process sees: `data[0, size)`. Capacity grows by doubling. */
  private data = new Uint8Array(64);
  size = 0;
  /**
   * The durable image: `data[0, durableLength)` while no unsynced truncation has cut into it,
   * otherwise this copy, taken at that truncation (so syncs of a growing file copy nothing).
   */
  private durableCopy: Uint8Array | undefined;
  private durableLength = 0;
  /** Below this offset the durable image and `data` agree. */
  private stableLength = 0;
  private changes: FileChange[] = [];
  handles = 0;

  read(offset: number, length: number): Uint8Array {
    return this.data.slice(offset, Math.min(this.size, offset + length));
  }

  append(bytes: Uint8Array): void {
    this.write(bytes);
    this.changes.push({ kind: "append", bytes: bytes.slice() });
  }

  truncate(length: number): void {
    if (this.durableCopy === undefined && length < this.durableLength) {
      this.durableCopy = this.data.slice(0, this.durableLength);
    }
    this.size = length;
    this.stableLength = Math.min(this.stableLength, length);
    this.changes.push({ kind: "truncate", length });
  }

  sync(): void {
    this.durableCopy = undefined;
    this.durableLength = this.size;
    this.stableLength = this.size;
    this.changes = [];
  }

  /**
   * Replaces what the process sees with what a crash leaves: the durable image, then a prefix
   * of the unsynced changes, and of the first append not kept whole, a random prefix of its
   * bytes whose end may read as zeros (its size reached the disk before all its data).
   */
  crash(random: Random | undefined): void {
    const changes = this.changes;
    if (this.durableCopy !== undefined) {
      this.data = new Uint8Array(Math.max(64, this.durableCopy.length));
      this.data.set(this.durableCopy);
    }
    this.size = this.durableLength;
    const kept = random === undefined ? 0 : random.int(changes.length + 1);
    for (const change of changes.slice(0, kept)) {
      if (change.kind === "append") this.write(change.bytes);
      else this.size = change.length;
    }
    const torn = changes[kept];
    if (random !== undefined && torn?.kind === "append") {
      const keptBytes = random.int(torn.bytes.length + 1);
      const realBytes = random.int(2) === 0 ? keptBytes : random.int(keptBytes + 1);
      const tail = new Uint8Array(keptBytes);
      tail.set(torn.bytes.subarray(0, realBytes));
      this.write(tail);
    }
    this.sync();
    this.handles = 0;
  }

  flipBit(offset: number, bit: number): void {
    this.data[offset]! ^= 1 << bit;
    if (this.durableCopy !== undefined) this.durableCopy[offset]! ^= 1 << bit;
  }

  get synced(): number {
    return this.stableLength;
  }

  /** A new file holding this one's durable image, synced. */
  durableClone(): StoredFile {
    const clone = new StoredFile();
    const image = this.durableCopy ?? this.data.subarray(0, this.durableLength);
    clone.write(image.subarray(0, this.durableLength));
    clone.sync();
    return clone;
  }

  private write(bytes: Uint8Array): void {
    const end = this.size + bytes.length;
    if (end > this.data.length) {
      const grown = new Uint8Array(Math.max(end, 2 * this.data.length));
      grown.set(this.data.subarray(0, this.size));
      this.data = grown;
    }
    this.data.set(bytes, this.size);
    this.size = end;
  }
}

export type MemoryFileSystemOptions = {
  /** Bytes the files may hold in all; an append beyond fails as a full disk. */
  readonly capacityBytes?: number;
};

export class MemoryFileSystem implements FileSystem {
  /** Bytes the files may hold in all (the simulator may change it at any time). */
  capacityBytes: number;
  private entries = new Map<string, StoredFile>();
  private durableEntries = new Map<string, StoredFile>();
  private entryChanges: EntryChange[] = [];
  /** Files with open handles, listed or not (a removed file's space is held while open). */
  private openFiles = new Set<StoredFile>();
  /** Counts crashes: a handle from an earlier incarnation refuses to be used. */
  private incarnation = 0;

  constructor(options: MemoryFileSystemOptions = {}) {
    this.capacityBytes = options.capacityBytes ?? Number.POSITIVE_INFINITY;
    assert(
      this.capacityBytes >= 0,
      () => `capacityBytes is not negative, got ${this.capacityBytes}`,
    );
  }

  list(): string[] {
    return [...this.entries.keys()].sort();
  }

  open(name: string, mode: OpenMode): FileHandle {
    checkName(name);
    let file = this.entries.get(name);
    if (mode === "create") {
      if (file !== undefined) throw new FileSystemError("alreadyExists", `${name} already exists`);
      file = new StoredFile();
      this.entries.set(name, file);
      this.entryChanges.push({ kind: "create", name, file });
    } else if (file === undefined) {
      throw new FileSystemError("notFound", `${name} does not exist`);
    }
    file.handles += 1;
    this.openFiles.add(file);
    return new MemoryFileHandle(this, file, name, this.incarnation);
  }

  rename(from: string, to: string): void {
    checkName(from);
    checkName(to);
    const file = this.entries.get(from);
    if (file === undefined) {
      throw new FileSystemError("notFound", `cannot rename ${from}: no such file`);
    }
    this.entries.delete(from);
    this.entries.set(to, file);
    this.entryChanges.push({ kind: "rename", from, to });
  }

  remove(name: string): void {
    checkName(name);
    if (!this.entries.delete(name)) {
      throw new FileSystemError("notFound", `cannot remove ${name}: no such file`);
    }
    this.entryChanges.push({ kind: "remove", name });
  }

  syncDirectory(): void {
    this.durableEntries = new Map(this.entries);
    this.entryChanges = [];
  }

  /**
   * The process dies and the machine restarts: every handle is gone, and what remains is what
   * the durability contract promises, plus, when `random` is given, a random prefix of the
   * unsynced directory changes and of each file's unsynced changes, the first append not kept
   * whole torn (a random prefix of it, possibly ending in zeros). Without `random` every
   * unsynced change is lost. Draws are made in a fixed order (directory, then files by name),
   * so one seed replays one crash.
   */
  crash(random?: Random): void {
    const entries = new Map(this.durableEntries);
    const kept = random === undefined ? 0 : random.int(this.entryChanges.length + 1);
    for (const change of this.entryChanges.slice(0, kept)) applyEntryChange(entries, change);
    for (const name of [...entries.keys()].sort()) entries.get(name)!.crash(random);
    this.entries = entries;
    this.durableEntries = new Map(entries);
    this.entryChanges = [];
    this.openFiles.clear();
    this.incarnation += 1;
  }

  /**
   * A new file system holding what a crash now would certainly keep (`crash()` without a
   * `random`), leaving this one as it is: the simulator's checkers read it.
   */
  durableCopy(): MemoryFileSystem {
    const copy = new MemoryFileSystem();
    for (const [name, file] of [...this.durableEntries].sort(([a], [b]) => a < b ? -1 : 1)) {
      copy.entries.set(name, file.durableClone());
    }
    copy.durableEntries = new Map(copy.entries);
    return copy;
  }

  /**
   * Flips bit `bit` (0 = least significant) of byte `offset` of `name`, on the disk and in
   * what the process reads: media corruption of data at rest. The byte must be synced (below
   * every unsynced truncation too), where a flip means one thing in both views.
   */
  flipBit(name: string, offset: number, bit: number): void {
    const file = this.entries.get(name);
    assert(file !== undefined, () => `flipBit: ${name} does not exist`);
    assert(Number.isInteger(bit) && bit >= 0 && bit < 8, () => `a bit is 0 to 7, got ${bit}`);
    assert(
      Number.isInteger(offset) && offset >= 0 && offset < file.synced,
      () =>
        `flipBit corrupts synced bytes: byte ${offset} of ${name} is not among its first ` +
        `${file.synced}`,
    );
    file.flipBit(offset, bit);
  }

  /** Bytes in use: the size of every listed or open file, synced or not. */
  usedBytes(): number {
    let used = 0;
    for (const file of new Set([...this.entries.values(), ...this.openFiles])) used += file.size;
    return used;
  }

  /** For handles: the current incarnation, and the bookkeeping of a closing handle. */
  isCurrent(incarnation: number): boolean {
    return incarnation === this.incarnation;
  }

  released(file: StoredFile): void {
    file.handles -= 1;
    if (file.handles === 0) this.openFiles.delete(file);
  }
}

class MemoryFileHandle implements FileHandle {
  private closed = false;

  constructor(
    private readonly fs: MemoryFileSystem,
    private readonly file: StoredFile,
    readonly name: string,
    private readonly incarnation: number,
  ) {}

  size(): number {
    this.checkOpen();
    return this.file.size;
  }

  read(offset: number, length: number): Uint8Array {
    this.checkOpen();
    assert(
      Number.isInteger(offset) && offset >= 0 && offset <= this.file.size,
      () => `read of ${this.name}: offset ${offset} is not within its ${this.file.size} bytes`,
    );
    assert(Number.isInteger(length) && length >= 0, () => `a read length is >= 0, got ${length}`);
    return this.file.read(offset, length);
  }

  append(bytes: Uint8Array): void {
    this.checkOpen();
    // Without a capacity there is nothing to count (the sum below walks every file).
    const free = this.fs.capacityBytes === Number.POSITIVE_INFINITY
      ? Number.POSITIVE_INFINITY
      : Math.max(0, this.fs.capacityBytes - this.fs.usedBytes());
    if (bytes.length <= free) {
      this.file.append(bytes);
      return;
    }
    // A real write fills what space there is before ENOSPC: the caller sees a short write.
    if (free > 0) this.file.append(bytes.subarray(0, free));
    throw new FileSystemError(
      "noSpace",
      `no space left on the disk: appending ${bytes.length} bytes to ${this.name} wrote only ` +
        `${free} (capacity ${this.fs.capacityBytes} bytes, now all in use); free space or ` +
        `truncate ${this.name} back before appending again`,
    );
  }

  sync(): void {
    this.checkOpen();
    this.file.sync();
  }

  truncate(length: number): void {
    this.checkOpen();
    assert(
      Number.isInteger(length) && length >= 0 && length <= this.file.size,
      () => `truncate of ${this.name} shrinks it: ${length} is not from 0 to ${this.file.size}`,
    );
    this.file.truncate(length);
  }

  close(): void {
    this.checkOpen();
    this.closed = true;
    this.fs.released(this.file);
  }

  private checkOpen(): void {
    assert(!this.closed, () => `the handle to ${this.name} is closed`);
    assert(
      this.fs.isCurrent(this.incarnation),
      () => `the handle to ${this.name} was opened before a crash; open the file again`,
    );
  }
}

function checkName(name: string): void {
  const problem = fileNameProblem(name);
  assert(problem === undefined, () => problem!);
}

function applyEntryChange(entries: Map<string, StoredFile>, change: EntryChange): void {
  switch (change.kind) {
    case "create":
      entries.set(change.name, change.file);
      return;
    case "rename": {
      const file = entries.get(change.from);
      assert(file !== undefined, () => `replayed rename of ${change.from}, which is missing`);
      entries.delete(change.from);
      entries.set(change.to, file);
      return;
    }
    case "remove":
      entries.delete(change.name);
      return;
    default:
      unreachable(change);
  }
}

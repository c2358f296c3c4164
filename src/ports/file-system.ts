/**
 * The file port of the log engine: one directory of flat files, used synchronously (the host
 * is synchronous today; a later step moves I/O off the event loop behind this same shape). The
 * engine appends records to segment files, syncs them, reads them back at start-up and
 * truncates a torn tail; the simulator runs it over MemoryFileSystem, which keeps exactly the
 * promises written here and breaks every other one a real disk may break.
 *
 * The durability contract, POSIX's as Linux file systems keep it (ext4, XFS), stated strictly:
 *
 * - A file's **data and size** (appends, truncations) are durable once `FileHandle.sync`
 *   returns (fdatasync). Before that a crash keeps, of the changes since the last sync, some
 *   prefix in the order they were made, and the last change kept may be torn: an append cut
 *   short, its kept bytes possibly read back as zeros (the size reached the disk before the
 *   data did). A reader tells a torn tail by its content: hence the record checksums.
 * - The directory's **entries** (create, rename, remove) are durable once `syncDirectory`
 *   returns (fsync of the directory). A file's own sync does not make its name durable: a new
 *   file whose data was synced may still vanish in a crash until the directory is synced.
 *   Before that a crash keeps some prefix, in order, of the entry changes since the last
 *   directory sync.
 * - Nothing is promised about the order in which unsynced changes to different files, or to a
 *   file and the directory, reach the disk. A caller that needs an order syncs in between.
 * - Every read sees every change made so far, synced or not, as the running process would.
 *
 * Failures the caller cannot prevent (a full disk, an I/O error) throw `FileSystemError`; so do
 * a missing or already existing file, which the engine avoids by listing first, so that one
 * means something else touched the directory. A failed write leaves the node to crash and
 * recover from what is durable: retrying an fsync after an error is not safe (the kernel may
 * have dropped the dirty pages it could not write).
 */
import { fileNameCharsMax } from "../constants.ts";

export type FileSystemErrorCode = "noSpace" | "notFound" | "alreadyExists" | "io";

/** What a file operation could not do, as a real one reports ENOSPC, ENOENT, EEXIST or EIO. */
export class FileSystemError extends Error {
  override name = "FileSystemError";
  constructor(readonly code: FileSystemErrorCode, message: string) {
    super(message);
  }
}

/** How `FileSystem.open` treats the name: a new file, or one that must already be there. */
export type OpenMode = "create" | "existing";

/** One open file. Offsets and lengths are in bytes. */
export type FileHandle = {
  /** The name the file was opened under (it keeps working after a rename or a remove). */
  readonly name: string;
  /** The file's size as the running process sees it (synced or not). */
  size(): number;
  /**
   * Up to `length` bytes from `offset`, fewer only at the end of the file, in a new buffer
   * the caller owns. `offset` is at most `size()`; `read(0, size())` reads the whole file.
   */
  read(offset: number, length: number): Uint8Array;
  /**
   * Appends `bytes` at the end (the caller may reuse its buffer once this returns). Durable
   * only after `sync`. On a failure (`noSpace`, `io`) a prefix of `bytes` may have been
   * written (a short write): the caller truncates back to the size it knew before appending
   * again, or crashes.
   */
  append(bytes: Uint8Array): void;
  /**
   * fdatasync: when it returns, the file's data and size (every append and truncation made
   * through any handle) are durable. Not its name: see `FileSystem.syncDirectory`.
   */
  sync(): void;
  /** Shrinks the file to `length` bytes (at most `size()`); durable after `sync`. */
  truncate(length: number): void;
  /** Releases the handle; unsynced changes stay as unsynced as they were. */
  close(): void;
};

export type FileSystem = {
  /** The names in the directory as the process sees it, durable or not, in sorted order. */
  list(): string[];
  /**
   * Opens `name` for reading and appending. `"create"` makes a new empty file (and fails with
   * `alreadyExists` if there is one); its name is durable after `syncDirectory`. `"existing"`
   * fails with `notFound` if there is none.
   */
  open(name: string, mode: OpenMode): FileHandle;
  /**
   * Renames `from` to `to` atomically, replacing a file named `to`: a crash leaves either the
   * old names or the new ones, never neither, and it is durable after `syncDirectory`. Open
   * handles keep working on the file.
   */
  rename(from: string, to: string): void;
  /**
   * Removes `name`; durable after `syncDirectory`. Its space is freed when the last handle to
   * it closes, as on POSIX.
   */
  remove(name: string): void;
  /** fsync of the directory: every create, rename and remove before it is durable. */
  syncDirectory(): void;
};

/**
 * Why `name` cannot be a file name in the log directory, or undefined if it can. Names are
 * flat (no separators, no "." or ".."), so an adapter joins them to its directory without any
 * path traversal, and case-distinct file systems and case-folding ones see the same files.
 */
export function fileNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > fileNameCharsMax) {
    return `a file name is 1 to ${fileNameCharsMax} characters, got ${name.length}`;
  }
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) {
    return `a file name is lowercase letters, digits, ".", "_" and "-", not starting with ` +
      `".", "_" or "-", got ${JSON.stringify(name)}`;
  }
  return undefined;
}

/**
 * Auth files and raw binary connections for the tests of client authentication
 * (docs/security.md): clients are added by running `kahuna auth add` itself, so every test
 * that uses a token also checks the command that made it.
 */
import { connect, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { join } from "node:path";
import { encodeFrame, FrameReader } from "../../src/codec/frame.ts";
import { decodeMsgpack, encodeMsgpack } from "../../src/codec/msgpack.ts";
import { frameBytesMax } from "../../src/constants.ts";
import { bunBin, mainTs, repoRoot } from "./server.ts";

/** Runs `kahuna auth ARGS`; its status, stdout (trimmed) and stderr. */
export function kahunaAuth(args: string[]): { status: number; out: string; err: string } {
  const result = Bun.spawnSync([bunBin, mainTs, "auth", ...args], {
    cwd: repoRoot,
    env: { ...process.env, KAHUNA_AUTH_FILE: "" },
  });
  return {
    status: result.exitCode,
    out: result.stdout.toString().trim(),
    err: result.stderr.toString(),
  };
}

/** Adds a client to `file` with `kahuna auth add`; its token. */
export function addClient(file: string, name: string, flags: string[]): string {
  const added = kahunaAuth(["add", name, "--file", file, ...flags]);
  if (added.status !== 0 || !/^kahuna_[A-Za-z0-9_-]{43}$/.test(added.out)) {
    throw new Error(`kahuna auth add ${name} failed (${added.status}): ${added.out} ${added.err}`);
  }
  return added.out;
}

export type Tokens = { ci: string; ro: string; ops: string; all: string };

/**
 * An auth file in `dir` with four clients: ci may lock jobs/ (and so read it), ro may only
 * read jobs/, ops is an admin with no locks, all may lock everything.
 */
export function standardAuthFile(dir: string): { file: string; tokens: Tokens } {
  const file = join(dir, "auth.json");
  const tokens = {
    ci: addClient(file, "ci", ["--prefix", "jobs/"]),
    ro: addClient(file, "ro", ["--prefix", "jobs/", "--read-only"]),
    ops: addClient(file, "ops", ["--admin"]),
    all: addClient(file, "all", ["--prefix", ""]),
  };
  return { file, tokens };
}

/** A raw connection to a binary port: send items, read answers as msgpack values. */
export class RawBinary {
  readonly #reader = new FrameReader(frameBytesMax);
  readonly #answers: unknown[][] = [];
  #waiters: (() => void)[] = [];
  #closed = false;

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Uint8Array) => {
      const frames = this.#reader.push(chunk);
      if (!Array.isArray(frames)) throw new Error(frames.error);
      for (const frame of frames) {
        const value = decodeMsgpack(frame) as [number, unknown[][]];
        this.#answers.push(...value[1]);
      }
      this.#wake();
    });
    socket.on("close", () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on("error", () => {});
  }

  /** Over TLS when `ca` (the CA of the server's certificate) is given. */
  static open(port: number, ca?: string): Promise<RawBinary> {
    return new Promise((resolve, reject) => {
      const socket: Socket = ca === undefined
        ? connect(port, "127.0.0.1", () => resolve(new RawBinary(socket)))
        : connectTls({ port, host: "127.0.0.1", ca }, () => resolve(new RawBinary(socket)));
      socket.once("error", reject);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one frame `[1, items]`. */
  send(items: unknown[]): void {
    this.sendPayload(encodeMsgpack([1, items]));
  }

  sendPayload(payload: Uint8Array): void {
    this.socket.write(encodeFrame(payload, frameBytesMax));
  }

  /** The next `count` answers, `[id, type, token, owner, expiresMs, error]`, within 5 s. */
  async answers(count: number): Promise<unknown[][]> {
    const deadline = Date.now() + 5_000;
    while (this.#answers.length < count) {
      if (this.#closed) throw new Error(`connection closed after ${this.#answers.length} answers`);
      if (Date.now() > deadline) {
        throw new Error(`only ${this.#answers.length} of ${count} answers`);
      }
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return this.#answers.splice(0, count);
  }

  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

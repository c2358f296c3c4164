/**
 * A tiny pipelined Redis client (RESP2 over node:net) for the peer comparison, so the
 * benchmark needs no new dependency. Commands are written as they are issued (all commands of
 * one turn in one write) and Redis answers in order, so answers are matched to calls first in,
 * first out. Only what the lock recipe needs: simple strings, errors, integers, bulk strings,
 * arrays.
 */
import { connect, type Socket } from "node:net";

export type RespValue = string | number | null | RespError | RespValue[];

export class RespError {
  constructor(readonly message: string) {}
}

type Waiter = { resolve: (value: RespValue) => void; reject: (error: Error) => void };

export class RespClient {
  readonly #socket: Socket;
  readonly #waiters: Waiter[] = [];
  #head = 0;
  #buffer: Buffer = Buffer.alloc(0);
  #queued: Buffer[] = [];
  #closed: Error | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("error", (error) => this.#fail(error));
    socket.on("close", () => this.#fail(new Error("redis closed the connection")));
  }

  static open(host: string, port: number): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      socket.once("connect", () => {
        socket.removeAllListeners("error");
        resolve(new RespClient(socket));
      });
      socket.once("error", reject);
    });
  }

  command(...args: (string | number)[]): Promise<RespValue> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    const parts = [`*${args.length}\r\n`];
    for (const arg of args) {
      const text = String(arg);
      parts.push(`$${Buffer.byteLength(text)}\r\n${text}\r\n`);
    }
    if (this.#queued.length === 0) queueMicrotask(() => this.#flush());
    this.#queued.push(Buffer.from(parts.join("")));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  close(): void {
    this.#fail(new Error("closed by the client"));
  }

  #flush(): void {
    const chunks = this.#queued;
    this.#queued = [];
    if (this.#closed === undefined && chunks.length > 0) this.#socket.write(Buffer.concat(chunks));
  }

  #receive(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    let offset = 0;
    for (;;) {
      const parsed = parse(this.#buffer, offset);
      if (parsed === undefined) break;
      offset = parsed.next;
      const waiter = this.#waiters[this.#head];
      if (waiter === undefined) return this.#fail(new Error("redis answered a command never sent"));
      this.#head += 1;
      waiter.resolve(parsed.value);
    }
    this.#buffer = this.#buffer.subarray(offset);
    if (this.#head > 1024) {
      this.#waiters.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #fail(error: Error): void {
    if (this.#closed !== undefined) return;
    this.#closed = error;
    this.#socket.destroy();
    for (const waiter of this.#waiters.slice(this.#head)) waiter.reject(error);
    this.#waiters.length = 0;
    this.#head = 0;
  }
}

/** One value from `offset`, or undefined when the buffer does not hold all of it yet. */
export function parse(
  buffer: Buffer,
  offset: number,
): { value: RespValue; next: number } | undefined {
  const end = buffer.indexOf("\r\n", offset);
  if (end < 0) return undefined;
  const kind = String.fromCharCode(buffer[offset]!);
  const line = buffer.toString("utf8", offset + 1, end);
  const next = end + 2;
  switch (kind) {
    case "+":
      return { value: line, next };
    case "-":
      return { value: new RespError(line), next };
    case ":":
      return { value: Number(line), next };
    case "$": {
      const length = Number(line);
      if (length < 0) return { value: null, next };
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString("utf8", next, next + length), next: next + length + 2 };
    }
    case "*": {
      const count = Number(line);
      if (count < 0) return { value: null, next };
      const items: RespValue[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buffer, at);
        if (item === undefined) return undefined;
        items.push(item.value);
        at = item.next;
      }
      return { value: items, next: at };
    }
    default:
      throw new Error(`not a RESP value: ${JSON.stringify(buffer.toString("utf8", offset, end))}`);
  }
}

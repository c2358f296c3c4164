/**
 * One connection of the client binary protocol (docs/architecture.md) over `node:net` (`node:tls`
 * when the server uses TLS), so it runs on Bun, Deno and Node alike. Many requests are in flight
 * at once: every request issued in the same turn of the event loop goes out in one frame, and
 * answers are matched by id in whatever order the server sends them.
 *
 * Invariants:
 * - Every call settles exactly once: with the server's answer, or with a
 *   BinaryConnectionError when the connection fails or the call outlives `timeoutMs`.
 * - Request ids are never reused on a connection, so a late answer to a call that already
 *   timed out is recognised and dropped.
 * - The socket keeps the process alive only while calls are pending: an idle client never
 *   holds a script open.
 */
import { connect, isIP, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { assert } from "../assert.ts";
import { decodeAnswers, encodeRequests } from "../codec/client-frame.ts";
import { encodeFrame, FrameReader } from "../codec/frame.ts";
import type { RouteInfo, WireAnswer } from "../codec/lock-wire.ts";
import type { ClientItem } from "../codec/client-frame.ts";
import { frameBytesMax } from "../constants.ts";
import { type LockRequest, type LockResponse, ResponseType } from "../locks/types.ts";
import type { BinaryAddress } from "./binary-address.ts";

export { type BinaryAddress, parseBinaryAddress } from "./binary-address.ts";

/** Why a call has no answer: "unreachable" never reached the server; the others may have. */
export type BinaryFailure = "unreachable" | "closed" | "timeout";

export class BinaryConnectionError extends Error {
  override name = "BinaryConnectionError";
  readonly failure: BinaryFailure;

  constructor(failure: BinaryFailure, message: string) {
    super(message);
    this.failure = failure;
  }
}

type Pending = {
  readonly resolve: (answer: WireAnswer) => void;
  readonly reject: (error: BinaryConnectionError) => void;
  readonly deadlineMs: number;
  readonly timeoutMs: number;
};

/** Calls one connection may have in flight; the server allows 4096 (net/binary-server.ts). */
export const binaryInflightMax = 4096;

export class BinaryConnection {
  readonly address: BinaryAddress;
  readonly #socket: Socket;
  readonly #timeoutMs: number;
  readonly #reader = new FrameReader(frameBytesMax);
  readonly #pending = new Map<number, Pending>();
  #queued: ClientItem[] = [];
  #nextId = 1;
  #closed: BinaryConnectionError | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer fires. */
  #timerAtMs = 0;
  #referenced = false;

  private constructor(address: BinaryAddress, socket: Socket, timeoutMs: number) {
    this.address = address;
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Uint8Array) => this.#receive(chunk));
    socket.on(
      "error",
      (error: Error) => this.#fail("closed", `connection failed: ${error.message}`),
    );
    socket.on("close", () => this.#fail("closed", "the server closed the connection"));
    socket.unref();
  }

  /**
   * Connects (over TLS with `tls`, trusting `tls.ca` besides the system's CAs when given);
   * rejects with an "unreachable" BinaryConnectionError within `timeoutMs`. With `token`, the
   * connection's first item is the auth handshake (docs/security.md); it leaves in the frame
   * of the first requests, which the server judges after it, so no call waits for it.
   */
  static open(
    address: BinaryAddress,
    timeoutMs: number,
    tls?: { readonly ca?: string | undefined },
    token?: string,
  ): Promise<BinaryConnection> {
    assert(timeoutMs >= 1, "a connection timeout is at least 1 ms");
    return new Promise((resolve, reject) => {
      const socket = tls === undefined
        ? connect({ host: address.host, port: address.port })
        : connectTls({
          host: address.host,
          port: address.port,
          ...(tls.ca === undefined ? {} : { ca: tls.ca }),
          // The certificate must name the host: an IP SAN for an address, else a DNS SAN.
          ...(isIP(address.host) === 0 ? { servername: address.host } : {}),
        });
      const where = `${address.host}:${address.port}`;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new BinaryConnectionError(
            "unreachable",
            `no connection to ${where} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      socket.once(tls === undefined ? "connect" : "secureConnect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        const connection = new BinaryConnection(address, socket, timeoutMs);
        // Its answer (Got with the client's name, or Unauthorized) needs no handling: a refused
        // token makes every request of the connection answer Unauthorized, with the reason.
        if (token !== undefined) connection.#send((id) => ({ id, token })).catch(() => {});
        resolve(connection);
      });
      socket.once("error", (error: Error & { code?: string }) => {
        clearTimeout(timer);
        socket.destroy();
        const reason = error.code === "ECONNREFUSED"
          ? "connection refused"
          : (error.code ?? error.message);
        reject(new BinaryConnectionError("unreachable", `${where} is unreachable (${reason})`));
      });
    });
  }

  get isOpen(): boolean {
    return this.#closed === undefined;
  }

  /** Calls waiting for an answer. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Sends one request; it leaves with the others issued in the same turn. `extraMs` lengthens
   * its time-out (a TryLock that waits in line is answered up to its waitMs later).
   */
  execute(request: LockRequest, extraMs = 0): Promise<LockResponse> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    if (this.#pending.size >= binaryInflightMax) {
      return Promise.resolve({
        type: ResponseType.MustRetry,
        fencingToken: 0,
        error: "too many calls in flight on one connection",
      });
    }
    return this.#send((id) => ({ id, request }), extraMs).then((answer) => answer.response);
  }

  /** Asks the server which node it is and where it sees each partition's leader. */
  route(): Promise<RouteInfo> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    return this.#send((id) => ({ id, route: true })).then((answer) => {
      if (answer.route !== undefined) return answer.route;
      throw new BinaryConnectionError(
        "closed",
        "the server answered a route request without a route",
      );
    });
  }

  #send(item: (id: number) => ClientItem, extraMs = 0): Promise<WireAnswer> {
    const id = this.#nextId;
    this.#nextId += 1;
    return new Promise((resolve, reject) => {
      const timeoutMs = this.#timeoutMs + extraMs;
      const deadlineMs = performance.now() + timeoutMs;
      this.#pending.set(id, { resolve, reject, deadlineMs, timeoutMs });
      if (this.#queued.length === 0) queueMicrotask(() => this.#flush());
      this.#queued.push(item(id));
      this.#reference(true);
      if (this.#timer === undefined || deadlineMs < this.#timerAtMs) this.#armTimer(timeoutMs);
    });
  }

  close(): void {
    this.#fail("closed", "the connection was closed by the client");
  }

  #flush(): void {
    const requests = this.#queued;
    this.#queued = [];
    if (this.#closed !== undefined || requests.length === 0) return;
    this.#socket.write(encodeFrame(encodeRequests(requests), frameBytesMax));
  }

  #receive(chunk: Uint8Array): void {
    const frames = this.#reader.push(chunk);
    if (!Array.isArray(frames)) return this.#fail("closed", `unreadable answer: ${frames.error}`);
    for (const frame of frames) {
      const answers = decodeAnswers(frame);
      if (!Array.isArray(answers)) {
        return this.#fail("closed", `unreadable answer: ${answers.error}`);
      }
      for (const answer of answers) {
        const pending = this.#pending.get(answer.id);
        // An unknown id is the late answer to a call that already timed out.
        if (pending === undefined) continue;
        this.#pending.delete(answer.id);
        pending.resolve(answer);
      }
    }
    if (this.#pending.size === 0) this.#reference(false);
  }

  /**
   * Expires overdue calls and sets the timer for the next. Time-outs differ (a call that waits
   * in line has a longer one), so every pending call is looked at: at most binaryInflightMax.
   */
  #expire(): void {
    this.#timer = undefined;
    const nowMs = performance.now();
    let nextMs = Number.POSITIVE_INFINITY;
    for (const [id, pending] of this.#pending) {
      if (pending.deadlineMs > nowMs) {
        nextMs = Math.min(nextMs, pending.deadlineMs);
        continue;
      }
      this.#pending.delete(id);
      pending.reject(
        new BinaryConnectionError("timeout", `no answer within ${pending.timeoutMs} ms`),
      );
    }
    if (nextMs !== Number.POSITIVE_INFINITY) this.#armTimer(nextMs - nowMs);
    else this.#reference(false);
  }

  #armTimer(delayMs: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const waitMs = Math.max(1, Math.ceil(delayMs));
    this.#timerAtMs = performance.now() + waitMs;
    this.#timer = setTimeout(() => this.#expire(), waitMs);
    unrefTimer(this.#timer);
  }

  #reference(on: boolean): void {
    if (this.#referenced === on || this.#closed !== undefined) return;
    this.#referenced = on;
    if (on) this.#socket.ref();
    else this.#socket.unref();
  }

  #fail(failure: BinaryFailure, message: string): void {
    if (this.#closed !== undefined) return;
    const error = new BinaryConnectionError(failure, message);
    this.#closed = error;
    this.#queued = [];
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#socket.destroy();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const call of pending) call.reject(error);
  }
}

/** A timer that does not keep the process alive: the socket does that while calls wait. */
function unrefTimer(timer: ReturnType<typeof setTimeout>): void {
  if (typeof timer === "object" && timer !== null && "unref" in timer) {
    (timer as { unref(): void }).unref();
    return;
  }
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  deno?.unrefTimer?.(timer as unknown as number);
}

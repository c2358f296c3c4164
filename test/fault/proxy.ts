/**
 * A fault-injecting TCP proxy for one directed peer link (node i → node j). Node i is told
 * that node j lives at this proxy's port; the proxy forwards every connection to j's real
 * peer port. Peer connections carry frames one way (the dialler's messages to the listener),
 * so a proxy per directed link lets the nemesis cut one direction and not the other.
 *
 * Modes:
 * - "pass": bytes flow as they come.
 * - "delay": every chunk is held `delayMs` before it is forwarded, in order.
 * - "cut": open connections are closed and new ones closed at once (like a REJECT rule);
 *   the dialler sees the loss and redials with backoff.
 * - "blackhole": bytes are read and thrown away, connections stay open (like a DROP rule).
 *   Leaving a blackhole closes the connections it swallowed from, since their byte streams
 *   lost data mid-frame (a real TCP connection would time out instead of resuming).
 *
 * The proxy binds 127.0.0.1 only, on a port freePort gives (test/helpers/server.ts).
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { freePort } from "../helpers/server.ts";

export type LinkMode =
  | { readonly kind: "pass" }
  | { readonly kind: "delay"; readonly delayMs: number }
  | { readonly kind: "cut" }
  | { readonly kind: "blackhole" };

type Pair = {
  readonly inbound: Socket;
  readonly outbound: Socket;
  dirty: boolean;
  /** Chunks held by a delay, oldest first, each with the time it may leave. */
  readonly held: { readonly chunk: Buffer; readonly atMs: number }[];
  timer: ReturnType<typeof setTimeout> | undefined;
};

/** Chunks a proxy may hold for delay before it drops the connection instead (bounded memory). */
const delayedChunksMax = 10_000;

export class LinkProxy {
  private mode: LinkMode = { kind: "pass" };
  private readonly pairs = new Set<Pair>();
  private server: Server | undefined;
  port = 0;
  /** Bytes forwarded and thrown away, for the report. */
  bytesForwarded = 0;
  bytesDropped = 0;

  constructor(readonly from: string, readonly to: string, private readonly targetPort: number) {}

  async start(): Promise<number> {
    const server = createServer((inbound) => this.accept(inbound));
    this.server = server;
    // A port from freePort, not one the OS picks now: it may pick one freePort handed out
    // already, to a node that has not bound it yet.
    const port = await freePort();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    this.port = typeof address === "object" && address !== null ? address.port : 0;
    return this.port;
  }

  get currentMode(): LinkMode {
    return this.mode;
  }

  setMode(mode: LinkMode): void {
    const was = this.mode;
    this.mode = mode;
    if (mode.kind === "cut") {
      for (const pair of [...this.pairs]) this.close(pair);
    }
    if (was.kind === "blackhole" && mode.kind !== "blackhole") {
      for (const pair of [...this.pairs]) if (pair.dirty) this.close(pair);
    }
  }

  private accept(inbound: Socket): void {
    if (this.mode.kind === "cut") {
      inbound.destroy();
      return;
    }
    const outbound = createConnection({ host: "127.0.0.1", port: this.targetPort });
    const pair: Pair = { inbound, outbound, dirty: false, held: [], timer: undefined };
    this.pairs.add(pair);
    inbound.on("data", (chunk: Buffer) => {
      const mode = this.mode;
      if (mode.kind === "blackhole") {
        pair.dirty = true;
        this.bytesDropped += chunk.length;
        return;
      }
      if (mode.kind === "cut") return;
      const last = pair.held.at(-1);
      if (mode.kind === "pass" && last === undefined) {
        this.forward(pair, chunk);
        return;
      }
      if (pair.held.length >= delayedChunksMax) {
        this.close(pair);
        return;
      }
      // Keep order: a chunk never leaves before the one ahead of it, and one passed while
      // chunks are still held waits behind them.
      const delayMs = mode.kind === "delay" ? mode.delayMs : 0;
      const atMs = Math.max(last?.atMs ?? 0, performance.now() + delayMs);
      pair.held.push({ chunk, atMs });
      if (pair.timer === undefined) this.release(pair);
    });
    // The listener never writes back on a peer connection, but pass anything through.
    outbound.on("data", (chunk: Buffer) => {
      if (this.mode.kind === "pass" || this.mode.kind === "delay") inbound.write(chunk);
    });
    const end = () => this.close(pair);
    inbound.on("close", end);
    outbound.on("close", end);
    inbound.on("error", end);
    outbound.on("error", end);
  }

  /**
   * Forwards the held chunks whose time has come and arms one timer for the next. A timer may
   * fire a little early (Bun rounds its delay), so the time is checked, not trusted: a delay is
   * never shorter than asked.
   */
  private release(pair: Pair): void {
    pair.timer = undefined;
    let head = pair.held[0];
    while (head !== undefined && head.atMs <= performance.now()) {
      pair.held.shift();
      this.forward(pair, head.chunk);
      head = pair.held[0];
    }
    if (head === undefined || !this.pairs.has(pair)) return;
    pair.timer = setTimeout(() => this.release(pair), Math.ceil(head.atMs - performance.now()));
  }

  private forward(pair: Pair, chunk: Buffer): void {
    if (!this.pairs.has(pair)) return;
    if (this.mode.kind === "cut" || this.mode.kind === "blackhole") {
      // A chunk held back by a delay and now thrown away leaves the stream mid-frame.
      pair.dirty = true;
      this.bytesDropped += chunk.length;
      return;
    }
    this.bytesForwarded += chunk.length;
    pair.outbound.write(chunk);
  }

  private close(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    clearTimeout(pair.timer);
    pair.held.length = 0;
    pair.inbound.destroy();
    pair.outbound.destroy();
  }

  async stop(): Promise<void> {
    for (const pair of [...this.pairs]) this.close(pair);
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

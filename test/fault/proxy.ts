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
 * The proxy binds 127.0.0.1 only, on a port the OS picks.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export type LinkMode =
  | { readonly kind: "pass" }
  | { readonly kind: "delay"; readonly delayMs: number }
  | { readonly kind: "cut" }
  | { readonly kind: "blackhole" };

type Pair = {
  readonly inbound: Socket;
  readonly outbound: Socket;
  dirty: boolean;
  releaseAtMs: number;
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
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
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
    const pair: Pair = { inbound, outbound, dirty: false, releaseAtMs: 0 };
    this.pairs.add(pair);
    let delayed = 0;
    inbound.on("data", (chunk: Buffer) => {
      const mode = this.mode;
      if (mode.kind === "blackhole") {
        pair.dirty = true;
        this.bytesDropped += chunk.length;
        return;
      }
      if (mode.kind === "cut") return;
      if (mode.kind === "delay") {
        if (++delayed > delayedChunksMax) {
          this.close(pair);
          return;
        }
        // Keep order: a chunk never leaves before the one ahead of it.
        pair.releaseAtMs = Math.max(pair.releaseAtMs, performance.now() + mode.delayMs);
        setTimeout(() => {
          delayed -= 1;
          this.forward(pair, chunk);
        }, pair.releaseAtMs - performance.now());
        return;
      }
      if (pair.releaseAtMs > performance.now()) {
        // Chunks still held by an earlier delay go first.
        setTimeout(() => this.forward(pair, chunk), pair.releaseAtMs - performance.now());
        return;
      }
      this.forward(pair, chunk);
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

/**
 * What the runtime glue needs from Bun or Deno. Each runtime implements it in its own
 * adapter folder; `loadRuntime` picks one with a dynamic import, so neither runtime ever
 * loads the other's modules.
 */
import type { SqlDatabase } from "../adapters/sqlite-log-store.ts";

/** A listener's certificate and key (PEM text). */
export type TlsMaterial = { readonly cert: string; readonly key: string };

/** A TLS listener; with `ca`, clients must present a certificate that CA signed (mutual TLS). */
export type ServerTls = TlsMaterial & { readonly ca?: string };

/** A TLS dial: the server's certificate must be signed by `ca`; `cert`/`key` identify us. */
export type ClientTls = { readonly ca: string; readonly cert?: string; readonly key?: string };

export type HttpListener = {
  readonly port: number;
  stop(): Promise<void>;
  /** HTTPS only: later connections use this certificate; open ones keep theirs. */
  reloadTls?(tls: TlsMaterial): Promise<void>;
};

/** A TCP connection as the runtime glue sees it: bytes in through a callback, bytes out. */
export type TcpSocket = {
  /** Queues bytes; false when more than `bufferedBytesMax` wait (the caller drops the peer). */
  write(bytes: Uint8Array): boolean;
  close(): void;
  /**
   * Over TLS, what the other side's verified certificate names (runtime/tls.ts,
   * certificateIdentities); empty when it showed none.
   */
  readonly peerIdentities?: readonly string[];
};

export type TcpHandlers = {
  onData(bytes: Uint8Array): void;
  onClose(): void;
};

export type TcpListener = {
  readonly port: number;
  stop(): void;
  /** TLS only: later connections use this material; open ones keep theirs. */
  reloadTls?(tls: ServerTls): void;
};

export type RuntimeAdapter = {
  readonly name: "bun" | "deno";
  openDatabase(path: string): SqlDatabase;
  serveHttp(options: {
    hostname: string;
    port: number;
    /** `holdOpen` lifts the idle timeout for this request (one that waits in line). */
    fetch: (request: Request, holdOpen: () => void) => Response | Promise<Response>;
    /** Serve HTTPS with this certificate. */
    tls?: TlsMaterial | undefined;
  }): HttpListener;
  /** Accepts connections; `onOpen` returns the handlers for each new socket. */
  listenTcp(options: {
    hostname: string;
    port: number;
    onOpen(socket: TcpSocket): TcpHandlers;
  }): TcpListener;
  /** Connects; rejects when the peer cannot be reached. */
  connectTcp(
    options: { hostname: string; port: number; handlers: TcpHandlers },
  ): Promise<TcpSocket>;
  /**
   * listenTcp over TLS. A connection opens only after its handshake succeeded (and, with
   * `tls.ca`, the client's certificate verified); a failed one is reported to `onRefused`.
   */
  listenTls(options: {
    hostname: string;
    port: number;
    onOpen(socket: TcpSocket): TcpHandlers;
    tls: ServerTls;
    onRefused?(reason: string): void;
  }): Promise<TcpListener>;
  /** connectTcp over TLS: resolves once the handshake succeeded. */
  connectTls(
    options: { hostname: string; port: number; handlers: TcpHandlers; tls: ClientTls },
  ): Promise<TcpSocket>;
  /** Calls `handler` on SIGINT and SIGTERM. */
  onSignals(handler: (signal: string) => void): void;
  exit(code: number): never;
};

export function runtimeName(): "bun" | "deno" {
  const global = globalThis as { Bun?: unknown; Deno?: unknown };
  if (global.Bun !== undefined) return "bun";
  if (global.Deno !== undefined) return "deno";
  throw new Error("kahuna runs on Bun or Deno; this runtime is neither");
}

export async function loadRuntime(): Promise<RuntimeAdapter> {
  if (runtimeName() === "bun") return (await import("../adapters/bun/runtime.ts")).bunRuntime;
  const denoModule = "../adapters/deno/runtime.ts";
  return (await import(denoModule)).denoRuntime as RuntimeAdapter;
}

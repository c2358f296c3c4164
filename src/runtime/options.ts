/**
 * How a node is started (`kahuna serve`, docs/cli.md). The CLI parses flags and KAHUNA_*
 * environment variables into this; the runtime starts a node from it.
 */
import type { NodeId } from "../raft/types.ts";
import type { LogFormat, LogLevel } from "./logger.ts";

export type PeerAddress = { readonly id: NodeId; readonly host: string; readonly port: number };

/** A certificate and its private key, as PEM files (`--tls-cert`/`--tls-key`). */
export type TlsFiles = { readonly certFile: string; readonly keyFile: string };

/** Peer links' mutual TLS: this node's certificate and key, and the cluster CA's certificate. */
export type PeerTlsFiles = TlsFiles & { readonly caFile: string };

export type ServeOptions = {
  readonly nodeId: NodeId; // default "1"
  /** Address the HTTP and peer listeners bind to; default "127.0.0.1". */
  readonly host: string;
  readonly httpPort: number; // default 2070
  readonly peerPort: number; // default 2071
  /** The client binary protocol's port (docs/architecture.md); default 2072, 0 picks a free one. */
  readonly binaryPort?: number;
  readonly dataDir: string; // default "./data"
  /** Every voter, this node included. Default: just this node (a single-node cluster). */
  readonly initialCluster: readonly PeerAddress[];
  readonly partitions: number; // default 16
  /** How long a released or expired lock's record is kept before it is swept; default 1 h. */
  readonly sweepGraceMs: number;
  /** The log on stderr: readable text (default) or JSON lines. */
  readonly logFormat: LogFormat;
  /** The least level logged (default info; --quiet is error). */
  readonly logLevel: LogLevel;
  /** HTTPS and the binary protocol over TLS; absent: plain HTTP and TCP. */
  readonly tls?: TlsFiles | undefined;
  /** Mutual TLS between nodes; absent: plain TCP peer links. */
  readonly peerTls?: PeerTlsFiles | undefined;
  /** The clients this node accepts, with their tokens' digests (--auth-file); absent: all. */
  readonly authFile?: string | undefined;
};

export type RunningServer = {
  readonly httpPort: number;
  readonly binaryPort: number | undefined;
  /** Stops listeners, flushes, closes storage. Idempotent. */
  stop(): Promise<void>;
  /**
   * Reads the TLS files again (SIGHUP): later connections use them, open ones go on. False,
   * and the certificates in use are kept, when a file cannot be loaded.
   */
  reloadTls(): Promise<boolean>;
  /**
   * Reads the auth file again (SIGHUP): every later request, on open connections too, is judged
   * by it. False, and the file in use is kept, when it cannot be loaded (or there is none).
   */
  reloadAuth(): boolean;
};

/**
 * `kahuna serve` (docs/cli.md): flags and KAHUNA_* environment variables (a flag wins) become
 * ServeOptions, checked here with messages that name the flag; then the runtime starts a
 * node, and SIGINT/SIGTERM stop it cleanly.
 */
import process from "node:process";
import {
  binaryPortDefault,
  httpPortDefault,
  partitionsDefault,
  partitionsMax,
  peerPortDefault,
  sweepGraceMsDefault,
  sweepGraceMsMax,
} from "../constants.ts";
import { type LogFormat, logFormats, type LogLevel, logLevels } from "../runtime/logger.ts";
import type { PeerAddress, ServeOptions } from "../runtime/options.ts";
import { parseDurationMs } from "./duration.ts";
import { ExitStatus } from "./exit-status.ts";
import { parseFlags } from "./flags.ts";
import type { Io } from "./io.ts";

export const serveUsage =
  "usage: kahuna serve [--node-id ID] [--host ADDR] [--http-port N] [--peer-port N]\n" +
  "                    [--binary-port N] [--data-dir DIR] [--initial-cluster ID=HOST:PORT,...]\n" +
  "                    [--partitions N] [--sweep-grace DURATION]\n" +
  "                    [--tls-cert FILE --tls-key FILE]\n" +
  "                    [--peer-tls-cert FILE --peer-tls-key FILE --peer-ca FILE]\n" +
  "                    [--auth-file FILE] [--insecure]\n" +
  "                    [--log-format text|json] [--log-level debug|info|warn|error] [--quiet]\n" +
  "                    (each also as KAHUNA_NODE_ID, KAHUNA_HTTP_PORT, …, KAHUNA_LOG_LEVEL)";

type Env = Readonly<Record<string, string | undefined>>;

export type ServeParsed =
  | { readonly kind: "run"; readonly options: ServeOptions }
  | { readonly kind: "help" }
  | { readonly kind: "usage"; readonly message: string };

const flagEnv = {
  "node-id": "KAHUNA_NODE_ID",
  "host": "KAHUNA_HOST",
  "http-port": "KAHUNA_HTTP_PORT",
  "peer-port": "KAHUNA_PEER_PORT",
  "binary-port": "KAHUNA_BINARY_PORT",
  "data-dir": "KAHUNA_DATA_DIR",
  "initial-cluster": "KAHUNA_INITIAL_CLUSTER",
  "partitions": "KAHUNA_PARTITIONS",
  "sweep-grace": "KAHUNA_SWEEP_GRACE",
  "log-format": "KAHUNA_LOG_FORMAT",
  "log-level": "KAHUNA_LOG_LEVEL",
  "tls-cert": "KAHUNA_TLS_CERT",
  "tls-key": "KAHUNA_TLS_KEY",
  "peer-tls-cert": "KAHUNA_PEER_TLS_CERT",
  "peer-tls-key": "KAHUNA_PEER_TLS_KEY",
  "peer-ca": "KAHUNA_PEER_CA",
  "auth-file": "KAHUNA_AUTH_FILE",
} as const;
type ValueFlag = keyof typeof flagEnv;

class UsageProblem extends Error {}

export function parseServeOptions(args: readonly string[], env: Env): ServeParsed {
  const flags = parseFlags(args, {
    ...Object.fromEntries(Object.keys(flagEnv).map((flag) => [flag, "string" as const])),
    "quiet": "boolean",
    "insecure": "boolean",
    "help": "boolean",
  });
  if (typeof flags === "string") return { kind: "usage", message: flags };
  if (flags.positionals.length > 0) {
    return {
      kind: "usage",
      message: `serve takes only flags, got ${JSON.stringify(flags.positionals[0])}`,
    };
  }
  const values = {
    help: flags.booleans.has("help"),
    quiet: flags.booleans.has("quiet"),
    ...Object.fromEntries(flags.strings) as Partial<Record<ValueFlag, string>>,
  };
  if (values.help === true) return { kind: "help" };
  const pick = (flag: ValueFlag): string | undefined => {
    const fromFlag = values[flag];
    if (fromFlag !== undefined) return fromFlag;
    const fromEnv = env[flagEnv[flag]];
    return fromEnv === undefined || fromEnv === "" ? undefined : fromEnv;
  };
  // --quiet is short for --log-level error; a flag wins over any variable, as everywhere.
  const fromEnv = (name: string) => (env[name] === "" ? undefined : env[name]);
  const levelText = values["log-level"] ??
    (values.quiet === true ? "error" : undefined) ?? fromEnv("KAHUNA_LOG_LEVEL") ??
    (truthy(env["KAHUNA_QUIET"]) ? "error" : undefined);
  const insecure = flags.booleans.has("insecure") || truthy(env["KAHUNA_INSECURE"]);
  try {
    return { kind: "run", options: checkExposure(buildOptions(pick, levelText), insecure) };
  } catch (error) {
    if (error instanceof UsageProblem) return { kind: "usage", message: error.message };
    throw error;
  }
}

function oneOf<T extends string>(name: string, allowed: readonly T[], text: string): T {
  if ((allowed as readonly string[]).includes(text)) return text as T;
  throw new UsageProblem(
    `${name} must be one of ${allowed.join(", ")}, got ${JSON.stringify(text)}`,
  );
}

function buildOptions(
  pick: (flag: ValueFlag) => string | undefined,
  levelText: string | undefined,
): ServeOptions {
  const nodeId = pick("node-id") ?? "1";
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(nodeId)) {
    throw new UsageProblem(
      `--node-id must be 1 to 64 letters, digits, '.', '_' or '-', got ${JSON.stringify(nodeId)}`,
    );
  }
  const host = pick("host") ?? "127.0.0.1";
  if (host.trim() === "") throw new UsageProblem("--host must not be empty");
  const httpPort = port("--http-port", pick("http-port"), httpPortDefault);
  const peerPort = port("--peer-port", pick("peer-port"), following(httpPort, 1, peerPortDefault));
  const binaryPort = port(
    "--binary-port",
    pick("binary-port"),
    following(httpPort, 2, binaryPortDefault),
  );
  const ports = [httpPort, peerPort, binaryPort].filter((p) => p !== 0);
  if (new Set(ports).size !== ports.length) {
    throw new UsageProblem(
      `--http-port, --peer-port and --binary-port must differ, got ${httpPort}, ${peerPort}, ${binaryPort}`,
    );
  }
  const dataDir = pick("data-dir") ?? "./data";
  if (dataDir.trim() === "") throw new UsageProblem("--data-dir must not be empty");
  const partitions = integer(
    "--partitions",
    pick("partitions"),
    partitionsDefault,
    1,
    partitionsMax,
  );
  const graceText = pick("sweep-grace");
  const sweepGraceMs = graceText === undefined
    ? sweepGraceMsDefault
    : parseDurationMs("--sweep-grace", graceText, sweepGraceMsMax);
  if (typeof sweepGraceMs === "string") throw new UsageProblem(sweepGraceMs);
  const clusterText = pick("initial-cluster");
  const initialCluster = clusterText === undefined
    ? [{ id: nodeId, host, port: peerPort }]
    : parseCluster(clusterText);
  if (!initialCluster.some((peer) => peer.id === nodeId)) {
    const ids = initialCluster.map((peer) => peer.id).join(", ");
    throw new UsageProblem(
      `--initial-cluster must include this node (--node-id ${nodeId}); it lists ${ids}`,
    );
  }
  const authFile = pick("auth-file");
  if (authFile !== undefined && authFile.trim() === "") {
    throw new UsageProblem("--auth-file must not be empty");
  }
  return {
    ...tlsOptions(pick),
    ...(authFile === undefined ? {} : { authFile }),
    nodeId,
    host,
    httpPort,
    peerPort,
    binaryPort,
    dataDir,
    initialCluster,
    partitions,
    sweepGraceMs,
    logFormat: oneOf<LogFormat>("--log-format", logFormats, pick("log-format") ?? "text"),
    logLevel: oneOf<LogLevel>("--log-level", logLevels, levelText ?? "info"),
  };
}

/**
 * --tls-cert/--tls-key come as a pair, and so do the peer flags; --peer-ca alone reuses the
 * client ports' certificate for peer links (one set of files for both). The files are read
 * when the node starts (runtime/tls.ts), so a missing one is reported there, by name.
 */
function tlsOptions(pick: (flag: ValueFlag) => string | undefined): Partial<ServeOptions> {
  const pair = (cert: ValueFlag, key: ValueFlag) => {
    const certFile = pick(cert);
    const keyFile = pick(key);
    if (certFile === undefined && keyFile === undefined) return undefined;
    if (certFile === undefined || keyFile === undefined) {
      const missing = certFile === undefined ? cert : key;
      const given = certFile === undefined ? key : cert;
      throw new UsageProblem(`--${given} needs --${missing} too (a certificate and its key)`);
    }
    return { certFile, keyFile };
  };
  const tls = pair("tls-cert", "tls-key");
  const peer = pair("peer-tls-cert", "peer-tls-key");
  const caFile = pick("peer-ca");
  if (peer !== undefined && caFile === undefined) {
    throw new UsageProblem("--peer-tls-cert needs --peer-ca: the cluster CA that signs peers");
  }
  if (caFile === undefined) return { tls };
  const own = peer ?? tls;
  if (own === undefined) {
    throw new UsageProblem(
      "--peer-ca needs --peer-tls-cert and --peer-tls-key (or --tls-cert and --tls-key)",
    );
  }
  return { tls, peerTls: { ...own, caFile } };
}

/**
 * Safe defaults (docs/security.md): a node that listens on an address other machines can reach
 * must have TLS on its client ports and client tokens (and, in a cluster, mutual TLS between
 * nodes), or be told --insecure. Without them anyone on the network could read and take every
 * lock, and a typo in --host should not be what publishes a node. On 127.0.0.1 (the default)
 * nothing is asked for: only this machine can connect.
 */
function checkExposure(options: ServeOptions, insecure: boolean): ServeOptions {
  if (insecure || isLoopback(options.host)) return options;
  const missing: string[] = [];
  if (options.tls === undefined) missing.push("no TLS on the client ports (--tls-cert, --tls-key)");
  if (options.authFile === undefined) missing.push("no client tokens (--auth-file)");
  if (options.initialCluster.length > 1 && options.peerTls === undefined) {
    missing.push("no mutual TLS between nodes (--peer-ca)");
  }
  if (missing.length === 0) return options;
  throw new UsageProblem(
    `--host ${options.host} is not a loopback address, and this node has ${missing.join(", ")}: ` +
      `anyone who can reach it could take, release and read every lock. Give ` +
      `${missing.length === 1 ? "it" : "them"}, or --insecure to serve anyway (docs/security.md)`,
  );
}

/** Addresses only this machine can connect to; a host name other than localhost is not one. */
export function isLoopback(host: string): boolean {
  const bare = host.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (bare === "localhost" || bare === "::1" || /^0*:(0*:)*0*1$/.test(bare)) return true;
  const v4 = bare.replace(/^::ffff:/, "");
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** `id=host:port,...`: every voter's peer address, this node included. */
export function parseCluster(text: string): PeerAddress[] {
  const peers: PeerAddress[] = [];
  for (const item of text.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
    const match = /^([A-Za-z0-9_.-]{1,64})=(.+):([0-9]+)$/.exec(item);
    if (match === null) {
      throw new UsageProblem(
        `--initial-cluster entries look like 2=10.0.0.2:2071, got ${JSON.stringify(item)}`,
      );
    }
    const id = match[1]!;
    const peerHost = match[2]!.replace(/^\[(.*)\]$/, "$1");
    const peerPort = port(`--initial-cluster port of node ${id}`, match[3], 0);
    if (peerPort === 0) {
      throw new UsageProblem(`--initial-cluster port of node ${id} must not be 0`);
    }
    if (peers.some((peer) => peer.id === id)) {
      throw new UsageProblem(`--initial-cluster lists node ${id} twice`);
    }
    peers.push({ id, host: peerHost, port: peerPort });
  }
  if (peers.length === 0) throw new UsageProblem("--initial-cluster must list at least this node");
  return peers.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * A port not set explicitly follows the HTTP port (peer = HTTP + 1, binary = HTTP + 2), so
 * `--http-port 2170` alone gives 2171 and 2172; with HTTP on 0 (any free port) or at the top
 * of the range it stays at its default.
 */
function following(httpPort: number, offset: number, fallback: number): number {
  if (httpPort === 0 || httpPort + offset > 65_535) return fallback;
  return httpPort + offset;
}

function port(name: string, text: string | undefined, fallback: number): number {
  return integer(name, text, fallback, 0, 65_535);
}

function integer(
  name: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max: number,
) {
  if (text === undefined) return fallback;
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageProblem(
      `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`,
    );
  }
  return Number(text);
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && ["1", "true", "yes", "on"].includes(value.toLowerCase());
}

/** Starts the node and runs until SIGINT or SIGTERM; the exit status. */
export async function runServe(options: ServeOptions, io: Io): Promise<number> {
  const { startServer } = await import("../runtime/server.ts");
  let server;
  try {
    server = await startServer(options);
  } catch (error) {
    io.err(`kahuna: the server could not start: ${(error as Error).message}`);
    return ExitStatus.No;
  }
  // SIGHUP reloads the certificates and the auth file; a node with neither keeps SIGHUP's usual
  // meaning (stop).
  const hasTls = options.tls !== undefined || options.peerTls !== undefined;
  if (hasTls || options.authFile !== undefined) {
    process.on("SIGHUP", () => {
      if (options.authFile !== undefined) server.reloadAuth();
      if (hasTls) void server.reloadTls();
    });
  }
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  await server.stop();
  return ExitStatus.Ok;
}

/**
 * Starts one kahuna node (`kahuna serve`): opens storage, builds the synchronous NodeHost,
 * and owns the event loop around it (docs/architecture.md): a timer that ticks Raft, the HTTP
 * listener whose requests become host submissions, and a flush after each burst of input.
 *
 * A flush runs on the next turn of the event loop rather than per request, so every request
 * that arrived meanwhile shares one storage transaction and one fsync (group commit).
 * A failure inside the host (storage error, broken invariant) is fatal at every entry point
 * (host-entry.ts): the node logs it and exits, and recovers from disk on restart; retrying an
 * fsync is unsafe.
 */
import { clearImmediate, setImmediate } from "node:timers";
import { skewedClock, systemClock, systemRandom } from "../adapters/system-clock.ts";
import { tickMs } from "../constants.ts";
import { NodeHost } from "../host/node-host.ts";
import { PrometheusText } from "../metrics/text-format.ts";
import { createApp } from "../http/app.ts";
import { version } from "../version.ts";
import { type LockResponse, type LockService, waitMsOf } from "../locks/types.ts";
import type { Clock } from "../ports/clock.ts";
import type { LogStore } from "../ports/log-store.ts";
import { FileSystemError } from "../ports/file-system.ts";
import { AssertionError } from "../assert.ts";
import { LogEngine, StorageCorruptError } from "../storage/log-engine.ts";
import { dataDirBusyMessage, lockDataDir } from "./data-dir-lock.ts";
import type { DataDirLock } from "./data-dir-lock.ts";
import { makeDirectoryDurable, openLogDirectory, withDataDir } from "./data-dir.ts";
import { legacyDatabaseName, migrateDataDir } from "./migrate-data-dir.ts";
import type { RunningServer, ServeOptions } from "./options.ts";
import { guardHost } from "./host-entry.ts";
import { logHostEvent } from "./event-log.ts";
import { createLogger, type Logger, sourceLocation } from "./logger.ts";
import { writeProcessMetrics } from "./process-metrics.ts";
import { Peers } from "./peers.ts";
import { listenBinary } from "../net/binary-server.ts";
import {
  type HttpListener,
  loadRuntime,
  type RuntimeAdapter,
  type ServerTls,
  type TcpListener,
  type TlsMaterial,
} from "./runtime-adapter.ts";
import { loadPeerTls, loadServerTls, TlsFileError } from "./tls.ts";
import { Authenticator } from "../auth/authenticator.ts";
import { emptyAuthConfig } from "../auth/auth-file.ts";
import { AuthFileError, loadAuthFile } from "./auth-load.ts";

export class StartupError extends Error {
  override name = "StartupError";
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const runtime = await loadRuntime();
  const logger = createLogger({
    format: options.logFormat,
    level: options.logLevel,
    nodeId: options.nodeId,
    write: (line) => console.error(line),
  });
  const voters = options.initialCluster.length === 0
    ? [options.nodeId]
    : options.initialCluster.map((peer) => peer.id);
  if (!voters.includes(options.nodeId)) {
    throw new StartupError(`--node-id ${options.nodeId} is not in --initial-cluster`);
  }
  // Certificates and the auth file are read before anything else is opened: a bad file stops
  // the start at once.
  const tls = loadTls(options);
  const auth = loadAuth(options);
  const dirLock = lockDirectory(runtime, options.dataDir);
  let store: LogStore;
  try {
    migrate(runtime, options.dataDir, logger);
    const engine = openStore(options.dataDir);
    for (const torn of engine.tornTails) {
      // The last append before a crash, never acknowledged: cut, and worth a line.
      logger.warn("cut a torn tail of the log (the last write before a crash)", {
        event: "logTornTail",
        file: torn.file,
        offset: torn.offset,
        bytes: torn.bytes,
      });
    }
    store = engine;
  } catch (error) {
    dirLock.release();
    throw error;
  }
  try {
    checkIdentity(store, { nodeId: options.nodeId, voters, groups: options.partitions });
  } catch (error) {
    store.close();
    dirLock.release();
    throw error;
  }
  let stopped = false;
  const fatal = (error: unknown): never => {
    logger.error("fatal error: the node stops; it recovers from its data directory on restart", {
      event: "fatal",
      error: String(error),
      source: sourceLocation(error),
      stack: error instanceof Error ? error.stack : undefined,
    });
    return runtime.exit(70);
  };
  const entry = guardHost(() => host, fatal);
  const peers = new Peers(
    runtime,
    entry,
    options.initialCluster.filter((peer) => peer.id !== options.nodeId),
    () => scheduleFlush(),
    logger,
    tls.peer,
  );
  let host: NodeHost;
  try {
    // The host loads every partition from the store: a snapshot file is read only here.
    host = new NodeHost({
      nodeId: options.nodeId,
      voters,
      groups: options.partitions,
      sweepGraceMs: options.sweepGraceMs,
      logStore: store,
      transport: { send: (to, frame) => peers.send(to, frame) },
      clock: clockFromEnvironment(logger),
      random: systemRandom,
      events: (event) => logHostEvent(logger, event),
      metricsSeconds: () => performance.now() / 1000,
    });
  } catch (error) {
    store.close();
    dirLock.release();
    if (error instanceof StorageCorruptError) throw damagedLog(options.dataDir, error);
    throw error;
  }

  // setImmediate, not setTimeout(0): it still runs after the I/O that arrived in this turn
  // (so concurrent requests share one flush and one fsync) but without the 1-2 ms minimum
  // delay Bun and Deno put on timers, which was most of a single request's latency.
  let flushTimer: ReturnType<typeof setImmediate> | undefined;
  const flush = () => {
    flushTimer = undefined;
    if (entry.flush()) scheduleFlush();
  };
  const scheduleFlush = () => {
    if (flushTimer === undefined && !stopped) flushTimer = setImmediate(flush);
  };

  const service: LockService = {
    execute: (request, signal) =>
      new Promise((resolve) => {
        if (stopped) {
          resolve({ type: 101, fencingToken: 0, error: "this node is stopping; retry" });
          return;
        }
        const waits = waitMsOf(request) > 0;
        if (!waits || signal === undefined) {
          entry.submit(request, resolve);
          scheduleFlush();
          return;
        }
        // A TryLock waiting in line whose client goes away leaves the line.
        const reply = (response: LockResponse) => {
          signal.removeEventListener("abort", abandon);
          resolve(response);
        };
        const abandon = () => {
          entry.cancel(reply);
          scheduleFlush(); // a forwarded request's cancel goes to its leader
          resolve({ type: 101, fencingToken: 0, error: "the client went away" });
        };
        if (signal.aborted) return abandon();
        signal.addEventListener("abort", abandon, { once: true });
        entry.submit(request, reply);
        scheduleFlush();
      }),
  };
  const app = createApp({
    service,
    health: () => host.health(),
    cluster: () => clusterInfo(host, peers, options),
    metrics: () => renderMetrics(host, peers, auth),
    wallMs: () => Date.now(),
    log: (line) => logger.error(line),
    version,
    ...(auth === undefined ? {} : { auth }),
  });
  // Listeners start last, and a failure to bind any of them stops the ones already open, so a
  // node that cannot start exits instead of half-serving.
  const opened: (() => unknown)[] = [];
  const bind = async <T>(what: string, port: number, listen: () => T | Promise<T>) => {
    try {
      return await listen();
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new StartupError(`cannot listen for ${what} on ${options.host}:${port}: ${why}`);
    }
  };
  let http: HttpListener;
  let binary: TcpListener | undefined;
  try {
    http = await bind(
      tls.client === undefined ? "HTTP (--http-port)" : "HTTPS (--http-port)",
      options.httpPort,
      () =>
        runtime.serveHttp({
          hostname: options.host,
          port: options.httpPort,
          fetch: (request, holdOpen) => app.fetch(request, { holdOpen }),
          tls: tls.client,
        }),
    );
    opened.push(() => http.stop());
    logger.info(tls.client === undefined ? "serving HTTP" : "serving HTTPS", {
      address: `${options.host}:${http.port}`,
      dataDir: options.dataDir,
      runtime: runtime.name,
      auth: auth === undefined ? "off" : `${auth.clientCount} clients (${options.authFile})`,
    });
    const binaryPort = options.binaryPort;
    if (binaryPort !== undefined) {
      binary = await bind(
        "the binary protocol (--binary-port)",
        binaryPort,
        () =>
          listenBinary(runtime, {
            tls: tls.client,
            hostname: options.host,
            port: binaryPort,
            service,
            route: () => ({
              node: host.nodeId,
              groups: host.groupCount(),
              leaders: host.groupStatuses().map((status) => status.leader),
            }),
            log: (line) => logger.info(line),
            auth,
          }),
      );
      opened.push(() => binary?.stop());
      logger.info("serving the binary protocol", {
        address: `${options.host}:${binary.port}`,
        tls: tls.client !== undefined,
      });
    }
    if (voters.length > 1) {
      // Peers dial the address this node has in --initial-cluster, so listen on that port.
      const self = options.initialCluster.find((peer) => peer.id === options.nodeId);
      const peerPort = self?.port ?? options.peerPort;
      const port = await bind(
        "peers (--initial-cluster)",
        peerPort,
        () => peers.listen(options.host, peerPort),
      );
      logger.info("listening for peers", {
        address: `${options.host}:${port}`,
        voters: voters.join(","),
        tls: tls.peer === undefined ? "off" : "mutual",
      });
    }
  } catch (error) {
    peers.stop();
    for (const close of opened.reverse()) await close();
    store.close();
    dirLock.release();
    throw error;
  }
  const ticker = setInterval(() => {
    entry.tick();
    scheduleFlush();
  }, tickMs);
  scheduleFlush();

  // Reloads run one after another: two quick SIGHUPs must not re-listen at the same time.
  let reloading: Promise<boolean> = Promise.resolve(true);
  const reloadTls = (): Promise<boolean> => {
    reloading = reloading.then(reloadTlsNow);
    return reloading;
  };
  const reloadTlsNow = async (): Promise<boolean> => {
    let fresh: ReturnType<typeof loadTls>;
    try {
      fresh = loadTls(options);
    } catch (error) {
      logger.warn("cannot reload the certificates; the ones in use are kept", {
        event: "tlsReloadFailed",
        reason: error instanceof Error ? error.message : String(error),
      });
      return false;
    }
    if (fresh.client !== undefined) {
      binary?.reloadTls?.(fresh.client);
      try {
        await http.reloadTls?.(fresh.client);
      } catch (error) {
        // The old listener is closed; without a new one the node serves no HTTPS: stop.
        return fatal(new StartupError(`cannot listen again for HTTPS: ${String(error)}`));
      }
    }
    if (fresh.peer !== undefined) peers.reloadTls(fresh.peer);
    logger.info("reloaded the certificates", { event: "tlsReloaded" });
    return true;
  };

  const reloadAuth = (): boolean => {
    if (auth === undefined || options.authFile === undefined) return false;
    try {
      auth.replace(loadAuthFile(options.authFile));
    } catch (error) {
      logger.warn("cannot reload the auth file; the one in use is kept", {
        event: "authReloadFailed",
        reason: error instanceof Error ? error.message : String(error),
      });
      return false;
    }
    logger.info("reloaded the auth file", { event: "authReloaded", clients: auth.clientCount });
    return true;
  };

  return {
    httpPort: http.port,
    binaryPort: binary?.port,
    reloadTls,
    reloadAuth,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(ticker);
      if (flushTimer !== undefined) clearImmediate(flushTimer);
      peers.stop();
      binary?.stop();
      await http.stop();
      try {
        host.flush();
      } finally {
        store.close();
        dirLock.release();
      }
      logger.info("stopped");
    },
  };
}

/** The node's TLS material from the files its flags name; a file problem stops the start. */
function loadTls(options: ServeOptions): { client?: TlsMaterial; peer?: ServerTls } {
  try {
    const client = options.tls === undefined
      ? undefined
      : loadServerTls(options.tls, { cert: "--tls-cert", key: "--tls-key" });
    const shared = options.peerTls !== undefined && options.tls !== undefined &&
      options.peerTls.certFile === options.tls.certFile;
    const peer = options.peerTls === undefined ? undefined : loadPeerTls(options.peerTls, shared);
    return { ...(client === undefined ? {} : { client }), ...(peer === undefined ? {} : { peer }) };
  } catch (error) {
    if (error instanceof TlsFileError) throw new StartupError(error.message);
    throw error;
  }
}

/** The clients of --auth-file, or undefined without it; a bad file stops the start. */
function loadAuth(options: ServeOptions): Authenticator | undefined {
  if (options.authFile === undefined) return undefined;
  try {
    return new Authenticator(loadAuthFile(options.authFile));
  } catch (error) {
    if (error instanceof AuthFileError) throw new StartupError(error.message);
    throw error;
  }
}

/** GET /metrics: the host's, the peer connections', the auth layer's and the process's. */
function renderMetrics(host: NodeHost, peers: Peers, auth: Authenticator | undefined): string {
  const out = new PrometheusText();
  host.writeMetrics(out);
  peers.writeMetrics(out);
  // Written without --auth-file too (all 0), like the peer TLS refusals: a dashboard or alert
  // on them needs no special case for nodes without tokens.
  (auth ?? new Authenticator(emptyAuthConfig)).writeMetrics(out);
  writeProcessMetrics(out);
  return out.text();
}

/** The data directory, created if missing, locked to this process. */
function lockDirectory(runtime: RuntimeAdapter, dataDir: string): DataDirLock {
  let attempt;
  try {
    makeDirectoryDurable(dataDir);
    attempt = lockDataDir(dataDir, (path) => runtime.openDatabase(path));
  } catch (error) {
    throw new StartupError(`cannot lock the data directory ${dataDir}: ${String(error)}`);
  }
  if (attempt.kind === "locked") return attempt.lock;
  throw new StartupError(dataDirBusyMessage(dataDir, attempt.pid));
}

/** A data directory of the SQLite format becomes one of the log engine's (migrate-data-dir.ts). */
function migrate(runtime: RuntimeAdapter, dataDir: string, logger: Logger): void {
  let migration;
  try {
    migration = migrateDataDir(dataDir, (path) => runtime.openDatabase(path));
  } catch (error) {
    if (error instanceof AssertionError) throw error;
    const why = error instanceof Error ? error.message : String(error);
    throw new StartupError(
      `cannot migrate the data directory ${dataDir} from ${legacyDatabaseName} (the format of ` +
        `kahuna 0.2) to log/: ${why}. ${legacyDatabaseName} is left as it was; fix the ` +
        `problem and start again, or start this kahuna 0.2 on it`,
    );
  }
  if (migration.kind === "migrated") {
    logger.info(`migrated the data directory from ${legacyDatabaseName} to log/`, {
      event: "dataDirMigrated",
      dataDir,
      partitions: migration.partitions,
      entries: migration.entries,
      snapshots: migration.snapshots,
    });
  } else if (migration.kind === "leftoverRemoved") {
    logger.info(`removed ${legacyDatabaseName}, left by a migration that had finished`, {
      event: "dataDirMigrated",
      dataDir,
    });
  }
}

/** The log in `dataDir/log`, replayed; damage stops the start with the engine's words. */
function openStore(dataDir: string): LogEngine {
  try {
    return LogEngine.open(openLogDirectory(dataDir));
  } catch (error) {
    if (error instanceof StorageCorruptError) throw damagedLog(dataDir, error);
    // A system error (EACCES making log/, say) is the operator's to fix; anything else a bug.
    const code: unknown = (error as { code?: unknown } | null)?.code;
    if (!(error instanceof FileSystemError) && typeof code !== "string") throw error;
    throw new StartupError(
      `cannot open the log in the data directory ${dataDir}: ${(error as Error).message}`,
    );
  }
}

function damagedLog(dataDir: string, error: StorageCorruptError): StartupError {
  return new StartupError(
    `the log in the data directory ${dataDir} is damaged: ${withDataDir(error.message, dataDir)}`,
  );
}

function checkIdentity(
  store: LogStore,
  wanted: { nodeId: string; voters: string[]; groups: number },
): void {
  const stored = store.identity();
  if (stored === undefined) {
    store.setIdentity(wanted);
    return;
  }
  const same = stored.nodeId === wanted.nodeId && stored.groups === wanted.groups &&
    JSON.stringify([...stored.voters].sort()) === JSON.stringify([...wanted.voters].sort());
  if (!same) {
    throw new StartupError(
      `the data directory belongs to node ${stored.nodeId} of cluster [${stored.voters}] with ` +
        `${stored.groups} partitions; this start asks for node ${wanted.nodeId} of ` +
        `[${wanted.voters}] with ${wanted.groups}. Use that node's flags, or another --data-dir.`,
    );
  }
}

/**
 * GET /v1/cluster. A node is `reachable` while this node's peer connection to it is open (this
 * node always is); the leader of a partition adds its voters' replication (`replicas`).
 */
function clusterInfo(host: NodeHost, peers: Peers, options: ServeOptions): unknown {
  return {
    nodeId: host.nodeId,
    nodes: host.voters.map((id) => {
      const peer = options.initialCluster.find((p) => p.id === id);
      return {
        id,
        peerAddress: peer ? `${peer.host}:${peer.port}` : `${options.host}:${options.peerPort}`,
        reachable: id === host.nodeId || peers.isConnected(id),
      };
    }),
    partitions: host.groupStatuses({ locks: true, replicas: true }),
  };
}

/** The system clock, or for fault-injection tests one skewed by KAHUNA_TEST_CLOCK_RATE. */
function clockFromEnvironment(logger: Logger): Clock {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process
    ?.env;
  const text = env?.["KAHUNA_TEST_CLOCK_RATE"];
  if (text === undefined || text === "") return systemClock;
  const rate = Number(text);
  if (!Number.isFinite(rate) || rate < 0.5 || rate > 2) {
    throw new StartupError(
      `KAHUNA_TEST_CLOCK_RATE must be a number from 0.5 to 2, got ${JSON.stringify(text)}`,
    );
  }
  logger.warn("test clock: running at a skewed rate (KAHUNA_TEST_CLOCK_RATE)", { rate });
  return skewedClock(rate);
}

/**
 * A kahuna cluster of real `kahuna serve` processes for the benchmark scripts (peers.ts,
 * profile-cluster.ts, scale.ts): ports picked by the OS, data under a directory the caller
 * owns, optionally Bun's CPU profiler on every node. Started, then waited on until every node
 * is healthy and the leaders have settled (settle.ts).
 */
import { join } from "node:path";
import { bunBin, freePort, mainTs } from "../helpers/server.ts";
import { waitSettled } from "./settle.ts";

export type BenchNode = {
  readonly id: string;
  readonly url: string;
  /** host:port of the binary protocol. */
  readonly binary: string;
  readonly dataDir: string;
  process: Bun.Subprocess;
};

export type BenchCluster = {
  readonly nodes: BenchNode[];
  /** Stops one node (SIGTERM, waits for exit). */
  stopNode(id: string, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped node again on the same ports and data; resolves once it listens. */
  startNode(id: string): Promise<void>;
  stop(): Promise<void>;
};

export async function startKahunaCluster(options: {
  root: string;
  size?: number;
  partitions?: number;
  cpuProfDir?: string;
  settle?: boolean;
  /** More flags for one node (its certificate files, an auth file). */
  nodeArgs?: (id: string) => string[];
  /** The nodes serve HTTPS: fetches trust `ca` and send `token` (an admin's, for /v1/cluster). */
  secure?: { readonly ca: string; readonly token: string };
}): Promise<BenchCluster> {
  const secure = options.secure;
  const init: Record<string, unknown> = secure === undefined
    ? {}
    : { tls: { ca: secure.ca }, headers: { authorization: `Bearer ${secure.token}` } };
  const size = options.size ?? 3;
  type Spec = { id: string; http: number; peer: number; binary: number };
  const specs: Spec[] = [];
  for (let i = 1; i <= size; i++) {
    specs.push({
      id: String(i),
      http: await freePort(),
      peer: await freePort(),
      binary: await freePort(),
    });
  }
  const initialCluster = specs.map((n) => `${n.id}=127.0.0.1:${n.peer}`).join(",");
  const command = (spec: Spec) => [
    bunBin,
    ...(options.cpuProfDir === undefined ? [] : [
      "--cpu-prof",
      `--cpu-prof-dir=${options.cpuProfDir}`,
      `--cpu-prof-name=node${spec.id}.cpuprofile`,
    ]),
    mainTs,
    "serve",
    "--node-id",
    spec.id,
    "--http-port",
    String(spec.http),
    "--peer-port",
    String(spec.peer),
    "--binary-port",
    String(spec.binary),
    "--data-dir",
    join(options.root, `k${spec.id}`),
    "--initial-cluster",
    initialCluster,
    "--partitions",
    String(options.partitions ?? 16),
    "--quiet",
    ...(options.nodeArgs?.(spec.id) ?? []),
  ];
  const spawn = (spec: Spec) => Bun.spawn(command(spec), { stdout: "ignore", stderr: "inherit" });
  const nodes: BenchNode[] = specs.map((spec) => ({
    id: spec.id,
    url: `${secure === undefined ? "http" : "https"}://127.0.0.1:${spec.http}`,
    binary: `127.0.0.1:${spec.binary}`,
    dataDir: join(options.root, `k${spec.id}`),
    process: spawn(spec),
  }));
  const running = new Set(nodes.map((n) => n.id));
  const cluster: BenchCluster = {
    nodes,
    async stopNode(id, signal = "SIGTERM") {
      const node = nodes.find((n) => n.id === id)!;
      node.process.kill(signal);
      await node.process.exited;
      running.delete(id);
    },
    async startNode(id) {
      const node = nodes.find((n) => n.id === id)!;
      node.process = spawn(specs.find((s) => s.id === id)!);
      running.add(id);
      await waitListening(node.url, 120_000, init);
    },
    async stop() {
      for (const node of nodes) if (running.has(node.id)) node.process.kill("SIGTERM");
      await Promise.all(nodes.map(async (node) => {
        const timer = setTimeout(() => node.process.kill("SIGKILL"), 15_000);
        await node.process.exited;
        clearTimeout(timer);
      }));
      running.clear();
    },
  };
  try {
    for (const node of nodes) await waitHealthy(node.url, 60_000, init);
    if (options.settle !== false) {
      await waitSettled(nodes.map((n) => n.url), 3_000, 60_000, init);
    }
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

export async function waitHealthy(
  url: string,
  deadlineMs = 60_000,
  init: Record<string, unknown> = {},
): Promise<void> {
  const started = Date.now();
  while ((await fetch(`${url}/v1/health`, init).then((r) => r.status, () => 0)) !== 200) {
    if (Date.now() - started > deadlineMs) {
      throw new Error(`${url} not healthy within ${deadlineMs} ms`);
    }
    await Bun.sleep(100);
  }
}

async function waitListening(
  url: string,
  deadlineMs = 120_000,
  init: Record<string, unknown> = {},
): Promise<void> {
  const started = Date.now();
  while ((await fetch(`${url}/v1/health`, init).then((r) => r.status, () => 0)) === 0) {
    if (Date.now() - started > deadlineMs) {
      throw new Error(`${url} not listening within ${deadlineMs} ms`);
    }
    await Bun.sleep(50);
  }
}

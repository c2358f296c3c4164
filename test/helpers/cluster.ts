/**
 * A cluster of real `kahuna serve` processes on 127.0.0.1 for tests: N nodes, each with its
 * own data directory, HTTP port and peer port, started together and waited on until every
 * node is healthy (every partition has a leader).
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import {
  freePort,
  type Runtime,
  type ServerProcess,
  startServer,
  tempDir,
  waitHealthy,
} from "./server.ts";

export type ClusterNode = {
  readonly id: string;
  readonly httpPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly url: string;
  process: ServerProcess | undefined;
};

export class TestCluster {
  private constructor(
    readonly nodes: ClusterNode[],
    private readonly root: string,
    private readonly args: string[],
    private readonly runtime: Runtime,
    private readonly nodeArgs: (id: string) => string[],
    /** The CA of the nodes' HTTPS certificates; undefined: plain HTTP. */
    private readonly ca: string | undefined,
  ) {}

  static async start(
    size: number,
    options: {
      partitions?: number;
      runtime?: Runtime;
      extraArgs?: string[];
      /** Flags for one node only (its own certificate files, say). */
      nodeArgs?: (id: string) => string[];
      /** The nodes serve HTTPS (--tls-cert in nodeArgs) with certificates this CA signed. */
      ca?: string;
    } = {},
  ): Promise<TestCluster> {
    const root = tempDir("kahuna-cluster-");
    const nodes: ClusterNode[] = [];
    for (let i = 1; i <= size; i++) {
      const httpPort = await freePort();
      const peerPort = await freePort();
      const id = String(i);
      nodes.push({
        id,
        httpPort,
        peerPort,
        dataDir: join(root, `n${i}`),
        url: `${options.ca === undefined ? "http" : "https"}://127.0.0.1:${httpPort}`,
        process: undefined,
      });
    }
    const initialCluster = nodes.map((n) => `${n.id}=127.0.0.1:${n.peerPort}`).join(",");
    const args = [
      "--initial-cluster",
      initialCluster,
      "--partitions",
      String(options.partitions ?? 16),
      ...(options.extraArgs ?? []),
    ];
    const cluster = new TestCluster(
      nodes,
      root,
      args,
      options.runtime ?? "bun",
      options.nodeArgs ?? (() => []),
      options.ca,
    );
    await Promise.all(nodes.map((node) => cluster.startNode(node.id, "listening")));
    await cluster.waitHealthy();
    return cluster;
  }

  node(id: string): ClusterNode {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  async startNode(id: string, wait: "healthy" | "listening" = "listening"): Promise<void> {
    const node = this.node(id);
    node.process = await startServer({
      runtime: this.runtime,
      dataDir: node.dataDir,
      httpPort: node.httpPort,
      peerPort: node.peerPort,
      extraArgs: ["--node-id", id, "--quiet", ...this.args, ...this.nodeArgs(id)],
      wait,
      ...(this.ca === undefined ? {} : { ca: this.ca }),
    });
  }

  async kill(id: string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const node = this.node(id);
    await node.process?.kill(signal);
    node.process = undefined;
  }

  async waitHealthy(
    ids = this.nodes.filter((n) => n.process).map((n) => n.id),
    deadlineMs = 30_000,
  ) {
    await Promise.all(
      ids.map((id) => waitHealthy(this.node(id).url, deadlineMs, "healthy", this.ca)),
    );
  }

  /** GET /v1/cluster from one node. */
  async status(id: string): Promise<{
    partitions: { group: number; leader: string; term: number; role: string }[];
  }> {
    const tls = this.ca === undefined ? {} : { tls: { ca: this.ca } };
    const response = await fetch(`${this.node(id).url}/v1/cluster`, tls);
    return await response.json() as never;
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) {
      node.process?.process.kill("SIGKILL");
      await node.process?.process.exited;
      node.process = undefined;
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

/**
 * A cluster of real `kahuna serve` processes on 127.0.0.1 with a fault-injecting proxy on
 * every directed peer link. Node i's --initial-cluster names its own real peer port and, for
 * every other node j, the port of proxy i→j; nodes check identities by id only, so each node
 * gets its own string. The nemesis then kills (SIGKILL), pauses (SIGSTOP/SIGCONT), restarts
 * (optionally with a skewed clock rate, KAHUNA_TEST_CLOCK_RATE) and partitions through the
 * proxies.
 *
 * Each node's stderr is appended to `<root>/n<id>.log`, kept for a failed run's post-mortem.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bunBin, denoBin, freePort, mainTs, repoRoot, waitHealthy } from "../helpers/server.ts";
import { type LinkMode, LinkProxy } from "./proxy.ts";
import { type Certs, makeCerts } from "../helpers/certs.ts";

/**
 * The server the nodes run: this tree's src/main.ts, or another tree's (KAHUNA_FAULT_MAIN),
 * to run the suite against an older build, e.g. to show it finds a bug fixed since.
 */
const serverMain = process.env["KAHUNA_FAULT_MAIN"] ?? mainTs;

export type FaultNode = {
  readonly id: string;
  readonly httpPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly logPath: string;
  readonly url: string;
  /** The cluster CA's PEM text when the nodes serve HTTPS (and link over mutual TLS). */
  readonly ca: string | undefined;
  process: Bun.Subprocess | undefined;
  paused: boolean;
  clockRate: number;
};

export type GroupStatus = { group: number; leader: string; term: number; role: string };

export class FaultCluster {
  private readonly proxies = new Map<string, LinkProxy>();

  private constructor(
    readonly nodes: FaultNode[],
    readonly root: string,
    readonly partitions: number,
    /** Nodes that run under Deno instead of Bun (the same sources, docs/architecture.md). */
    readonly denoIds: readonly string[],
    /** TLS on every port: HTTPS for clients, mutual TLS on the peer links (docs/security.md). */
    private readonly certs: Certs | undefined,
  ) {}

  static async create(
    size: number,
    partitions: number,
    root?: string,
    denoIds: readonly string[] = [],
    tls = false,
  ): Promise<FaultCluster> {
    const dir = root ?? mkdtempSync(join(tmpdir(), "kahuna-fault-"));
    mkdirSync(dir, { recursive: true });
    const ids = Array.from({ length: size }, (_, i) => String(i + 1));
    if (tls) mkdirSync(join(dir, "certs"), { recursive: true });
    const certs = tls ? await makeCerts(ids, join(dir, "certs")) : undefined;
    const nodes: FaultNode[] = [];
    for (let i = 1; i <= size; i++) {
      const httpPort = await freePort();
      const peerPort = await freePort();
      nodes.push({
        id: String(i),
        httpPort,
        peerPort,
        dataDir: join(dir, `n${i}`),
        logPath: join(dir, `n${i}.log`),
        url: `${certs === undefined ? "http" : "https"}://127.0.0.1:${httpPort}`,
        ca: certs?.ca,
        process: undefined,
        paused: false,
        clockRate: 1,
      });
    }
    const cluster = new FaultCluster(nodes, dir, partitions, denoIds, certs);
    for (const from of nodes) {
      for (const to of nodes) {
        if (from === to) continue;
        const proxy = new LinkProxy(from.id, to.id, to.peerPort);
        await proxy.start();
        cluster.proxies.set(`${from.id}>${to.id}`, proxy);
      }
    }
    return cluster;
  }

  node(id: string): FaultNode {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  get ids(): string[] {
    return this.nodes.map((n) => n.id);
  }

  private initialClusterFor(self: FaultNode): string {
    return this.nodes.map((n) => {
      const port = n === self ? n.peerPort : this.link(self.id, n.id).port;
      return `${n.id}=127.0.0.1:${port}`;
    }).join(",");
  }

  link(from: string, to: string): LinkProxy {
    const proxy = this.proxies.get(`${from}>${to}`);
    if (proxy === undefined) throw new Error(`no link ${from}>${to}`);
    return proxy;
  }

  /** Starts a node's process (if not running) and waits until its HTTP port answers. */
  async start(id: string, clockRate = 1): Promise<void> {
    const node = this.node(id);
    if (node.process !== undefined) return;
    const args = [
      "serve",
      "--node-id",
      id,
      "--http-port",
      String(node.httpPort),
      "--peer-port",
      String(node.peerPort),
      // The binary client protocol is not under test here; 0 lets each node pick a free port.
      "--binary-port",
      "0",
      "--data-dir",
      node.dataDir,
      "--initial-cluster",
      this.initialClusterFor(node),
      "--partitions",
      String(this.partitions),
      "--quiet",
      ...this.tlsArgs(id),
    ];
    const env: Record<string, string | undefined> = { ...process.env };
    if (clockRate !== 1) env["KAHUNA_TEST_CLOCK_RATE"] = String(clockRate);
    else delete env["KAHUNA_TEST_CLOCK_RATE"];
    const log = openSync(node.logPath, "a");
    try {
      const command = this.denoIds.includes(id)
        ? [denoBin, "run", "--allow-all", serverMain, ...args]
        : [bunBin, serverMain, ...args];
      node.process = Bun.spawn(command, {
        cwd: repoRoot,
        stdout: "ignore",
        stderr: log,
        env,
      });
    } finally {
      closeSync(log);
    }
    node.paused = false;
    node.clockRate = clockRate;
    await waitHealthy(node.url, 30_000, "listening", node.ca);
  }

  /** One certificate per node for its HTTPS, binary and peer ports; peers checked by the CA. */
  private tlsArgs(id: string): string[] {
    const certs = this.certs;
    if (certs === undefined) return [];
    const { certFile, keyFile } = certs.node(id);
    return ["--tls-cert", certFile, "--tls-key", keyFile, "--peer-ca", certs.caFile];
  }

  /** Sends SIGKILL (or another signal) and waits for the process to exit. */
  async kill(id: string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const node = this.node(id);
    const child = node.process;
    if (child === undefined) return;
    if (node.paused && signal !== "SIGKILL") child.kill("SIGCONT");
    child.kill(signal);
    await child.exited;
    node.process = undefined;
    node.paused = false;
  }

  pause(id: string): void {
    const node = this.node(id);
    if (node.process === undefined || node.paused) return;
    node.process.kill("SIGSTOP");
    node.paused = true;
  }

  resume(id: string): void {
    const node = this.node(id);
    if (node.process === undefined || !node.paused) return;
    node.process.kill("SIGCONT");
    node.paused = false;
  }

  setLink(from: string, to: string, mode: LinkMode): void {
    this.link(from, to).setMode(mode);
  }

  /** Cuts every link between nodes in different sides, both ways. */
  partition(sides: readonly (readonly string[])[], mode: LinkMode = { kind: "cut" }): void {
    const sideOf = new Map<string, number>();
    sides.forEach((side, i) => side.forEach((id) => sideOf.set(id, i)));
    for (const [name, proxy] of this.proxies) {
      const [from, to] = name.split(">") as [string, string];
      if (sideOf.get(from) !== sideOf.get(to)) proxy.setMode(mode);
    }
  }

  /** Every link back to pass, every paused node resumed. */
  heal(): void {
    for (const proxy of this.proxies.values()) proxy.setMode({ kind: "pass" });
    for (const node of this.nodes) this.resume(node.id);
  }

  running(): FaultNode[] {
    return this.nodes.filter((n) => n.process !== undefined && !n.paused);
  }

  /** GET /v1/cluster from one node, or undefined if it does not answer in time. */
  async status(id: string, timeoutMs = 2_000): Promise<GroupStatus[] | undefined> {
    try {
      const node = this.node(id);
      const response = await fetch(`${node.url}/v1/cluster`, {
        signal: AbortSignal.timeout(timeoutMs),
        ...tlsFetch(node.ca),
      });
      const body = await response.json() as { partitions: GroupStatus[] };
      return body.partitions;
    } catch {
      return undefined;
    }
  }

  /** Which node leads each group, as the running nodes that answer report it (highest term wins). */
  async leaders(): Promise<Map<number, string>> {
    const best = new Map<number, GroupStatus>();
    const statuses = await Promise.all(this.running().map((n) => this.status(n.id)));
    for (const groups of statuses) {
      for (const g of groups ?? []) {
        if (g.leader === "") continue;
        const seen = best.get(g.group);
        if (seen === undefined || g.term > seen.term) best.set(g.group, g);
      }
    }
    return new Map([...best].map(([group, g]) => [group, g.leader]));
  }

  async waitHealthy(deadlineMs = 60_000): Promise<void> {
    await Promise.all(
      this.running().map((n) => waitHealthy(n.url, deadlineMs, "healthy", n.ca)),
    );
  }

  /** Kills every process and stops the proxies; removes the data unless `keep`. */
  async stop(keep = false): Promise<void> {
    for (const node of this.nodes) await this.kill(node.id);
    for (const proxy of this.proxies.values()) await proxy.stop();
    if (!keep) rmSync(this.root, { recursive: true, force: true });
  }

  linkStats(): { forwardedBytes: number; droppedBytes: number } {
    let forwardedBytes = 0;
    let droppedBytes = 0;
    for (const proxy of this.proxies.values()) {
      forwardedBytes += proxy.bytesForwarded;
      droppedBytes += proxy.bytesDropped;
    }
    return { forwardedBytes, droppedBytes };
  }
}

/** What a fetch to a node needs when it serves HTTPS with the cluster CA's certificates. */
export function tlsFetch(ca: string | undefined): { tls?: { ca: string } } {
  return ca === undefined ? {} : { tls: { ca } };
}

/**
 * The nemesis: injects one fault at a time on a schedule, heals it, and measures how long the
 * cluster takes to serve every partition again. Fault kinds (issue 5):
 * kill -9 and restart (any node, or the node leading most groups), SIGSTOP/SIGCONT, network
 * partitions through the link proxies (random majority/minority halves, an isolated leader, a
 * bridge where one node sees both sides, one-way cuts), slow links, restarts with a clock
 * rate skewed within the drift bound, a full-cluster kill -9 and restart, and two mixes:
 * partitions that change every few hundred ms, and a kill -9 on the majority side of a
 * partition (so the minority's old leaders and the survivors race once it heals).
 */
import { groupOf } from "../../src/multiraft/partition.ts";
import type { FaultWindow } from "./availability.ts";
import { type FaultCluster, tlsFetch } from "./fault-cluster.ts";
import type { LinkMode } from "./proxy.ts";
import { now, prng } from "./workload.ts";

export const faultKinds = [
  "kill",
  "kill-leader",
  "pause",
  "pause-leader",
  "partition-halves",
  "isolate-leader",
  "bridge",
  "one-way",
  "slow-links",
  "clock-skew",
  "full-restart",
  "flapping-partitions",
  "kill-in-minority",
] as const;
export type FaultKind = (typeof faultKinds)[number];

/** How often each kind is picked, relative to the others. */
const weights: Record<FaultKind, number> = {
  "kill": 3,
  "kill-leader": 3,
  "pause": 2,
  "pause-leader": 2,
  "partition-halves": 3,
  "isolate-leader": 3,
  "bridge": 1,
  "one-way": 2,
  "slow-links": 1,
  "clock-skew": 2,
  "full-restart": 1,
  "flapping-partitions": 2,
  "kill-in-minority": 2,
};

/** Clock rates a skewed restart picks from: up to 0.9% off, inside the 1% bound (clockDriftPpmMax). */
export const skewRates = [0.991, 0.995, 1.005, 1.009] as const;

const networkFaults: readonly FaultKind[] = [
  "partition-halves",
  "isolate-leader",
  "bridge",
  "one-way",
  "slow-links",
  "flapping-partitions",
];
function isNetworkFault(kind: FaultKind): boolean {
  return networkFaults.includes(kind);
}

type Restart = { readonly id: string; readonly rate: number };

export type FaultRecord = FaultWindow & {
  readonly detail: string;
  /** Ms from healing until every partition served a linearizable read; -1 if it never did. */
  recoveryMs: number;
};

export type NemesisOptions = {
  readonly seed: number;
  readonly endAtMs: number;
  readonly faultMs: readonly [number, number];
  readonly quietMs: readonly [number, number];
  readonly recoveryDeadlineMs: number;
  /** Only these kinds (all when undefined), for targeted runs. */
  readonly kinds?: readonly FaultKind[];
  readonly log: (line: string) => void;
};

const sleep = (ms: number) => Bun.sleep(Math.max(0, ms));

export class Nemesis {
  readonly faults: FaultRecord[] = [];
  private readonly random: () => number;
  private readonly probes: string[];

  constructor(private readonly cluster: FaultCluster, private readonly options: NemesisOptions) {
    this.random = prng(options.seed ^ 0x5eed);
    this.probes = probeResources(cluster.partitions);
  }

  private get kinds(): readonly FaultKind[] {
    return this.options.kinds ?? faultKinds;
  }

  private pickKind(): FaultKind {
    const total = this.kinds.reduce((sum, k) => sum + weights[k], 0);
    let x = this.random() * total;
    for (const kind of this.kinds) {
      x -= weights[kind];
      if (x < 0) return kind;
    }
    return this.kinds[0]!;
  }

  private between([lo, hi]: readonly [number, number]): number {
    return lo + this.random() * (hi - lo);
  }

  private shuffled(): string[] {
    const ids = [...this.cluster.ids];
    for (let i = ids.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    }
    return ids;
  }

  /** The node leading the most groups (a random node when no leader is known). */
  private async busiestLeader(): Promise<string> {
    const counts = new Map<string, number>();
    for (const leader of (await this.cluster.leaders()).values()) {
      counts.set(leader, (counts.get(leader) ?? 0) + 1);
    }
    const sorted = [...counts].sort((a, b) => b[1] - a[1]);
    return sorted[0]?.[0] ?? this.shuffled()[0]!;
  }

  /** Runs faults until the end time; every fault is healed before the next starts. */
  async run(): Promise<void> {
    // Every kind once first, in a seeded order, so even a short run covers them all.
    const firsts: FaultKind[] = [...this.kinds];
    for (let i = firsts.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [firsts[i], firsts[j]] = [firsts[j]!, firsts[i]!];
    }
    while (now() + this.options.faultMs[0] < this.options.endAtMs) {
      await sleep(this.between(this.options.quietMs));
      if (now() >= this.options.endAtMs) break;
      await this.once(firsts.shift() ?? this.pickKind());
    }
  }

  async once(kind: FaultKind): Promise<FaultRecord> {
    const c = this.cluster;
    const durationMs = Math.min(
      this.between(this.options.faultMs),
      Math.max(500, this.options.endAtMs - now()),
    );
    const startMs = now();
    const mode: LinkMode = this.random() < 0.5 ? { kind: "cut" } : { kind: "blackhole" };
    const restart: Restart[] = [];
    const detail = isNetworkFault(kind)
      ? await this.injectNetwork(kind, mode, durationMs)
      : await this.injectProcess(kind, mode, durationMs, restart);
    this.options.log(`fault ${kind}: ${detail} for ${durationMs.toFixed(0)} ms`);
    // A clock skew needs no wait for the restart beyond a short one; a flapping partition
    // and a kill in a minority have spent (part of) their time already.
    const waited = now() - startMs;
    await sleep(kind === "clock-skew" ? Math.min(durationMs, 1_000) : durationMs - waited);
    c.heal();
    await Promise.all(restart.map(({ id, rate }) => c.start(id, rate)));
    const endMs = now();
    const recoveryMs = await this.recovery();
    const record: FaultRecord = { kind, startMs, endMs, detail, recoveryMs };
    this.faults.push(record);
    this.options.log(
      `healed ${kind}; every partition served again after ${recoveryMs.toFixed(0)} ms`,
    );
    return record;
  }

  /** Kills, pauses and restarts; the nodes to start again at heal go into `restart`. */
  private async injectProcess(
    kind: FaultKind,
    mode: LinkMode,
    durationMs: number,
    restart: Restart[],
  ): Promise<string> {
    const c = this.cluster;
    const killed = async (id: string, rate = c.node(id).clockRate) => {
      await c.kill(id);
      restart.push({ id, rate });
    };
    switch (kind) {
      case "kill":
      case "kill-leader": {
        const id = kind === "kill" ? this.shuffled()[0]! : await this.busiestLeader();
        await killed(id);
        return `kill -9 node ${id}`;
      }
      case "pause":
      case "pause-leader": {
        const id = kind === "pause" ? this.shuffled()[0]! : await this.busiestLeader();
        c.pause(id);
        return `SIGSTOP node ${id}`;
      }
      case "clock-skew": {
        const id = this.shuffled()[0]!;
        const rate = skewRates[Math.floor(this.random() * skewRates.length)]!;
        await killed(id, rate);
        return `restart node ${id} with clock rate ${rate}`;
      }
      case "full-restart": {
        for (const id of c.ids) await killed(id);
        return "kill -9 every node";
      }
      case "kill-in-minority": {
        const leader = await this.busiestLeader();
        const others = this.shuffled().filter((id) => id !== leader);
        const minority = [leader, others[0]!];
        const majority = others.slice(1);
        c.partition([minority, majority], mode);
        const victim = majority[Math.floor(this.random() * majority.length)]!;
        await sleep(durationMs / 3);
        await killed(victim);
        return `${mode.kind} ${minority.join(",")} | ${
          majority.join(",")
        }, then kill -9 node ${victim}`;
      }
      default:
        throw new Error(`${kind} is not a process fault`);
    }
  }

  /** Partitions, one-way cuts and slow links through the proxies. */
  private async injectNetwork(
    kind: FaultKind,
    mode: LinkMode,
    durationMs: number,
  ): Promise<string> {
    const c = this.cluster;
    switch (kind) {
      case "partition-halves": {
        const ids = this.shuffled();
        const sides = [ids.slice(0, 2), ids.slice(2)];
        c.partition(sides, mode);
        return `${mode.kind} ${sides[0]!.join(",")} | ${sides[1]!.join(",")}`;
      }
      case "isolate-leader": {
        const id = await this.busiestLeader();
        c.partition([[id], c.ids.filter((x) => x !== id)], mode);
        return `${mode.kind} leader ${id} alone`;
      }
      case "bridge": {
        // The bridge keeps every link: it sees both sides, they do not see each other.
        const [a1, a2, bridge, b1, b2] = this.shuffled() as [
          string,
          string,
          string,
          string,
          string,
        ];
        c.partition([[a1, a2], [b1, b2]], mode);
        return `${mode.kind} ${a1},${a2} | ${b1},${b2}, bridge ${bridge}`;
      }
      case "one-way": {
        const id = await this.busiestLeader();
        const outbound = this.random() < 0.5;
        for (const other of c.ids.filter((x) => x !== id)) {
          if (outbound) c.setLink(id, other, mode);
          else c.setLink(other, id, mode);
        }
        return `${mode.kind} every link ${outbound ? "from" : "to"} node ${id}`;
      }
      case "slow-links": {
        const id = this.shuffled()[0]!;
        const delayMs = Math.round(this.between([100, 600]));
        for (const other of c.ids.filter((x) => x !== id)) {
          c.setLink(id, other, { kind: "delay", delayMs });
          c.setLink(other, id, { kind: "delay", delayMs });
        }
        return `delay ${delayMs} ms on every link of node ${id}`;
      }
      case "flapping-partitions": {
        const until = now() + durationMs;
        let splits = 0;
        while (now() < until) {
          c.heal();
          const ids = this.shuffled();
          const cut = 1 + Math.floor(this.random() * 2);
          c.partition([ids.slice(0, cut), ids.slice(cut)], mode);
          splits += 1;
          await sleep(Math.min(200 + this.random() * 600, until - now()));
        }
        return `${mode.kind} a new random split every 200-800 ms (${splits} splits)`;
      }
      default:
        throw new Error(`${kind} is not a network fault`);
    }
  }

  /** Ms until a persistent read of a probe resource in every group succeeds; -1 if never. */
  async recovery(): Promise<number> {
    const start = now();
    const pending = new Set(this.probes);
    while (pending.size > 0 && now() - start < this.options.recoveryDeadlineMs) {
      await Promise.all([...pending].map(async (resource) => {
        const targets = this.cluster.running();
        const target = targets[Math.floor(this.random() * targets.length)];
        if (target === undefined) return;
        try {
          const response = await fetch(`${target.url}/v1/locks/get-info`, {
            method: "POST",
            body: JSON.stringify({ resource, durability: 1 }),
            signal: AbortSignal.timeout(3_000),
            ...tlsFetch(target.ca),
          });
          if (response.status === 200) pending.delete(resource);
        } catch {
          // Not yet.
        }
      }));
      if (pending.size > 0) await sleep(50);
    }
    return pending.size === 0 ? now() - start : -1;
  }
}

/** One resource name per group, so a read of each touches every partition. */
export function probeResources(groups: number): string[] {
  const found = new Map<number, string>();
  for (let i = 0; found.size < groups && i < 100_000; i++) {
    const name = `probe/${i}`;
    const g = groupOf(name, groups);
    if (!found.has(g)) found.set(g, name);
  }
  return [...found].sort((a, b) => a[0] - b[0]).map(([, name]) => name);
}

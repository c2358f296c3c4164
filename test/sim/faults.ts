/**
 * The fault schedule of one run, drawn from its own Prng: every so often (faultEveryMs on
 * average) one fault from the list below. Faults that last (cut links, a lossy network, a
 * node that is down) end by themselves after a random time; healing at the end of the fault
 * phase ends them all.
 */
import type { Prng } from "../../src/adapters/sim/prng.ts";
import type { Simulator } from "./simulator.ts";

export const faultKinds = [
  "partition",
  "isolateLeader",
  "oneWayCut",
  "crash",
  "crashInDiskWrite",
  "lossyNetwork",
  "clockRate",
  "restartAll",
  "diskLost",
  "diskFull",
] as const;
export type FaultKind = (typeof faultKinds)[number];

/** Each kind is drawn when the roll falls below its bound (and above the one before). */
const faultOdds: readonly (readonly [FaultKind, number])[] = [
  ["partition", 0.15],
  ["isolateLeader", 0.27],
  ["oneWayCut", 0.37],
  ["crash", 0.55],
  ["crashInDiskWrite", 0.65],
  ["lossyNetwork", 0.8],
  ["clockRate", 0.93],
  ["diskFull", 0.95],
  ["diskLost", 0.97],
];

export class FaultInjector {
  private nextAtMs: number;

  constructor(private readonly sim: Simulator, private readonly random: Prng) {
    this.nextAtMs = this.gapMs();
  }

  step(nowMs: number): void {
    if (nowMs < this.nextAtMs) return;
    this.nextAtMs = nowMs + this.gapMs();
    const roll = this.random.float();
    const allowed = this.sim.config.faultKinds;
    const kind = faultOdds.find(([, below]) => roll < below)?.[0] ?? "restartAll";
    if (allowed === undefined || allowed.includes(kind)) this[kind]();
  }

  private gapMs(): number {
    return this.random.between(1, 2 * this.sim.config.faultEveryMs);
  }

  private ids(): string[] {
    return this.sim.nodes.map((n) => n.id);
  }

  private healLater(): void {
    this.sim.agenda.at(this.sim.nowMs + this.random.between(200, this.sim.config.cutMsMax), () => {
      this.sim.network.healAll();
      this.sim.trace.add(`linksHealed ${this.sim.nowMs}`);
    });
  }

  /** Random halves, cut both ways. */
  private partition(): void {
    const ids = this.ids();
    const side = new Set(ids.filter(() => this.random.chance(0.5)));
    if (side.size === 0 || side.size === ids.length) return;
    for (const a of ids) {
      for (const b of ids) if (side.has(a) && !side.has(b)) this.cutBoth(a, b);
    }
    this.sim.count("partition");
    this.healLater();
  }

  private isolateLeader(): void {
    const group = this.random.int(this.sim.config.groups);
    const leader = this.sim.leaders.get(group);
    if (leader === undefined) return;
    for (const other of this.ids()) if (other !== leader) this.cutBoth(leader, other);
    this.sim.count("isolateLeader");
    this.healLater();
  }

  /** One link cut one way; or every link into (or out of) a leader, as the fault suite does. */
  private oneWayCut(): void {
    const [a, b] = this.twoNodes();
    if (this.random.chance(0.5)) this.sim.network.cut(a, b);
    else {
      const leader = this.sim.leaders.get(this.random.int(this.sim.config.groups));
      const node = leader ?? a;
      const into = this.random.chance(0.5);
      for (const other of this.ids()) {
        if (other === node) continue;
        if (into) this.sim.network.cut(other, node);
        else this.sim.network.cut(node, other);
      }
    }
    this.sim.count("oneWayCut");
    this.healLater();
  }

  private cutBoth(a: string, b: string): void {
    this.sim.network.cut(a, b);
    this.sim.network.cut(b, a);
  }

  private twoNodes(): [string, string] {
    const ids = this.ids();
    const a = this.random.pick(ids);
    const others = ids.filter((id) => id !== a);
    return [a, this.random.pick(others)];
  }

  /** Usually keeps a majority up; sometimes takes the majority down too (safety must hold). */
  private crash(): void {
    const up = this.sim.nodes.filter((n) => n.up);
    const down = this.sim.nodes.length - up.length;
    const minority = Math.floor((this.sim.nodes.length - 1) / 2);
    if (up.length === 0 || (down >= minority && !this.random.chance(0.1))) return;
    const node = this.random.pick(up);
    this.sim.crash(node);
    this.sim.count("crash");
    this.sim.agenda.at(
      this.sim.nowMs + this.random.between(50, 3_000),
      () => this.sim.restart(node),
    );
  }

  private crashInDiskWrite(): void {
    const up = this.sim.nodes.filter((n) => n.up && !n.disk.armed);
    if (up.length === 0) return;
    this.random.pick(up).disk.armCrash();
    this.sim.count("armDiskCrash");
  }

  private lossyNetwork(): void {
    const network = this.sim.network;
    network.faults = {
      lossRate: this.random.float() * 0.3,
      duplicateRate: this.random.float() * 0.1,
      slowRate: this.random.float() * 0.1,
      delayMsMin: 1,
      delayMsMax: this.random.between(2, 30),
      slowDelayMsMax: this.random.between(50, 1_500),
    };
    this.sim.count("lossyNetwork");
    this.sim.agenda.at(this.sim.nowMs + this.random.between(300, 4_000), () => {
      network.faults = {
        lossRate: 0,
        duplicateRate: 0,
        slowRate: 0,
        delayMsMin: 1,
        delayMsMax: 3,
        slowDelayMsMax: 3,
      };
    });
  }

  private clockRate(): void {
    const node = this.random.pick(this.sim.nodes);
    node.clock.setRatePpm(this.sim.driftRatePpm(this.random));
    this.sim.count("clockRate");
  }

  /**
   * A node's disk is lost: it stops, comes back with an empty data directory, and must be
   * re-seeded (src/host/node-host.ts, recovery). One disk at a time, and only once every peer
   * knows the node's current store (the documented guarantee): two lost disks of three, or a
   * store no peer ever heard from, may lose committed data in any Raft.
   */
  private diskLost(): void {
    const candidates = this.sim.nodes.filter((n) => n.up && this.sim.knownByEveryPeer(n));
    if (candidates.length === 0 || this.sim.nodes.some((n) => n.wiped || !n.up)) return;
    const node = this.random.pick(candidates);
    this.sim.crash(node);
    this.sim.wipe(node);
    this.sim.count("diskLost");
    this.sim.agenda.at(
      this.sim.nowMs + this.random.between(50, 3_000),
      () => this.sim.restart(node),
    );
  }

  /** A node's disk fills up: its next appends fail, and it exits as a real node does. */
  private diskFull(): void {
    const up = this.sim.nodes.filter((n) => n.up);
    if (up.length === 0) return;
    const node = this.random.pick(up);
    node.disk.fill(this.random.int(2 * 1024));
    this.sim.count("diskFull");
    this.sim.agenda.at(this.sim.nowMs + this.random.between(100, 3_000), () => node.disk.unfill());
  }

  private restartAll(): void {
    for (const node of this.sim.nodes) {
      this.sim.crash(node);
      this.sim.agenda.at(
        this.sim.nowMs + this.random.between(50, 2_000),
        () => this.sim.restart(node),
      );
    }
    this.sim.count("restartAll");
  }
}

/**
 * The deterministic simulator (docs/testing.md, in the manner of TigerBeetle's VOPR): one seed
 * decides one run. 3 or 5 nodes, each a REAL NodeHost with simulated adapters (network,
 * disk, clock, randomness), a client workload, and faults (lost, delayed, reordered and
 * duplicated frames; cut links, both ways and one way; crashes, including inside a disk
 * write; restarts with a new clock origin; clock-rate drift). Then the faults stop, the
 * network heals, every node restarts, and probes check that every group commits again.
 *
 * True time advances one millisecond per step; each node ticks every tickMs of its OWN clock.
 * Each step: clocks, faults, frames due, client traffic due, ticks, then a flush of every node
 * that got input (in node order), then observation for the checkers. Nothing here reads a
 * wall clock or Math.random: the trace hash of a seed is the same every time.
 */
import { AssertionError } from "../../src/assert.ts";
import { Prng } from "../../src/adapters/sim/prng.ts";
import { SimClock } from "../../src/adapters/sim/sim-clock.ts";
import { isDiskFull, SimCrash, SimDisk } from "../../src/adapters/sim/sim-disk.ts";
import {
  calmNetwork,
  type NetworkBreakage,
  SimNetwork,
} from "../../src/adapters/sim/sim-network.ts";
import {
  clockDriftPpmMax,
  frameBytesMax,
  sharedLimitMax,
  sweepGraceMsDefault,
  tickMs,
} from "../../src/constants.ts";
import { NodeHost } from "../../src/host/node-host.ts";
import type { GroupHost } from "../../src/host/group-host.ts";
import { Durability, type LockRequest, type LockResponse } from "../../src/locks/types.ts";
import { groupOf } from "../../src/multiraft/partition.ts";
import { Agenda } from "./agenda.ts";
import { AppliedCheck, checkLogMatching, LeaderCheck, VoteCheck } from "./raft-checkers.ts";
import { Preloader } from "./preload.ts";
import type { Violation } from "../checkers/history.ts";
import { checkHistory, type CheckReport } from "../checkers/check.ts";
import { simulatedLease } from "../checkers/lease.ts";
import { FaultInjector, type FaultKind } from "./faults.ts";
import { Trace } from "./trace.ts";
import { Client, type ClientPort, History, type SharedResource } from "./workload.ts";
import { SimWatcher } from "./watchers.ts";
import { LineOrder } from "./line-order.ts";
import { checkWatches } from "../checkers/watch.ts";
import { Prober } from "./prober.ts";
import { LiveProber } from "./live-prober.ts";

export type SimConfig = {
  readonly seed: number;
  readonly nodes: number;
  readonly groups: number;
  /** How long faults are injected, in true ms. */
  readonly faultMs: number;
  /** After healing, every group must commit again within this many true ms (liveness). */
  readonly healMsMax: number;
  readonly clients: number;
  readonly resources: readonly string[];
  /** Locks the clients take shared and exclusive (docs/spec.md §2.8): a semaphore, readers. */
  readonly sharedResources: readonly SharedResource[];
  readonly leaseMsMax: number;
  /** The host's snapshot interval (small, so snapshots and compaction happen in short runs). */
  readonly snapshotEntries: number;
  /**
   * Node clock rates stay within a band of width driftPpm (bound: clockDriftPpmMax) around
   * true time, which the clients read: centred (±driftPpm/2), all fast (0..+driftPpm: leases
   * end early in true time) or all slow. Any two clocks then agree within driftPpm.
   */
  readonly driftPpm: number;
  readonly driftBand: "centred" | "fast" | "slow";
  /** The drift bound the lock checkers assume (docs/spec.md §2.3). */
  readonly driftBoundPpm: number;
  /** Mean true ms between two faults. */
  readonly faultEveryMs: number;
  readonly lyingDisk: boolean;
  readonly breakage: NetworkBreakage;
  /** The peer framing limit (the runtime's; a test lowers it to see a breach reported). */
  readonly frameBytesMax: number;
  /** The kinds of fault injected (undefined: all of them). */
  readonly faultKinds: readonly FaultKind[] | undefined;
  /** A cut link heals after at most this long. */
  readonly cutMsMax: number;
  /** How long a free lock record stays before the leader sweeps it (the host's flag). */
  readonly sweepGraceMs: number;
  /** Persistent locks with names of preloadNameBytes taken besides the workload (preload.ts). */
  readonly preloadLocks: number;
  readonly preloadNameBytes: number;
};

/** The linearizability search's bound per lock in one run (a lock past it is inconclusive). */
export const linearizabilityStepsMax = 200_000;

export type SimOverrides = Partial<Omit<SimConfig, "seed">>;

/** The run's shape, drawn from the seed (so one seed is one whole scenario). */
export function configFor(seed: number, overrides: SimOverrides = {}): SimConfig {
  const random = new Prng(seed ^ 0x5eed);
  const nodes = random.chance(0.7) ? 3 : 5;
  const groups = random.between(1, 3);
  const resourceCount = random.between(2, 3);
  return {
    seed,
    nodes,
    groups,
    faultMs: random.between(4_000, 10_000),
    healMsMax: 15_000,
    clients: random.between(3, 6),
    resources: Array.from({ length: resourceCount }, (_, i) => `r${i}`),
    // Not drawn from the seed's stream, so the rest of each seed's scenario stays as it was.
    sharedResources: [
      { name: "sem", limit: 2, exclusiveChance: 0.25 },
      { name: "rw", limit: sharedLimitMax, exclusiveChance: 0.4 },
    ],
    leaseMsMax: random.pick([300, 1_000, 2_000]),
    snapshotEntries: random.pick([25, 100, 400]),
    driftPpm: clockDriftPpmMax,
    driftBand: random.pick(["centred", "fast", "slow"] as const),
    driftBoundPpm: clockDriftPpmMax,
    faultEveryMs: random.pick([150, 400, 1_000]),
    lyingDisk: false,
    breakage: {},
    frameBytesMax,
    faultKinds: undefined,
    cutMsMax: 3_000,
    // Drawn last, so the draws above stay what they were for every seed.
    sweepGraceMs: random.pick([sweepGraceMsDefault, 0, 300, 3_000]),
    preloadLocks: 0,
    preloadNameBytes: 200,
    ...overrides,
  };
}

export type SimResult = {
  readonly seed: number;
  readonly config: SimConfig;
  readonly traceHash: string;
  readonly simulatedMs: number;
  readonly faults: Readonly<Record<string, number>>;
  readonly violations: readonly Violation[];
  readonly history: CheckReport;
  readonly stats: Readonly<Record<string, number>>;
};

export class SimNode {
  host: NodeHost | undefined;
  clock: SimClock;
  incarnation = 0;
  nextTickMs = 0;
  dirty = false;
  readonly unreachable = new Set<string>();
  /** Its disk was lost and it has not yet finished recovering (one lost disk at a time). */
  wiped = false;
  /** A wiped node was seen recovering (so an empty list of recovering groups means done). */
  sawRecovering = false;
  /**
   * The peers a frame of this node's current store reached (frames in flight from an older
   * store have all landed 2 s after it starts: no delay is longer).
   */
  readonly heardBy = new Set<string>();
  storeSinceMs = 0;

  constructor(readonly id: string, readonly disk: SimDisk, clock: SimClock) {
    this.clock = clock;
  }

  get up(): boolean {
    return this.host !== undefined;
  }
}

export class Simulator {
  readonly config: SimConfig;
  readonly random: Prng;
  readonly network: SimNetwork;
  readonly nodes: SimNode[] = [];
  readonly agenda = new Agenda();
  readonly trace = new Trace();
  readonly history = new History();
  readonly violations: Violation[] = [];
  readonly leaderCheck = new LeaderCheck();
  readonly voteCheck = new VoteCheck();
  readonly appliedCheck = new AppliedCheck();
  readonly lineOrder = new LineOrder();
  readonly faultCounts: Record<string, number> = {};
  readonly stats = {
    crashes: 0,
    restarts: 0,
    flushes: 0,
    hostErrors: 0,
    badFrames: 0,
    frameLimitBreaches: 0,
    frameBytesLargest: 0,
    preloaded: 0,
    lineGrants: 0,
  };
  /** The leader each group last reported, by any node (for "isolate the leader"). */
  readonly leaders = new Map<number, string>();
  nowMs = 0;
  private readonly clients: Client[] = [];
  private readonly watchers: SimWatcher[] = [];
  private readonly faults: FaultInjector;
  private prober: Prober | undefined;
  private readonly liveProber: LiveProber;
  private readonly nodeRandom: Prng;
  private readonly clientPort: ClientPort;
  private readonly voters: string[];

  constructor(config: SimConfig) {
    this.config = config;
    this.random = new Prng(config.seed);
    this.nodeRandom = this.random.fork();
    this.network = new SimNetwork(
      this.random.fork(),
      config.groups,
      config.breakage,
      config.frameBytesMax,
    );
    this.voters = Array.from({ length: config.nodes }, (_, i) => String(i + 1));
    for (const id of this.voters) {
      const disk = new SimDisk({ lies: config.lyingDisk, random: this.random.fork() });
      this.nodes.push(new SimNode(id, disk, this.newClock()));
    }
    this.clientPort = {
      nodes: () => this.voters,
      send: (node, request, answer) => this.clientSend(node, request, answer),
    };
    const clientRandom = this.random.fork();
    for (let i = 0; i < config.clients; i++) {
      this.clients.push(
        new Client(
          `c${i}`,
          clientRandom.fork(),
          this.clientPort,
          this.history,
          config.resources,
          config.leaseMsMax,
          config.sharedResources,
        ),
      );
    }
    // Watchers of hot locks (docs/spec.md §2.6), one of each durability.
    const watcherRandom = this.random.fork();
    for (const durability of [Durability.Persistent, Durability.Ephemeral]) {
      const resource = watcherRandom.pick(config.resources);
      this.watchers.push(
        new SimWatcher(
          `w${durability}`,
          watcherRandom.fork(),
          this.clientPort,
          resource,
          durability,
        ),
      );
    }
    this.faults = new FaultInjector(this, this.random.fork());
    this.liveProber = new LiveProber(
      this.clientPort,
      this.history,
      this.random.fork(),
      Array.from({ length: config.groups }, (_, g) => this.resourceIn("live", g)),
      () => this.describeCluster(),
    );
    if (config.preloadLocks > 0) {
      this.preloader = new Preloader(
        this.clientPort,
        this.random.fork(),
        config.preloadLocks,
        config.preloadNameBytes,
      );
    }
    for (const node of this.nodes) this.start(node);
  }

  readonly preloader: Preloader | undefined;

  /** A persistent Get on the group's serving leader, straight from its state machine. */
  private readOnLeader(resource: string): LockResponse | undefined {
    const group = groupOf(resource, this.config.groups);
    for (const node of this.nodes) {
      const groups = (node.host as unknown as { groups: GroupHost[] } | undefined)?.groups;
      const host = groups?.[group];
      if (host === undefined || !host.isServing()) continue;
      return host.machine.get(resource, node.clock.readingMs());
    }
    return undefined;
  }

  newClock(): SimClock {
    return new SimClock(
      this.nowMs,
      this.nodeRandom.between(0, 1_000_000_000),
      this.driftRatePpm(this.nodeRandom),
    );
  }

  /** A clock rate within the run's band (see SimConfig.driftBand). */
  driftRatePpm(random: Prng): number {
    const { driftPpm, driftBand } = this.config;
    const half = Math.floor(driftPpm / 2);
    if (driftBand === "fast") return random.between(0, driftPpm);
    if (driftBand === "slow") return random.between(-driftPpm, 0);
    return random.between(-half, half);
  }

  /** Runs the whole scenario: faults, heal, liveness probes, then the history checkers. */
  run(): SimResult {
    const { faultMs, healMsMax } = this.config;
    let healedAtMs = -1;
    let doneAtMs = -1;
    for (this.nowMs = 0; this.nowMs <= faultMs + healMsMax; this.nowMs++) {
      if (this.nowMs === faultMs) {
        this.heal();
        healedAtMs = this.nowMs;
      }
      this.step(healedAtMs < 0);
      if (this.nowMs % 500 === 0) {
        this.checkLogs();
        this.trackWiped();
      }
      if (healedAtMs >= 0 && this.prober !== undefined && this.prober.done()) {
        doneAtMs = this.nowMs;
        break;
      }
    }
    if (doneAtMs < 0) {
      this.violations.push({
        checker: "liveness",
        key: "",
        ops: [],
        message: `after healing at ${healedAtMs} ms, not every group committed again within ` +
          `${healMsMax} ms: ${this.prober?.describePending() ?? "no probes"}`,
        atMs: this.nowMs,
      });
    }
    this.checkLogs();
    return this.result();
  }

  private result(): SimResult {
    this.stats.preloaded = this.preloader?.granted.size ?? 0;
    this.stats.lineGrants = this.lineOrder.grants;
    const lease = simulatedLease({
      driftBoundPpm: this.config.driftBoundPpm,
      slowestRatePpm: this.config.driftPpm,
      sweepGraceMs: this.config.sweepGraceMs,
      leaderChangesMs: (resource) =>
        this.leaderCheck.changesMs.get(groupOf(resource, this.config.groups)) ?? [],
    });
    const history = checkHistory(this.history.ops, {
      lease,
      readBacks: this.prober?.finalChecks() ?? [],
      stepsMax: linearizabilityStepsMax,
    });
    const violations = [
      ...this.violations,
      ...this.liveProber.violations,
      ...this.leaderCheck.violations,
      ...this.voteCheck.violations,
      ...this.appliedCheck.violations,
      ...this.lineOrder.violations,
      ...(this.preloader?.check((r) => this.readOnLeader(r), this.nowMs) ?? []),
      ...history.violations,
      ...checkWatches(this.watchers.map((watcher) => watcher.log), this.history.ops),
    ];
    const net = this.network.stats;
    return {
      seed: this.config.seed,
      config: this.config,
      traceHash: this.trace.digest(),
      simulatedMs: this.nowMs,
      faults: {
        ...this.faultCounts,
        lostFrames: net.lost,
        duplicatedFrames: net.duplicated,
        cutFrames: net.cut,
      },
      violations,
      history,
      stats: {
        ...this.stats,
        framesSent: net.sent,
        framesDelivered: net.delivered,
        terms: this.leaderCheck.terms,
        entriesApplied: this.appliedCheck.applied,
        ops: this.history.ops.length,
        healthyWindows: this.liveProber.windows,
        liveAnswers: this.liveProber.answered,
        liveLongestWaitMs: this.liveProber.longestWaitMs,
      },
    };
  }

  private step(faulting: boolean): void {
    const now = this.nowMs;
    for (const node of this.nodes) if (node.up) node.clock.advanceTo(now);
    if (faulting) this.faults.step(now);
    this.agenda.run(now);
    for (const delivery of this.network.due(now)) {
      const node = this.node(delivery.to);
      if (!node.up) continue;
      if ("error" in delivery) {
        this.frameLimit(
          `n${delivery.to} refused a frame from n${delivery.from}: ${delivery.error}`,
        );
        continue;
      }
      this.trace.add(`d ${now} ${delivery.from}>${delivery.to} ${delivery.frame.length}`);
      const sender = this.node(delivery.from);
      if (now >= sender.storeSinceMs + 2_000) sender.heardBy.add(delivery.to);
      const error = this.guard(node, () => node.host!.receive(delivery.frame));
      if (error !== undefined) this.stats.badFrames += 1;
      node.dirty = true;
    }
    for (const node of this.nodes) this.tickNode(node);
    for (const client of this.clients) client.step(now);
    for (const watcher of this.watchers) watcher.step(now);
    this.preloader?.step();
    if (faulting) this.liveProber.step(now, this.healthySet());
    this.prober?.step(now);
    for (const node of this.nodes) {
      if (!node.up) continue;
      if (node.unreachable.size > 0) {
        for (const peer of [...node.unreachable].sort()) {
          this.guard(node, () => node.host!.reportUnreachable(peer));
        }
        node.unreachable.clear();
      }
      if (node.dirty) this.flush(node);
    }
  }

  private tickNode(node: SimNode): void {
    for (let i = 0; i < 4 && node.up && node.clock.readingMs() >= node.nextTickMs; i++) {
      this.guard(node, () => node.host!.tick());
      node.nextTickMs += tickMs;
      node.dirty = true;
    }
  }

  private flush(node: SimNode): void {
    node.dirty = false;
    for (let round = 0; round < 16 && node.up; round++) {
      this.stats.flushes += 1;
      const more = this.guard(node, () => node.host!.flush());
      this.observe(node);
      if (more !== true) break;
    }
  }

  /** Runs a host call; a SimCrash kills the node, any other error is a finding and kills it. */
  private guard<T>(node: SimNode, call: () => T): T | undefined {
    try {
      return call();
    } catch (error) {
      if (isDiskFull(error)) {
        // A full disk makes a real node exit; it restarts once space is freed.
        this.count("diskFullExit");
        node.disk.unfill();
      } else if (!(error instanceof SimCrash)) {
        this.stats.hostErrors += 1;
        const kind = error instanceof AssertionError ? "assertion" : "exception";
        this.violations.push({
          checker: "host error",
          key: `n${node.id}`,
          message: `n${node.id} threw (${kind}): ${String(error)}`,
          atMs: this.nowMs,
          ops: [],
        });
      } else {
        this.count("crashInDiskWrite");
      }
      this.crash(node);
      this.agenda.at(this.nowMs + this.random.between(50, 1_500), () => this.restart(node));
      return undefined;
    }
  }

  private observe(node: SimNode): void {
    const host = node.host;
    if (host === undefined) return;
    for (const status of host.groupStatuses()) {
      if (status.role === "leader") {
        this.leaderCheck.observe(node.id, status.group, status.term, this.nowMs);
      }
      if (status.leader !== "") this.leaders.set(status.group, status.leader);
      this.appliedCheck.observe(node.id, status.group, status.applied, node.disk, this.nowMs);
    }
  }

  private checkLogs(): void {
    const disks = new Map(this.nodes.map((n) => [n.id, n.disk] as const));
    for (const v of checkLogMatching(disks, this.config.groups, this.nowMs)) {
      if (this.violations.length < 50) this.violations.push(v);
    }
  }

  /** A frame over the limit: a real node would die, or drop the connection that sent it. */
  private frameLimit(message: string): void {
    this.stats.frameLimitBreaches += 1;
    if (this.violations.length >= 50) return;
    this.violations.push({
      checker: "frame limit",
      key: "",
      message: `${message} (limit ${this.network.frameBytesMax})`,
      atMs: this.nowMs,
      ops: [],
    });
  }

  node(id: string): SimNode {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** Whether every other node has heard from `node`'s current store (so it would see it lost). */
  knownByEveryPeer(node: SimNode): boolean {
    return node.heardBy.size === this.nodes.length - 1;
  }

  /** The node's disk is replaced by an empty one (it must be down). */
  wipe(node: SimNode): void {
    node.disk.wipe();
    node.wiped = true;
    node.heardBy.clear();
    node.storeSinceMs = Number.POSITIVE_INFINITY;
  }

  /** A wiped node is done once it was seen recovering and no longer is. */
  private trackWiped(): void {
    for (const node of this.nodes) {
      if (!node.wiped || node.host === undefined) continue;
      const recovering = node.host.groupStatuses().some((g) => g.recovering === true);
      if (recovering) node.sawRecovering = true;
      else if (node.sawRecovering) {
        node.wiped = false;
        node.sawRecovering = false;
      }
    }
  }

  count(kind: string): void {
    this.faultCounts[kind] = (this.faultCounts[kind] ?? 0) + 1;
    this.trace.add(`f ${this.nowMs} ${kind}`);
  }

  start(node: SimNode): void {
    const id = node.id;
    const host = new NodeHost({
      nodeId: id,
      voters: this.voters,
      groups: this.config.groups,
      sweepGraceMs: this.config.sweepGraceMs,
      logStore: node.disk,
      transport: {
        send: (to, frame) => {
          this.stats.frameBytesLargest = Math.max(this.stats.frameBytesLargest, frame.length);
          if (frame.length > this.network.frameBytesMax) {
            // The encoder's assertion kills the node, as it kills a real one.
            this.frameLimit(`n${id} built a frame of ${frame.length} bytes for n${to}`);
          }
          if (this.network.isCut(id, to)) node.unreachable.add(to);
          this.voteCheck.observe(id, to, frame, this.config.groups, this.nowMs);
          this.network.send(id, to, frame, this.nowMs);
        },
      },
      clock: node.clock,
      random: this.nodeRandom.fork(),
      snapshotEntries: this.config.snapshotEntries,
      lineTrace: this.lineOrder.observer(`n${id}`, node.incarnation, () => this.nowMs),
    });
    node.host = host;
    if (node.storeSinceMs === Number.POSITIVE_INFINITY) node.storeSinceMs = this.nowMs;
    node.incarnation += 1;
    node.nextTickMs = node.clock.readingMs() + tickMs;
    node.dirty = true;
    for (const status of host.groupStatuses()) {
      this.appliedCheck.reset(id, status.group, status.applied);
    }
    this.trace.add(`start ${this.nowMs} n${id}`);
  }

  crash(node: SimNode): void {
    if (!node.up) return;
    node.host = undefined;
    node.disk.crash(this.random);
    node.unreachable.clear();
    this.stats.crashes += 1;
    this.trace.add(`crash ${this.nowMs} n${node.id}`);
  }

  /** A new process on the same disk: a new NodeHost and a monotonic clock with a new origin. */
  restart(node: SimNode): void {
    if (node.up) return;
    node.clock = this.newClock();
    this.stats.restarts += 1;
    try {
      this.start(node);
    } catch (error) {
      // The process that could not start exits: the next start is a new one.
      node.disk.crash(this.random);
      if (isDiskFull(error)) {
        // The disk is still full: the node exits again, and is started once space is freed.
        this.count("diskFullExit");
        node.disk.unfill();
        this.agenda.at(this.nowMs + this.random.between(50, 1_500), () => this.restart(node));
        return;
      }
      this.violations.push({
        checker: "host error",
        key: `n${node.id}`,
        message: `n${node.id} could not restart from its disk: ${String(error)}`,
        atMs: this.nowMs,
        ops: [],
      });
    }
  }

  /** Faults stop: links heal, the network calms, clients stop, every node comes back. */
  private heal(): void {
    this.trace.add(`heal ${this.nowMs}`);
    this.network.healAll();
    this.network.faults = { ...calmNetwork };
    for (const node of this.nodes) {
      node.disk.disarm();
      node.disk.unfill();
      if (!node.up) this.restart(node);
    }
    for (const client of this.clients) client.stop();
    for (const watcher of this.watchers) watcher.stop();
    this.prober = new Prober(
      this.clientPort,
      this.history,
      this.random.fork(),
      this.probeResources(),
    );
  }

  /** The hot resources plus one resource per group, so every group must commit again. */
  private probeResources(): string[] {
    const resources = [...this.config.resources];
    for (let group = 0; group < this.config.groups; group++) {
      resources.push(this.resourceIn("probe", group));
    }
    return resources;
  }

  /** The first resource named `prefix-i` that falls in `group`. */
  private resourceIn(prefix: string, group: number): string {
    for (let i = 0; i < 10_000; i++) {
      const name = `${prefix}-${i}`;
      if (groupOf(name, this.config.groups) === group) return name;
    }
    throw new Error(`no ${prefix} resource in group ${group}`);
  }

  /**
   * The largest set of up nodes, a majority, connected both ways to each other, on a calm
   * network and with no crash armed inside a disk write (the first such set in node order
   * when several are as large); undefined when there is none.
   */
  healthySet(): string[] | undefined {
    if (!this.network.isCalm()) return undefined;
    const up = this.nodes.filter((n) => n.up && !n.disk.armed).map((n) => n.id);
    const majority = Math.floor(this.nodes.length / 2) + 1;
    let best: string[] | undefined;
    for (let mask = 1; mask < 1 << up.length; mask++) {
      const set = up.filter((_, i) => (mask & (1 << i)) !== 0);
      if (set.length < majority || (best !== undefined && set.length <= best.length)) continue;
      const connected = set.every((a) => set.every((b) => a === b || !this.network.isCut(a, b)));
      if (connected) best = set;
    }
    return best;
  }

  /** What a liveness report needs: the cuts, and each node's view of each group. */
  private describeCluster(): string {
    const views = this.nodes.map((n) => {
      if (n.host === undefined) return `n${n.id} down`;
      const groups = n.host.groupStatuses().map((s) =>
        `g${s.group} ${s.role} t${s.term} leader ${s.leader === "" ? "-" : `n${s.leader}`}`
      );
      return `n${n.id}: ${groups.join(", ")}`;
    });
    const cuts = this.network.cutLinks();
    return `cuts ${cuts.length === 0 ? "none" : cuts.join(" ")}; ${views.join("; ")}`;
  }

  private clientSend(
    nodeId: string,
    request: LockRequest,
    answer: (response: LockResponse | "unreachable", nowMs: number) => void,
  ): () => void {
    const node = this.node(nodeId);
    const arriveMs = this.nowMs + this.random.between(1, 3);
    let submitted: { reply: (response: LockResponse) => void; incarnation: number } | undefined;
    let gone = false;
    this.agenda.at(arriveMs, () => {
      if (!node.up) {
        this.agenda.at(this.nowMs + 1, () => answer("unreachable", this.nowMs));
        return;
      }
      const incarnation = node.incarnation;
      const reply = (response: LockResponse) => {
        // A process that died cannot answer; the client times out instead.
        if (node.incarnation !== incarnation || !node.up || gone) return;
        this.trace.add(
          `a ${this.nowMs} n${nodeId} ${request.op} ${request.resource} ${response.type} ${response.fencingToken}`,
        );
        this.agenda.at(this.nowMs + this.random.between(1, 3), () => answer(response, this.nowMs));
      };
      submitted = { reply, incarnation };
      this.guard(node, () => node.host!.submit(request, reply));
      node.dirty = true;
    });
    // The client's connection closes: the node hears of it a moment later.
    return () => {
      gone = true;
      this.agenda.at(this.nowMs + this.random.between(1, 3), () => {
        const sent = submitted;
        if (sent === undefined || !node.up || node.incarnation !== sent.incarnation) return;
        this.guard(node, () => node.host!.cancel(sent.reply));
        node.dirty = true;
      });
    };
  }
}

export function simulate(seed: number, overrides: SimOverrides = {}): SimResult {
  return new Simulator(configFor(seed, overrides)).run();
}

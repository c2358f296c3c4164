/**
 * The simulator from the command line.
 *
 *   bun test/sim/run.ts --seed 1234            replay one seed: its trace hash and findings
 *   bun test/sim/run.ts --seeds 100000         run seeds 1..100000 and print a summary
 *   bun test/sim/run.ts --seeds 500 --from 9000 --broken lying-disk
 *   bun test/sim/run.ts --seeds 200 --profile harsh   (also: long, short-leases, partial, disk-lost, large-state)
 *
 * `--broken` switches on a deliberately broken rule (lying-disk, misdeliver, corrupt-term,
 * wild-clocks, vote-without-log-check, ephemeral-no-wait) to see the checkers fire. Exit status: 0 when no seed found a violation, 1
 * otherwise (and each failing seed is printed with the command that replays it).
 */
import { parseArgs } from "node:util";
import { GroupHost } from "../../src/host/group-host.ts";
import { NodeHost } from "../../src/host/node-host.ts";
import { Raft } from "../../src/raft/raft.ts";
import { RaftLog } from "../../src/raft/raft-log.ts";
import { describe } from "../checkers/history.ts";
import { type SimOverrides, type SimResult, simulate } from "./simulator.ts";
import { configFor, Simulator } from "./simulator.ts";

export const brokenModes: Record<string, SimOverrides> = {
  "lying-disk": { lyingDisk: true },
  "misdeliver": { breakage: { misdeliver: true } },
  "corrupt-term": { breakage: { corruptTerm: true } },
  "wild-clocks": { driftPpm: 600_000 },
};

/** Run shapes beyond the default mix, for longer or harsher looks. */
export const profiles: Record<string, SimOverrides> = {
  harsh: { faultEveryMs: 100, nodes: 5, groups: 3, faultMs: 12_000 },
  long: { faultMs: 25_000, clients: 8, snapshotEntries: 25 },
  "short-leases": { leaseMsMax: 150, clients: 8 },
  // Partial faults that last: a healthy majority stays while a minority is cut or down, so
  // liveness is checked during faults for long stretches (test/sim/live-prober.ts).
  // Large state: 50,000 locks with 200-byte names besides the workload, so snapshots are
  // megabytes and a follower behind catches up by a chunked transfer under the faults.
  "large-state": {
    preloadLocks: 50_000,
    preloadNameBytes: 200,
    snapshotEntries: 5_000,
    groups: 2,
    faultMs: 20_000,
  },
  // Lost disks among the other faults: each wiped node must be re-seeded before it votes.
  "disk-lost": {
    faultKinds: ["diskLost", "crash", "oneWayCut", "isolateLeader", "lossyNetwork"],
    faultMs: 20_000,
    faultEveryMs: 300,
    nodes: 3,
  },
  partial: {
    faultKinds: ["oneWayCut", "isolateLeader", "crash", "clockRate"],
    faultMs: 20_000,
    faultEveryMs: 4_000,
    cutMsMax: 15_000,
  },
};

/**
 * Broken rules inside the core and the host, switched on by patching a prototype for the run
 * (test only, so src/raft and src/host keep no unsafe knob): each returns its undo.
 */
export const brokenPatches: Record<string, () => () => void> = {
  // Raft §5.4.1: a voter must refuse a candidate whose log is behind its own.
  "vote-without-log-check": () => {
    const proto = RaftLog.prototype as unknown as { isUpToDate: (i: number, t: number) => boolean };
    const original = proto.isUpToDate;
    proto.isUpToDate = () => true;
    return () => {
      proto.isUpToDate = original;
    };
  },
  // SPEC §2.2: a new leader must wait out the old leader's ephemeral horizon before granting.
  "ephemeral-no-wait": () => {
    const proto = GroupHost.prototype as unknown as { afterApply: (nowMs: number) => void };
    const original = proto.afterApply;
    proto.afterApply = function (this: { ephemeralReadyAtMs: number }, nowMs: number) {
      original.call(this, nowMs);
      this.ephemeralReadyAtMs = 0;
    };
    return () => {
      proto.afterApply = original;
    };
  },
  // A node that lost its storage must not be heard as the voter it was (NodeHost recovery).
  "trust-lost-disk": () => {
    const proto = NodeHost.prototype as unknown as {
      acceptStore: () => boolean;
      learnStores: () => void;
    };
    const { acceptStore, learnStores } = proto;
    proto.acceptStore = () => true;
    proto.learnStores = () => {};
    return () => {
      proto.acceptStore = acceptStore;
      proto.learnStores = learnStores;
    };
  },
  // Raft thesis §6.2: a leader that stops hearing from a majority must step down.
  "no-check-quorum": () => {
    const proto = Raft.prototype as unknown as { checkQuorum: () => void };
    const original = proto.checkQuorum;
    proto.checkQuorum = () => {};
    return () => {
      proto.checkQuorum = original;
    };
  },
};

/** The command that replays `seed`; `flags` are the --broken / --profile flags of the run. */
export function replayCommand(seed: number, flags = ""): string {
  return `bun test/sim/run.ts --seed ${seed}${flags}`;
}

export type Summary = {
  seeds: number;
  failedSeeds: number[];
  simulatedMs: number;
  faults: Record<string, number>;
  violations: Record<string, number>;
  ops: number;
  grants: number;
  linearizableKeys: number;
  uncheckedKeys: number;
  terms: number;
  crashes: number;
};

export function emptySummary(): Summary {
  return {
    seeds: 0,
    failedSeeds: [],
    simulatedMs: 0,
    faults: {},
    violations: {},
    ops: 0,
    grants: 0,
    linearizableKeys: 0,
    uncheckedKeys: 0,
    terms: 0,
    crashes: 0,
  };
}

export function addToSummary(summary: Summary, result: SimResult): void {
  summary.seeds += 1;
  summary.simulatedMs += result.simulatedMs;
  for (const [kind, n] of Object.entries(result.faults)) {
    summary.faults[kind] = (summary.faults[kind] ?? 0) + n;
  }
  for (const v of result.violations) {
    summary.violations[v.checker] = (summary.violations[v.checker] ?? 0) + 1;
  }
  if (result.violations.length > 0) summary.failedSeeds.push(result.seed);
  summary.ops += result.stats.ops ?? 0;
  summary.grants += result.history.grants;
  summary.linearizableKeys += result.history.linearizableKeys;
  summary.uncheckedKeys += result.history.inconclusiveKeys.length;
  summary.terms += result.stats.terms ?? 0;
  summary.crashes += result.stats.crashes ?? 0;
}

function printSummary(summary: Summary, wallMs: number, flags: string): void {
  const hours = (summary.simulatedMs / 3_600_000).toFixed(2);
  console.log(`seeds ${summary.seeds}, simulated ${hours} h, wall ${(wallMs / 1000).toFixed(1)} s`);
  console.log(
    `client operations ${summary.ops}, grants ${summary.grants}, leader terms ${summary.terms}, crashes ${summary.crashes}`,
  );
  console.log(
    `locks linearizable ${summary.linearizableKeys}, inconclusive (search bound) ${summary.uncheckedKeys}`,
  );
  const faults = Object.entries(summary.faults).sort(([a], [b]) => a.localeCompare(b));
  console.log(`faults: ${faults.map(([k, n]) => `${k} ${n}`).join(", ")}`);
  const violations = Object.entries(summary.violations);
  console.log(
    `violations: ${
      violations.length === 0 ? "none" : violations.map(([k, n]) => `${k} ${n}`).join(", ")
    }`,
  );
  console.log(`failed seeds: ${summary.failedSeeds.length}`);
  for (const seed of summary.failedSeeds.slice(0, 20)) {
    console.log(`  replay: ${replayCommand(seed, flags)}`);
  }
}

function replay(seed: number, overrides: SimOverrides, flags: string): boolean {
  const sim = new Simulator(configFor(seed, overrides));
  const result = sim.run();
  const c = result.config;
  console.log(
    `seed ${seed}: ${c.nodes} nodes, ${c.groups} groups, ${c.clients} clients, faults for ` +
      `${c.faultMs} ms (one every ~${c.faultEveryMs} ms), snapshot every ${c.snapshotEntries} entries`,
  );
  console.log(
    `trace hash ${result.traceHash}, simulated ${result.simulatedMs} ms, ` +
      `${result.stats.ops} client operations, ${result.history.grants} grants`,
  );
  console.log(`faults: ${JSON.stringify(result.faults)}`);
  console.log(`stats: ${JSON.stringify(result.stats)}`);
  if (result.violations.length === 0) {
    console.log("no violations");
    return true;
  }
  for (const v of result.violations.slice(0, 30)) {
    console.log(`VIOLATION [${v.checker}] at ${v.atMs} ms: ${v.message}`);
  }
  console.log(`replay: ${replayCommand(seed, flags)}`);
  if (process.env.SIM_HISTORY !== undefined) {
    for (const op of sim.history.ops) console.log(describe(op));
  }
  return false;
}

function main(): number {
  const { values } = parseArgs({
    options: {
      seed: { type: "string" },
      seeds: { type: "string" },
      from: { type: "string", default: "1" },
      broken: { type: "string" },
      profile: { type: "string" },
      progress: { type: "string", default: "1000" },
    },
  });
  const broken = values.broken;
  if (
    broken !== undefined && brokenModes[broken] === undefined && brokenPatches[broken] === undefined
  ) {
    const modes = [...Object.keys(brokenModes), ...Object.keys(brokenPatches)];
    console.error(`--broken must be one of ${modes.join(", ")}, got "${broken}"`);
    return 2;
  }
  const profile = values.profile;
  if (profile !== undefined && profiles[profile] === undefined) {
    console.error(`--profile must be one of ${Object.keys(profiles).join(", ")}, got "${profile}"`);
    return 2;
  }
  const overrides = {
    ...(profile === undefined ? {} : profiles[profile]),
    ...(broken === undefined ? {} : brokenModes[broken] ?? {}),
  };
  if (broken !== undefined) brokenPatches[broken]?.();
  const flags = (broken === undefined ? "" : ` --broken ${broken}`) +
    (profile === undefined ? "" : ` --profile ${profile}`);
  if (values.seed !== undefined) return replay(Number(values.seed), overrides, flags) ? 0 : 1;
  if (values.seeds === undefined) {
    console.error(
      "usage: bun test/sim/run.ts --seed N | --seeds COUNT [--from FIRST] [--broken MODE] [--profile P]",
    );
    return 2;
  }
  const count = Number(values.seeds);
  const from = Number(values.from);
  const progress = Number(values.progress);
  const summary = emptySummary();
  const started = performance.now();
  for (let seed = from; seed < from + count; seed++) {
    const result = simulate(seed, overrides);
    addToSummary(summary, result);
    if (result.violations.length > 0) {
      const v = result.violations[0]!;
      console.log(
        `FAIL seed ${seed} [${v.checker}] ${v.message.slice(0, 300)}\n  replay: ${
          replayCommand(seed, flags)
        }`,
      );
    }
    if (summary.seeds % progress === 0) {
      // The whole summary so far, one line, so a run stopped early still has its figures.
      const wallS = Math.round((performance.now() - started) / 1000);
      console.log(
        `... ${summary.seeds} seeds, ${summary.failedSeeds.length} failed, ${wallS} s ` +
          JSON.stringify({ ...summary, failedSeeds: summary.failedSeeds.slice(0, 50) }),
      );
    }
  }
  printSummary(summary, performance.now() - started, flags);
  return summary.failedSeeds.length === 0 ? 0 : 1;
}

if (import.meta.main) process.exit(main());

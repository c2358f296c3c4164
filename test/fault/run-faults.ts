/**
 * One fault run, start to finish: a cluster of real processes behind link proxies, clients
 * for the hot and durable workloads, the nemesis, then a final full-cluster kill -9 and
 * restart, a read-back of every lock, and the checkers over the whole history. Used by the
 * short CI run (fault.test.ts) and the long-run script (run.ts).
 */
import { Durability } from "../../src/locks/types.ts";
import { checkHistory } from "../checkers/check.ts";
import { checkFencedWrites } from "../checkers/durability.ts";
import type { OpRecord, Violation } from "../checkers/history.ts";
import { measuredLease } from "../checkers/lease.ts";
import { type Availability, availability } from "./availability.ts";
import { FaultCluster } from "./fault-cluster.ts";
import { type FaultKind, faultKinds, type FaultRecord, Nemesis } from "./nemesis.ts";
import {
  type ClientContext,
  durableClient,
  FencedStore,
  hotClient,
  now,
  prng,
  readBack,
  Recorder,
  settle,
  type Target,
} from "./workload.ts";

export type RunOptions = {
  readonly seed: number;
  readonly durationMs: number;
  readonly nodes: number;
  readonly partitions: number;
  readonly hotClients: number;
  readonly durableClients: number;
  readonly hotResources: number;
  readonly faultMs: readonly [number, number];
  readonly quietMs: readonly [number, number];
  /** Nodes (ids) that run under Deno; the others run under Bun. */
  readonly denoNodes?: readonly string[];
  /** TLS on every port (HTTPS, and mutual TLS between the nodes, through the link proxies). */
  readonly tls?: boolean;
  /** Only these fault kinds (every kind when undefined). */
  readonly kinds?: readonly FaultKind[];
  /** Where the cluster's data and logs go; a temporary directory when undefined. */
  readonly root?: string;
  readonly log: (line: string) => void;
};

export const defaultRunOptions: Omit<RunOptions, "log"> = {
  seed: 1,
  durationMs: 150_000,
  nodes: 5,
  partitions: 4,
  hotClients: 4,
  durableClients: 1,
  hotResources: 3,
  faultMs: [2_000, 6_000],
  quietMs: [1_000, 3_000],
};

export type Stats = {
  count: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  unrecovered: number;
};

export type RunReport = {
  readonly startedAt: string;
  readonly options: Omit<RunOptions, "log">;
  readonly wallMs: number;
  readonly operations: {
    readonly total: number;
    readonly byOp: Record<string, number>;
    readonly byOutcome: Record<string, number>;
    readonly grants: number;
  };
  readonly faults: Record<string, number>;
  readonly faultList: { kind: string; detail: string; durationMs: number; recoveryMs: number }[];
  readonly recovery: Record<string, Stats>;
  readonly availability: Availability;
  readonly fencedWrites: { total: number; refused: number; refusedInsideLease: number };
  readonly durable: { resources: number; unanswered: number };
  readonly linearizability: {
    keysChecked: number;
    inconclusiveKeys: string[];
    steps: number;
    checkMs: number;
  };
  readonly violations: Violation[];
  /** Grants after an unreleased lease of another owner: how many, and the closest to its end. */
  readonly handovers: Record<string, { count: number; minMarginMs: number }>;
  readonly oddities: string[];
  readonly dataDir: string | undefined;
  /** Why attempts were not answered, most common first (numbers squeezed out of messages). */
  readonly notAnswered: [string, number][];
  /** The whole history, for replaying the checkers; run.ts writes it beside the report. */
  readonly history: readonly OpRecord[];
};

function stats(values: number[]): Stats {
  const ok = values.filter((v) => v >= 0).sort((a, b) => a - b);
  const at = (
    q: number,
  ) => (ok.length === 0 ? 0 : ok[Math.min(ok.length - 1, Math.floor(q * ok.length))]!);
  return {
    count: values.length,
    medianMs: Math.round(at(0.5)),
    p95Ms: Math.round(at(0.95)),
    maxMs: Math.round(ok.at(-1) ?? 0),
    unrecovered: values.length - ok.length,
  };
}

function hotResourceNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `hot/${i}`);
}

export async function runFaults(options: RunOptions): Promise<RunReport> {
  const startedAt = new Date().toISOString();
  const wallStart = now();
  const { log } = options;
  const cluster = await FaultCluster.create(
    options.nodes,
    options.partitions,
    options.root,
    options.denoNodes ?? [],
    options.tls === true,
  );
  let keep = false;
  try {
    await Promise.all(cluster.ids.map((id) => cluster.start(id)));
    await cluster.waitHealthy(60_000);
    log(
      `cluster of ${options.nodes} up in ${
        (now() - wallStart).toFixed(0)
      } ms, data in ${cluster.root}`,
    );

    const recorder = new Recorder();
    const store = new FencedStore();
    const targets = (): Target[] => cluster.nodes.map((n) => ({ id: n.id, url: n.url, ca: n.ca }));
    const endAtMs = now() + options.durationMs;
    const context = (name: string, salt: number): ClientContext => ({
      recorder,
      targets,
      endAtMs,
      random: prng(options.seed * 7919 + salt),
      name,
    });
    const hot = hotResourceNames(options.hotResources);
    const nemesis = new Nemesis(cluster, {
      seed: options.seed,
      endAtMs,
      faultMs: options.faultMs,
      quietMs: options.quietMs,
      recoveryDeadlineMs: 60_000,
      ...(options.kinds === undefined ? {} : { kinds: options.kinds }),
      log,
    });
    const hotRuns = Array.from(
      { length: options.hotClients },
      (_, i) => hotClient(context(`hot${i}`, i), hot, store),
    );
    const durableRuns = Array.from(
      { length: options.durableClients },
      (_, i) => durableClient(context(`durable${i}`, 1000 + i), `durable/${options.seed}/${i}`),
    );
    const [, durableNames] = await Promise.all([
      Promise.all(hotRuns),
      Promise.all(durableRuns),
      nemesis.run(),
    ]);
    log(`workload done: ${recorder.history.length} attempts, ${nemesis.faults.length} faults`);

    const readBackResult = await finalRestartAndReadBack(
      { cluster, nemesis, recorder, targets, hot, seed: options.seed, log },
      durableNames.flat(),
    );

    const checkStart = now();
    const history = recorder.history;
    const linear = checkHistory(history, { lease: measuredLease, finalClient: "final" });
    const violations = [...linear.violations, ...checkFencedWrites(store.writes)];
    const checkMs = now() - checkStart;
    log(`checked in ${checkMs.toFixed(0)} ms: ${violations.length} violations`);
    keep = violations.length > 0;
    const { faultList, faults, recovery } = faultFigures(nemesis.faults);
    return {
      startedAt,
      options: { ...options, log: undefined } as unknown as Omit<RunOptions, "log">,
      wallMs: Math.round(now() - wallStart),
      operations: summarizeOps(history),
      faults,
      faultList,
      recovery,
      availability: availability(history.filter((op) => op.client !== "final"), nemesis.faults),
      fencedWrites: {
        total: store.writes.length,
        refused: store.writes.filter((w) => !w.accepted).length,
        refusedInsideLease: checkFencedWrites(store.writes).length,
      },
      durable: readBackResult,
      linearizability: {
        keysChecked: linear.keys,
        inconclusiveKeys: linear.inconclusiveKeys,
        steps: linear.steps,
        checkMs: Math.round(checkMs),
      },
      violations,
      handovers: linear.handovers,
      oddities: recorder.oddities.slice(0, 50),
      dataDir: keep ? cluster.root : undefined,
      notAnswered: notAnswered(history),
      history,
    };
  } finally {
    await cluster.stop(keep);
  }
}

type Run = {
  readonly cluster: FaultCluster;
  readonly nemesis: Nemesis;
  readonly recorder: Recorder;
  readonly targets: () => Target[];
  readonly hot: readonly string[];
  readonly seed: number;
  readonly log: (line: string) => void;
};

/**
 * The final full-cluster kill -9 and restart; then every lock read back (client "final"), and
 * one more grant per hot persistent lock, whose token must continue past every earlier one.
 */
async function finalRestartAndReadBack(
  run: Run,
  durableNames: readonly string[],
): Promise<{ resources: number; unanswered: number }> {
  const { cluster, nemesis, recorder, targets, hot } = run;
  cluster.heal();
  const finalFault = await nemesis.once("full-restart");
  run.log(`final full restart recovered in ${finalFault.recoveryMs.toFixed(0)} ms`);
  const random = prng(run.seed ^ 0xf1a1);
  const readBackList = [
    ...durableNames.map((resource) => ({ resource, durability: Durability.Persistent })),
    ...hot.flatMap((resource) => [
      { resource, durability: Durability.Persistent },
      { resource, durability: Durability.Ephemeral },
    ]),
  ];
  const unanswered = await readBack(recorder, targets, readBackList, random);
  const after: ClientContext = {
    recorder,
    targets,
    endAtMs: now() + 60_000,
    random,
    name: "final",
  };
  for (const resource of hot) {
    const owner = `final-${resource}`;
    const durability = Durability.Persistent;
    await settle(after, { op: "tryLock", resource, owner, expiresMs: 60_000, durability }, 30_000);
  }
  return { resources: readBackList.length, unanswered };
}

function faultFigures(
  records: readonly FaultRecord[],
): Pick<RunReport, "faultList" | "faults" | "recovery"> {
  const faultList = records.map((f) => ({
    kind: f.kind,
    detail: f.detail,
    durationMs: Math.round(f.endMs - f.startMs),
    recoveryMs: Math.round(f.recoveryMs),
  }));
  const ofKind = (k: string) => records.filter((f) => f.kind === k);
  const faults = Object.fromEntries(faultKinds.map((k) => [k, ofKind(k).length]));
  const recovery: Record<string, Stats> = Object.fromEntries(
    faultKinds.map((k) => [k, stats(ofKind(k).map((f) => f.recoveryMs))]),
  );
  recovery["all"] = stats(records.map((f) => f.recoveryMs));
  return { faultList, faults, recovery };
}

function notAnswered(history: readonly OpRecord[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const op of history) {
    if (op.outcome === "ok") continue;
    const why = `${op.outcome}: ${(op.note ?? "").replace(/[0-9]+/g, "N")}`;
    counts.set(why, (counts.get(why) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 20);
}

function summarizeOps(history: readonly OpRecord[]): RunReport["operations"] {
  const byOp: Record<string, number> = {};
  const byOutcome: Record<string, number> = {};
  let grants = 0;
  for (const op of history) {
    byOp[op.op] = (byOp[op.op] ?? 0) + 1;
    byOutcome[op.outcome] = (byOutcome[op.outcome] ?? 0) + 1;
    if (op.op === "tryLock" && op.outcome === "ok" && op.type === 0) grants += 1;
  }
  return { total: history.length, byOp, byOutcome, grants };
}

/** The report as a short markdown summary. */
export function reportMarkdown(r: RunReport): string {
  const lines: string[] = [];
  const o = r.options;
  lines.push(`# kahuna fault run, ${r.startedAt}`);
  lines.push("");
  lines.push(
    `Seed ${o.seed}; ${o.nodes} nodes (${
      o.denoNodes === undefined || o.denoNodes.length === 0
        ? "all on Bun"
        : `${o.denoNodes.join(", ")} on Deno`
    }${o.tls === true ? ", TLS on every port and mutual TLS between them" : ""}), ` +
      `${o.partitions} partitions; ${o.hotClients} hot clients on ` +
      `${o.hotResources} resources and 2 shared ones (a semaphore, a read-write lock; both ` +
      `durabilities), ${o.durableClients} durable clients; ` +
      `faults for ${
        (o.durationMs / 60_000).toFixed(1)
      } min, then a final full-cluster kill -9 and restart. ` +
      `Wall time ${(r.wallMs / 60_000).toFixed(1)} min.`,
  );
  lines.push("");
  lines.push(`**Violations: ${r.violations.length}.**`);
  for (const v of r.violations.slice(0, 20)) {
    lines.push(`- ${v.checker} on \`${v.key}\`: ${v.message}`);
    for (const op of v.ops) lines.push(`  - \`${op}\``);
  }
  lines.push("");
  lines.push("| operations | count |");
  lines.push("|---|---|");
  lines.push(`| attempts | ${r.operations.total} |`);
  for (const [k, v] of Object.entries(r.operations.byOp)) lines.push(`| ${k} | ${v} |`);
  for (const [k, v] of Object.entries(r.operations.byOutcome)) {
    lines.push(`| outcome ${k} | ${v} |`);
  }
  lines.push(`| grants (Locked answers) | ${r.operations.grants} |`);
  lines.push(
    `| fenced writes (refused; refused inside a lease) | ${r.fencedWrites.total} (${r.fencedWrites.refused}; ${r.fencedWrites.refusedInsideLease}) |`,
  );
  lines.push(
    `| locks read back after the final restart (unanswered) | ${r.durable.resources} (${r.durable.unanswered}) |`,
  );
  lines.push("");
  lines.push("| fault | count | recovery median ms | p95 ms | max ms | not recovered in 60 s |");
  lines.push("|---|---|---|---|---|---|");
  for (const [kind, s] of Object.entries(r.recovery)) {
    if (s.count === 0) continue;
    lines.push(
      `| ${kind} | ${s.count} | ${s.medianMs} | ${s.p95Ms} | ${s.maxMs} | ${s.unrecovered} |`,
    );
  }
  lines.push("");
  for (const [durability, h] of Object.entries(r.handovers)) {
    lines.push(
      `- ${durability}: ${h.count} grants after another owner's unreleased lease; the closest came ` +
        `${h.minMarginMs} ms after that lease's reliance end (send + 0.99 × expiresMs).`,
    );
  }
  lines.push("");
  const a = r.availability;
  lines.push(
    `Availability (attempts with a definite answer): during faults ${
      (a.duringFaults.share * 100).toFixed(1)
    }% ` +
      `of ${a.duringFaults.attempts}; outside faults ${
        (a.outsideFaults.share * 100).toFixed(1)
      }% of ` +
      `${a.outsideFaults.attempts}.`,
  );
  lines.push("");
  const l = r.linearizability;
  lines.push(
    `Linearizability: ${l.keysChecked} locks checked in ${l.checkMs} ms (${l.steps} search steps); ` +
      `inconclusive: ${l.inconclusiveKeys.length === 0 ? "none" : l.inconclusiveKeys.join(", ")}.`,
  );
  lines.push("");
  lines.push("Attempts without a definite answer, by reason:");
  for (const [why, n] of r.notAnswered) lines.push(`- ${n} × ${why}`);
  if (r.oddities.length > 0) {
    lines.push("");
    lines.push(`Unexpected HTTP answers (400/500): ${r.oddities.length}`);
    for (const odd of r.oddities.slice(0, 10)) lines.push(`- \`${odd}\``);
  }
  return lines.join("\n") + "\n";
}

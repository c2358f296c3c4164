/**
 * Issue 5, the short run for CI: a 5-node cluster of real processes, a few clients on hot
 * locks (both durabilities) and on durable locks, and a nemesis that goes through every
 * fault kind once (kill -9, SIGSTOP, partitions, one-way cuts, slow links, clock skew, full
 * restart) for about two and a half minutes; then a final full-cluster kill -9 and restart.
 * The history must pass every checker, and every fault must heal.
 *
 * Longer runs: `bun test/fault/run.ts --minutes 30` (see docs/reliability.md).
 * KAHUNA_FAULT_SEED picks the seed (the run prints it, so a failure can be run again).
 */
import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { faultKinds } from "./nemesis.ts";
import { defaultRunOptions, reportMarkdown, runFaults } from "./run-faults.ts";

const seed = Number(process.env["KAHUNA_FAULT_SEED"] ?? String(Date.now() % 1_000_000));
const durationMs = 150_000;

test(
  "no lock is granted twice, no token goes back and no acknowledged lock is lost under faults",
  async () => {
    const started = Date.now();
    const log = (line: string) =>
      console.log(`[fault ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);
    log(`seed ${seed} (KAHUNA_FAULT_SEED=${seed} runs this again)`);
    const report = await runFaults({
      ...defaultRunOptions,
      seed,
      durationMs,
      hotClients: 4,
      durableClients: 1,
      log,
    });
    console.log(reportMarkdown(report));
    if (report.violations.length > 0 || report.linearizability.inconclusiveKeys.length > 0) {
      // Keep the history for `bun test/fault/check.ts <dir>/history.jsonl`.
      const dir = join(tmpdir(), `kahuna-fault-${seed}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, "history.jsonl"),
        report.history.map((op) => JSON.stringify(op)).join("\n") + "\n",
      );
      console.log(`history kept in ${dir}/history.jsonl; node data and logs in ${report.dataDir}`);
    }

    expect(report.violations).toEqual([]);
    expect(report.linearizability.inconclusiveKeys).toEqual([]);
    expect(report.oddities).toEqual([]);
    // Every kind of fault was injected, and the cluster served every partition after each.
    for (const kind of faultKinds) expect(report.faults[kind]).toBeGreaterThanOrEqual(1);
    expect(report.recovery["all"]!.unrecovered).toBe(0);
    // The run did real work: grants on hot locks, fenced writes, durable locks read back.
    expect(report.operations.grants).toBeGreaterThan(100);
    expect(report.fencedWrites.total).toBeGreaterThan(50);
    expect(report.durable.resources).toBeGreaterThan(50);
    expect(report.durable.unanswered).toBe(0);
  },
  durationMs + 150_000,
);

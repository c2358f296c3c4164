/** How a benchmark's progress and result read: a live line on stderr, a summary on stdout. */
import type { BenchResult, Progress } from "./runner.ts";

export function progressLine(progress: Progress): string {
  const seconds = (progress.elapsedMs / 1000).toFixed(1).padStart(6);
  return `${seconds}s  ${fmt(progress.opsPerSec).padStart(9)} ops/s  ${
    String(progress.ops).padStart(10)
  } ops  ` +
    `${progress.errors} errors`;
}

export function summaryText(result: BenchResult): string {
  const lines = [
    `${result.workload} · ${result.durability} · ${result.target} · ${result.concurrency} clients · ` +
    `${result.keyspace} keys · ${(result.elapsedMs / 1000).toFixed(1)} s`,
    `  ops        ${result.ops} (${fmt(result.opsPerSec)} ops/s)`,
    `  cycles     ${result.cycles} (${fmt(result.cyclesPerSec)} /s)`,
    `  errors     ${result.errors}`,
    `  outcomes   ${Object.entries(result.outcomes).map(([name, n]) => `${name} ${n}`).join(", ")}`,
    `  latency ms ${latencyRow("all", result.latency)}`,
    ...Object.entries(result.byOp).map(([op, s]) => `             ${latencyRow(op, s.latency)}`),
    ...(result.handoff === undefined ? [] : [`  hand-off   ${latencyRow("", result.handoff)}`]),
  ];
  for (const sample of result.errorSamples) lines.push(`  error: ${sample}`);
  return lines.join("\n");
}

function latencyRow(name: string, l: BenchResult["latency"]): string {
  return `${name.padEnd(8)} p50 ${ms(l.p50Ms)}  p90 ${ms(l.p90Ms)}  p99 ${ms(l.p99Ms)}  max ${
    ms(l.maxMs)
  }  ` +
    `(n=${l.count})`;
}

function ms(value: number): string {
  return value < 10 ? value.toFixed(3) : value.toFixed(1);
}

function fmt(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

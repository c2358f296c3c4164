/**
 * Long fault runs: `bun test/fault/run.ts --minutes 30 [--seed N] [--out DIR]
 * [--hot-clients N] [--durable-clients N] [--partitions N] [--kinds kill,one-way,...]
 * [--deno-nodes 4,5] [--tls]`. With --tls every node serves HTTPS and links to the others over
 * mutual TLS, with certificates made by docs/security.md's commands.
 * Writes DIR/report.json, DIR/report.md and DIR/history.jsonl (default DIR: a new directory
 * under the system's temp dir) and exits 1 when a checker found a violation. The cluster's
 * data and logs are kept when it did.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type FaultKind, faultKinds } from "./nemesis.ts";
import { defaultRunOptions, reportMarkdown, runFaults } from "./run-faults.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    "minutes": { type: "string", default: "30" },
    "seed": { type: "string" },
    "out": { type: "string" },
    "hot-clients": { type: "string", default: "6" },
    "durable-clients": { type: "string", default: "2" },
    "partitions": { type: "string", default: String(defaultRunOptions.partitions) },
    "kinds": { type: "string" },
    "deno-nodes": { type: "string" },
    "tls": { type: "boolean", default: false },
  },
});
const minutes = Number(values.minutes);
const seed = values.seed === undefined ? Date.now() % 1_000_000 : Number(values.seed);
if (!(minutes > 0 && minutes <= 24 * 60) || !Number.isSafeInteger(seed)) {
  console.error("usage: bun test/fault/run.ts --minutes N (0 < N <= 1440) [--seed N] [--out DIR]");
  process.exit(2);
}
const kinds = values.kinds?.split(",").map((k) => k.trim()) as FaultKind[] | undefined;
const unknownKind = kinds?.find((k) => !faultKinds.includes(k));
if (unknownKind !== undefined || kinds?.length === 0) {
  console.error(`--kinds takes a comma-separated list of: ${faultKinds.join(", ")}`);
  process.exit(2);
}
const out = values.out ?? mkdtempSync(join(tmpdir(), "kahuna-fault-report-"));
mkdirSync(out, { recursive: true });
const started = Date.now();
const log = (line: string) =>
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);
log(`fault run: ${minutes} min, seed ${seed}${values.tls ? ", TLS" : ""}, report in ${out}`);
const report = await runFaults({
  ...defaultRunOptions,
  seed,
  durationMs: minutes * 60_000,
  hotClients: Number(values["hot-clients"]),
  durableClients: Number(values["durable-clients"]),
  partitions: Number(values.partitions),
  root: join(out, "cluster"),
  ...(kinds === undefined ? {} : { kinds }),
  ...(values["deno-nodes"] === undefined ? {} : { denoNodes: values["deno-nodes"].split(",") }),
  tls: values.tls === true,
  log,
});
const { history, ...summary } = report;
writeFileSync(join(out, "report.json"), JSON.stringify(summary, null, 2));
writeFileSync(
  join(out, "history.jsonl"),
  history.map((op) => JSON.stringify(op)).join("\n") + "\n",
);
writeFileSync(join(out, "report.md"), reportMarkdown(report));
console.log(reportMarkdown(report));
process.exit(report.violations.length === 0 ? 0 : 1);

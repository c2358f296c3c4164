/**
 * `kahuna bench`: parses the flags, connects, runs, prints. The live progress line goes to
 * stderr so that `--json` output on stdout stays one clean object.
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import type { Io } from "../cli/io.ts";
import { benchUsage, parseBenchArgs } from "./options.ts";
import { progressLine, summaryText } from "./report.ts";
import { runBench } from "./runner.ts";
import { type BenchTarget, binaryTarget, restTarget } from "./target.ts";

/** Exit statuses as the CLI's (docs/cli.md): 0 done, 2 usage, 3 no server. */
export async function runBenchCommand(args: readonly string[], io: Io): Promise<number> {
  const parsed = parseBenchArgs(args, process.env);
  if (parsed.kind === "help") {
    io.out(benchUsage);
    return 0;
  }
  if (parsed.kind === "usage") {
    io.err(`kahuna bench: ${parsed.message}; run "kahuna bench --help" for the usage`);
    return 2;
  }
  const options = parsed.options;
  let ca: string | undefined;
  if (options.caFile !== undefined) {
    try {
      ca = readFileSync(options.caFile, "utf8");
    } catch (error) {
      io.err(`kahuna bench: --ca ${options.caFile} cannot be read: ${(error as Error).message}`);
      return 2;
    }
  }
  const access = { ca, token: options.token };
  let target: BenchTarget;
  try {
    target = options.protocol === "binary"
      ? await binaryTarget(options.servers, { ...options, ...access })
      : restTarget(options.servers, options.timeoutMs, access);
  } catch (error) {
    io.err(
      `kahuna bench: ${(error as Error).message}; start a server (kahuna serve) or pass --server`,
    );
    return 3;
  }
  try {
    const result = await runBench(
      target,
      options,
      options.quiet ? undefined : (progress) => io.err(progressLine(progress)),
    );
    io.out(options.json ? JSON.stringify(result) : summaryText(result));
    return 0;
  } finally {
    await target.close();
  }
}

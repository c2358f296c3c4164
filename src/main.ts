/**
 * The one executable: `kahuna serve`, `kahuna lock …`, and, when invoked under the name
 * `kahuna-cli`, the seed's CLI (docs/cli.md).
 */
import { basename } from "node:path";
import { runCli } from "./cli/main.ts";

function invokedAs(): "kahuna" | "kahuna-cli" {
  const names = [process.argv0, process.argv[1] ?? "", process.execPath];
  return names.some((name) => basename(name).replace(/\.(ts|js)$/, "") === "kahuna-cli")
    ? "kahuna-cli"
    : "kahuna";
}

process.exitCode = await runCli(process.argv.slice(2), invokedAs());

/**
 * `kahuna repair --data-dir DIR` (docs/cli.md, docs/reliability.md "A damaged log"): mends a
 * log whose damage a node refused to start with, by dropping the damaged partitions' logs so
 * that their leaders re-seed the node (src/runtime/repair-data-dir.ts does it). The node must
 * be stopped; one node at a time, the others healthy.
 *
 * Output: one line on stdout when it is done (exit 0), one line on stderr `kahuna: …` when it
 * is not (exit 1): damage it does not mend, a directory in use or without a log, a node that
 * is a cluster of one (no leader holds its partitions: the repair took them away for nothing).
 */
import { unreachable } from "../assert.ts";
import { ExitStatus } from "./exit-status.ts";
import { parseFlags } from "./flags.ts";
import type { Io } from "./io.ts";

export const repairUsage = [
  "usage: kahuna repair --data-dir DIR",
  "  Mends the log of a stopped node that refuses to start because records of some",
  "  partitions are damaged: their logs are dropped, and when the node starts their leaders",
  "  re-seed it. Run it on one node at a time, with the others healthy. --data-dir defaults",
  "  to $KAHUNA_DATA_DIR (there is no default directory: say which).",
].join("\n");

export type RepairParsed =
  | { readonly kind: "run"; readonly dataDir: string }
  | { readonly kind: "help" }
  | { readonly kind: "usage"; readonly message: string };

export function parseRepairCommand(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): RepairParsed {
  const flags = parseFlags(args, { "data-dir": "string", help: "boolean" });
  if (typeof flags === "string") return { kind: "usage", message: flags };
  if (flags.booleans.has("help")) return { kind: "help" };
  if (flags.positionals.length > 0) {
    return {
      kind: "usage",
      message: `repair takes only --data-dir DIR, got ${JSON.stringify(flags.positionals[0])}`,
    };
  }
  const fromEnv = env["KAHUNA_DATA_DIR"];
  const dataDir = flags.strings.get("data-dir") ?? (fromEnv === "" ? undefined : fromEnv);
  if (dataDir === undefined || dataDir.trim() === "") {
    return {
      kind: "usage",
      message:
        "repair needs --data-dir DIR (or KAHUNA_DATA_DIR): the stopped node's data directory",
    };
  }
  return { kind: "run", dataDir };
}

/** Repairs the log of `dataDir`; the exit status. */
export async function runRepair(dataDir: string, io: Io): Promise<number> {
  const { loadRuntime } = await import("../runtime/runtime-adapter.ts");
  const { repairDataDir } = await import("../runtime/repair-data-dir.ts");
  const runtime = await loadRuntime();
  const outcome = repairDataDir(dataDir, (path) => runtime.openDatabase(path));
  switch (outcome.kind) {
    case "sound":
      io.out(`nothing to repair: the log in ${dataDir} is sound`);
      return ExitStatus.Ok;
    case "failed":
      io.err(`kahuna: ${outcome.message}`);
      return ExitStatus.No;
    case "repaired": {
      const { dropped, identity } = outcome;
      const one = dropped.length === 1;
      const which = one ? `partition ${dropped[0]}` : `partitions ${dropped.join(", ")}`;
      if (identity !== undefined && identity.voters.length <= 1) {
        io.err(
          `kahuna: dropped the damaged log of ${which} in ${dataDir}, but node ` +
            `${identity.nodeId} is a cluster of one: no other node holds ${which}, so no ` +
            `leader can re-seed ${one ? "it" : "them"} and ${one ? "it stays" : "they stay"} ` +
            `unavailable. Restore the data directory from a backup instead`,
        );
        return ExitStatus.No;
      }
      const leaders = one ? "its leader re-seeds" : "their leaders re-seed";
      io.out(
        `repaired the log in ${dataDir}: dropped the damaged log of ${which}, now recovering, ` +
          `under a new store id; when the node starts, ${leaders} it (the other partitions are ` +
          `as they were)`,
      );
      return ExitStatus.Ok;
    }
    default:
      return unreachable(outcome);
  }
}

/**
 * Replays the history checkers on a saved history: `bun test/fault/check.ts DIR/history.jsonl`
 * (run.ts writes one beside every report). Prints each violation with the operations involved
 * and exits 1 if there is any. The fenced-store check needs the live run and is not replayed.
 */
import { readFileSync } from "node:fs";
import {
  checkDurableLocks,
  checkLinearizability,
  checkMutualExclusion,
  checkTokens,
  expiryHandovers,
} from "./checkers.ts";
import type { OpRecord } from "./history.ts";

const path = Bun.argv[2];
if (path === undefined) {
  console.error("usage: bun test/fault/check.ts HISTORY.jsonl");
  process.exit(2);
}
const history = readFileSync(path, "utf8").split("\n").filter((line) => line.trim() !== "")
  .map((line) => JSON.parse(line) as OpRecord);
const linear = checkLinearizability(history);
const violations = [
  ...checkMutualExclusion(history),
  ...checkTokens(history),
  ...checkDurableLocks(history, "final"),
  ...linear.violations,
];
console.log(
  `${history.length} attempts, ${linear.keysChecked} locks; linearizability ${linear.steps} steps, ` +
    `inconclusive: ${linear.inconclusiveKeys.length}; violations: ${violations.length}`,
);
console.log(`handovers after an unreleased lease: ${JSON.stringify(expiryHandovers(history))}`);
for (const v of violations) {
  console.log(`- ${v.checker} on ${v.key}: ${v.message}`);
  for (const op of v.ops) console.log(`    ${op}`);
}
process.exit(violations.length === 0 ? 0 : 1);

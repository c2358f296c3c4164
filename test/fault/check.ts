/**
 * Replays the history checkers on a saved history: `bun test/fault/check.ts DIR/history.jsonl`
 * (run.ts writes one beside every report). Prints each violation with the operations involved
 * and exits 1 if there is any. The fenced-store check needs the live run and is not replayed.
 */
import { readFileSync } from "node:fs";
import { checkHistory } from "../checkers/check.ts";
import type { OpRecord } from "../checkers/history.ts";
import { measuredLease } from "../checkers/lease.ts";

const path = Bun.argv[2];
if (path === undefined) {
  console.error("usage: bun test/fault/check.ts HISTORY.jsonl");
  process.exit(2);
}
const history = readFileSync(path, "utf8").split("\n").filter((line) => line.trim() !== "")
  .map((line) => JSON.parse(line) as OpRecord);
const linear = checkHistory(history, { lease: measuredLease, finalClient: "final" });
const violations = linear.violations;
console.log(
  `${history.length} attempts, ${linear.keys} locks; linearizability ${linear.steps} steps, ` +
    `inconclusive: ${linear.inconclusiveKeys.length}; violations: ${violations.length}`,
);
console.log(`handovers after an unreleased lease: ${JSON.stringify(linear.handovers)}`);
// Share of attempts with a definite answer, per durability (clients try dead nodes too).
for (const durability of [0, 1]) {
  const mine = history.filter((op) => op.durability === durability && op.client !== "final");
  const ok = mine.filter((op) => op.outcome === "ok").length;
  const share = mine.length === 0 ? 100 : (100 * ok) / mine.length;
  console.log(
    `${durability === 0 ? "ephemeral" : "persistent"}: ${ok} of ${mine.length} attempts answered ` +
      `(${share.toFixed(1)}%)`,
  );
}
for (const v of violations) {
  console.log(`- ${v.checker} on ${v.key}: ${v.message}`);
  for (const op of v.ops) console.log(`    ${op}`);
}
process.exit(violations.length === 0 ? 0 : 1);

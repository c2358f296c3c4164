/**
 * Answers that name no real state:
 * - no phantom holders (both durabilities): a Got names an owner and token some TryLock of
 *   that owner may have been granted (answered Locked with that token, or unknown), and not
 *   a grant whose Unlock (Unlocked, with that token) was answered before the Get was sent;
 * - no bug answers: Errored or InvalidInput from a correct client mean a bug.
 */
import { ResponseType } from "../../src/locks/types.ts";
import { isOk } from "./grants.ts";
import { describe, keyOf, type OpRecord, type Violation } from "./history.ts";

const violationsMax = 5;

export function checkPhantomHolders(key: string, ops: readonly OpRecord[]): Violation[] {
  const violations: Violation[] = [];
  for (const get of ops) {
    if (get.op !== "get" || get.outcome !== "ok" || get.type !== ResponseType.Got) continue;
    const owner = get.gotOwner;
    const granted = ops.some((op) =>
      op.op === "tryLock" && op.owner === owner && op.sendMs < get.ackMs &&
      (op.outcome === "unknown" ||
        (op.type === ResponseType.Locked && op.fencingToken === get.fencingToken))
    );
    // Released: that very grant (the Unlocked answer names its token) was unlocked before the
    // Get was sent. The owner may take the lock again after (a repeated TryLock), but a new
    // grant has a new token.
    const released = ops.some((op) =>
      op.op === "unlock" && op.owner === owner && isOk(op, ResponseType.Unlocked) &&
      op.fencingToken === get.fencingToken && op.ackMs < get.sendMs
    );
    if (granted && !released) continue;
    violations.push({
      checker: "phantom holder",
      key,
      message: `${describe(get)}, but that owner ${
        granted ? "had unlocked" : "was never granted it"
      }`,
      atMs: get.ackMs,
      ops: [describe(get)],
    });
    if (violations.length >= violationsMax) break;
  }
  return violations;
}

export function checkAnswers(ops: readonly OpRecord[]): Violation[] {
  return ops.filter((op) =>
    op.outcome === "ok" &&
    (op.type === ResponseType.Errored || op.type === ResponseType.InvalidInput)
  ).slice(0, violationsMax).map((op) => ({
    checker: "answers",
    key: keyOf(op),
    message: `a bug answer: ${describe(op)}`,
    atMs: op.ackMs,
    ops: [describe(op)],
  }));
}

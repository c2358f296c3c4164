/**
 * The fields of a lock request, their limits and what they mean: one table that both the
 * request validator (lock-request.ts, for REST and the binary protocol) and the REST API's
 * OpenAPI document (src/http/openapi.ts) read, so the rules a server enforces and the rules it
 * publishes cannot drift apart.
 *
 * Invariants: every limit comes from src/constants.ts; a text field's bounds are in UTF-8
 * bytes; a choice field's default is one of its values; the ops' field lists name only fields
 * of the table.
 */
import { assert } from "../assert.ts";
import {
  expiresMsMax,
  expiresMsMin,
  ownerBytesMax,
  resourceBytesMax,
  sharedLimitMax,
  valueBytesMax,
  waitMsMax,
  watchCursorCharsMax,
} from "../constants.ts";
import { Durability } from "../locks/types.ts";
import type { LockOp } from "../locks/types.ts";
import { cursorPatternSource } from "../locks/watch-cursor.ts";

export type TextField = {
  readonly kind: "text";
  readonly bytesMax: number;
  /** Whether U+0000 is refused. */
  readonly noNul: boolean;
  /** A regular expression (JSON Schema's `pattern`) the whole value must match, if any. */
  readonly pattern?: string;
  /** What the pattern allows, in words, for error messages. */
  readonly patternText?: string;
  readonly description: string;
};

export type IntegerField = {
  readonly kind: "integer";
  readonly min: number;
  readonly max: number;
  /** The value an omitted field takes; a field without one is required. */
  readonly default?: number;
  readonly description: string;
};

export type ChoiceField = {
  readonly kind: "choice";
  /** Each allowed value with the name an error message and the API document give it. */
  readonly choices: readonly { readonly value: number; readonly name: string }[];
  /** The value an omitted field takes. */
  readonly default: number;
  readonly description: string;
};

/** A field that takes one of a few words ("exclusive" or "shared"). */
export type WordField = {
  readonly kind: "word";
  readonly words: readonly string[];
  /** The word an omitted field means. */
  readonly default: string;
  readonly description: string;
};

export type FieldSpec = TextField | IntegerField | ChoiceField | WordField;

export const lockFields = {
  resource: {
    kind: "text",
    bytesMax: resourceBytesMax,
    noNul: true,
    description: "The name of the thing you lock.",
  },
  owner: {
    kind: "text",
    bytesMax: ownerBytesMax,
    noNul: false,
    description:
      "Who holds the lock, compared exactly: use a random 32-hex id per holder, and send the " +
      "same one when you retry.",
  },
  value: {
    kind: "text",
    bytesMax: valueBytesMax,
    noNul: false,
    description: "What the holder publishes with the lock, for others to read (get-info, watch): " +
      "an elected leader's address, say. A try-lock that grants sets it; a try-extend with a " +
      "value replaces it (a leader proclaiming); omitted, it stays. A release drops it.",
  },
  expiresMs: {
    kind: "integer",
    min: expiresMsMin,
    max: expiresMsMax,
    description: "The lease length in milliseconds, measured on the leader's monotonic clock.",
  },
  waitMs: {
    kind: "integer",
    min: 0,
    max: waitMsMax,
    default: 0,
    description: "How long to wait, in milliseconds. A try-lock waits in line when another " +
      "owner holds the lock: it joins the resource's first-in-first-out queue and is answered " +
      "Locked when its turn comes, or Busy when the time is up. A watch waits for a change " +
      "after its cursor, and is answered with no event when the time is up. 0 answers at once.",
  },
  mode: {
    kind: "word",
    words: ["exclusive", "shared"],
    default: "exclusive",
    description: "exclusive: one holder at a time (a plain lock, a writer). shared: holders " +
      "share the lock, up to its limit, and exclude every exclusive holder (readers, a " +
      "semaphore's permits). Each holder has its own lease and fencing token.",
  },
  limit: {
    kind: "integer",
    min: 1,
    max: sharedLimitMax,
    description: "Only for a shared try-lock: the most holders the lock admits at once, this " +
      `one included (a semaphore of N permits). Given alone it means mode shared; omitted ` +
      `with mode shared, ${sharedLimitMax}. With holders that asked for different limits, ` +
      "the smallest applies.",
  },
  after: {
    kind: "text",
    bytesMax: watchCursorCharsMax,
    noNul: true,
    pattern: cursorPatternSource,
    patternText: 'a cursor from an earlier watch answer, such as "12.1"',
    description: "The cursor of the last event the watcher has seen: the answer holds the " +
      "changes after it. Omitted, the answer is the lock's state now.",
  },
  durability: {
    kind: "choice",
    choices: [
      { value: Durability.Ephemeral, name: "ephemeral" },
      { value: Durability.Persistent, name: "persistent" },
    ],
    default: Durability.Persistent,
    description:
      "0 keeps the lock in the memory of its partition's leader only; 1 commits it through " +
      "Raft to a majority, fsynced. The same resource with 0 and with 1 are two different locks.",
  },
} as const satisfies Record<string, FieldSpec>;

export type LockField = keyof typeof lockFields;

/** The fields each op takes, in the order messages and the API document list them. */
export const lockRequestFields = {
  tryLock: ["resource", "owner", "expiresMs", "durability", "waitMs", "value", "mode", "limit"],
  extend: ["resource", "owner", "expiresMs", "durability", "value"],
  unlock: ["resource", "owner", "durability"],
  get: ["resource", "durability"],
  watch: ["resource", "durability", "after", "waitMs"],
} as const satisfies Record<LockOp, readonly LockField[]>;

/** The fields an op cannot do without: all but those with a default. */
export function requiredFields(op: LockOp): LockField[] {
  return lockRequestFields[op].filter((field) => {
    const spec: FieldSpec = lockFields[field];
    return spec.kind !== "choice" && spec.kind !== "word" &&
      !(spec.kind === "integer" && spec.default !== undefined) &&
      field !== "after" && field !== "value" && field !== "limit";
  });
}

/** What a field allows, in words: "a string", "an integer from 1 to 2147483647". */
export function allowedText(spec: FieldSpec): string {
  switch (spec.kind) {
    case "text":
      return "a string";
    case "integer":
      return `an integer from ${spec.min} to ${spec.max}`;
    case "choice":
      return spec.choices.map((choice) => `${choice.value} (${choice.name})`).join(" or ");
    case "word":
      return spec.words.map((word) => JSON.stringify(word)).join(" or ");
  }
}

for (const spec of Object.values(lockFields) as FieldSpec[]) {
  if (spec.kind === "text") assert(spec.bytesMax > 0, "a text field allows at least one byte");
  if (spec.kind === "integer") {
    assert(spec.min <= spec.max, "an integer range is not empty");
    assert(
      spec.default === undefined || (spec.default >= spec.min && spec.default <= spec.max),
      "an integer field's default is in its range",
    );
  }
  if (spec.kind === "word") {
    assert(spec.words.includes(spec.default), "a word field's default is one of its words");
  }
  if (spec.kind === "choice") {
    assert(
      spec.choices.some((choice) => choice.value === spec.default),
      "a choice field's default is one of its choices",
    );
  }
}

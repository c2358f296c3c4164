/**
 * What goes in a Raft entry's data for the lock state machine (docs/architecture.md), as
 * msgpack.
 *
 * Wire form: a msgpack array whose first element is the command's code.
 *   tryLock 1, extend 2, unlock 3: [code, resource, owner, expiresMs, nowMs]
 *                                  (tryLock and extend: [..., nowMs, value] with a value)
 *   leaderStart 4:                 [4, nowMs]
 *   horizon 5:                     [5, nowMs, horizonMs, tokensThrough]
 *                                  ([5, nowMs, horizonMs] from logs written before ephemeral
 *                                  tokens were reserved: it reserves nothing)
 *   sweep 6:                       [6, nowMs, graceMs, [resource, ...]]
 *   tryLock shared 7:              [7, resource, owner, expiresMs, nowMs, limit]
 *                                  ([..., limit, value] with a value)
 *
 * A sweep is at most sweepCommandBytesMax bytes, every other command lockCommandBytesMax.
 *
 * Invariants: `encodeCommand` only writes commands that `decodeCommand` accepts (asserted),
 * and `decodeCommand` never throws: every replica reads the same bytes to the same command or
 * the same error. Strings are decoded as strict UTF-8 (an invalid byte is an error, not a
 * replacement character) so that replicas on different runtimes cannot read one entry two ways.
 */
import { assert } from "../assert.ts";
import {
  entryDataBytesMax,
  expiresMsMax,
  expiresMsMin,
  lockCommandBytesMax,
  ownerBytesMax,
  resourceBytesMax,
  sharedLimitMax,
  sweepCommandBytesMax,
  sweepGraceMsMax,
  valueBytesMax,
} from "../constants.ts";
import { decodeMsgpack, encodeMsgpack } from "./msgpack.ts";

export type LockCommand =
  | {
    readonly kind: "tryLock" | "extend" | "unlock";
    readonly resource: string;
    readonly owner: string;
    /** 0 for unlock. */
    readonly expiresMs: number;
    /** The proposing leader's monotonic clock reading. */
    readonly nowMs: number;
    /** tryLock and extend: the value the holder publishes (docs/spec.md §2.1). */
    readonly value?: string;
    /** tryLock only: set for a shared grant of at most this many holders (docs/spec.md §2.8). */
    readonly limit?: number;
  }
  /** The first entry a new leader proposes: a new ephemeral token range and clock base. */
  | { readonly kind: "leaderStart"; readonly nowMs: number }
  /**
   * The latest moment (leader clock) any ephemeral lease of this leader can end, and the
   * highest ephemeral fencing token it may grant (-1: no new reservation).
   */
  | {
    readonly kind: "horizon";
    readonly nowMs: number;
    readonly horizonMs: number;
    readonly tokensThrough: number;
  }
  /**
   * Remove the records of these resources, each only if it is still free (released, or its
   * lease ended) and has been for at least graceMs at nowMs.
   */
  | {
    readonly kind: "sweep";
    readonly nowMs: number;
    readonly graceMs: number;
    readonly resources: readonly string[];
  };

const code = { tryLock: 1, extend: 2, unlock: 3, leaderStart: 4, horizon: 5, sweep: 6 } as const;
const tryLockSharedCode = 7;
const kindOfCode = [
  "",
  "tryLock",
  "extend",
  "unlock",
  "leaderStart",
  "horizon",
  "sweep",
  "tryLockShared",
] as const;

/** The most bytes a command of this kind may take. */
export function commandBytesMax(kind: LockCommand["kind"]): number {
  return kind === "sweep" ? sweepCommandBytesMax : lockCommandBytesMax;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function encodeCommand(c: LockCommand): Uint8Array {
  const problem = commandError(c);
  assert(problem === undefined, () => `encodeCommand: invalid command: ${problem}`);
  const bytes = encodeMsgpack(wireForm(c));
  assert(bytes.length <= commandBytesMax(c.kind), "encodeCommand: command exceeds its byte bound");
  return bytes;
}

function wireForm(c: LockCommand): unknown[] {
  switch (c.kind) {
    case "tryLock":
    case "extend":
    case "unlock": {
      const head = c.limit === undefined
        ? [code[c.kind], c.resource, c.owner, c.expiresMs, c.nowMs]
        : [tryLockSharedCode, c.resource, c.owner, c.expiresMs, c.nowMs, c.limit];
      return c.value === undefined ? head : [...head, c.value];
    }
    case "leaderStart":
      return [code.leaderStart, c.nowMs];
    case "horizon":
      return [code.horizon, c.nowMs, c.horizonMs, c.tokensThrough];
    case "sweep":
      return [code.sweep, c.nowMs, c.graceMs, c.resources];
  }
}

/** Reads and validates one entry's data. Never throws. */
export function decodeCommand(data: Uint8Array): LockCommand | { error: string } {
  if (data.length === 0) return { error: "lock command is empty" };
  if (data.length > entryDataBytesMax) {
    return { error: `lock command is ${data.length} bytes, at most ${entryDataBytesMax}` };
  }
  const value = decodeRawStrings(data);
  if (value.error !== undefined) return { error: value.error };
  const command = fromWire(value.decoded);
  if ("error" in command) return command;
  const bytesMax = commandBytesMax(command.kind);
  if (data.length > bytesMax) {
    return { error: `${command.kind} is ${data.length} bytes, at most ${bytesMax}` };
  }
  const problem = commandError(command);
  return problem === undefined ? command : { error: problem };
}

/**
 * msgpack with strings left as bytes (checked field by field, with the field's name in the
 * error), bounded by the input's size (codec/msgpack.ts). Exported for the snapshot codec,
 * which has the same needs.
 */
export function decodeRawStrings(data: Uint8Array): { decoded: unknown; error?: undefined } | {
  error: string;
} {
  try {
    return { decoded: decodeMsgpack(data, { rawStrings: true }) };
  } catch (e) {
    // The decoder reports malformed input by throwing; here, at the boundary, that is an
    // expected outcome and becomes a value.
    return { error: `not valid msgpack: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** A string field that msgpack left as bytes, decoded as strict UTF-8. */
export function utf8Field(value: unknown): string | undefined {
  if (!(value instanceof Uint8Array)) return undefined;
  try {
    return strictUtf8.decode(value);
  } catch {
    return undefined; // fatal decoding throws on invalid UTF-8; that is an answer, not a bug
  }
}

function fromWire(value: unknown): LockCommand | { error: string } {
  if (!Array.isArray(value) || value.length === 0) {
    return { error: "lock command must be a non-empty array" };
  }
  const kind = typeof value[0] === "number" ? kindOfCode[value[0]] : undefined;
  if (kind === undefined || kind === "") {
    return { error: `unknown lock command code ${String(value[0])}` };
  }
  const fields = value.length - 1;
  switch (kind) {
    case "tryLock":
    case "extend":
    case "unlock": {
      const valued = kind !== "unlock" && fields === 5;
      if (fields !== 4 && !valued) {
        return {
          error: `${kind} needs 4 fields${
            kind === "unlock" ? "" : " (5 with a value)"
          }, got ${fields}`,
        };
      }
      const resource = utf8Field(value[1]);
      const owner = utf8Field(value[2]);
      if (resource === undefined) return { error: `${kind}: resource is not a UTF-8 string` };
      if (owner === undefined) return { error: `${kind}: owner is not a UTF-8 string` };
      const command = { kind, resource, owner, expiresMs: value[3], nowMs: value[4] };
      if (!valued) return command;
      const published = utf8Field(value[5]);
      if (published === undefined) return { error: `${kind}: value is not a UTF-8 string` };
      return { ...command, value: published };
    }
    case "tryLockShared": {
      if (fields !== 5 && fields !== 6) {
        return { error: `shared tryLock needs 5 fields (6 with a value), got ${fields}` };
      }
      const resource = utf8Field(value[1]);
      const owner = utf8Field(value[2]);
      if (resource === undefined) return { error: "tryLock: resource is not a UTF-8 string" };
      if (owner === undefined) return { error: "tryLock: owner is not a UTF-8 string" };
      const command = {
        kind: "tryLock" as const,
        resource,
        owner,
        expiresMs: value[3],
        nowMs: value[4],
        limit: value[5],
      };
      if (fields === 5) return command;
      const published = utf8Field(value[6]);
      if (published === undefined) return { error: "tryLock: value is not a UTF-8 string" };
      return { ...command, value: published };
    }
    case "leaderStart":
      if (fields !== 1) return { error: `leaderStart needs 1 field, got ${fields}` };
      return { kind, nowMs: value[1] };
    case "horizon":
      if (fields !== 2 && fields !== 3) return { error: `horizon needs 3 fields, got ${fields}` };
      return { kind, nowMs: value[1], horizonMs: value[2], tokensThrough: value[3] ?? -1 };
    case "sweep": {
      if (fields !== 3) return { error: `sweep needs 3 fields, got ${fields}` };
      const list = value[3];
      if (!Array.isArray(list)) return { error: "sweep: resources must be an array" };
      const resources: string[] = [];
      for (const [i, raw] of list.entries()) {
        const resource = utf8Field(raw);
        if (resource === undefined) return { error: `sweep: resource ${i} is not a UTF-8 string` };
        resources.push(resource);
      }
      return { kind, nowMs: value[1], graceMs: value[2], resources };
    }
  }
}

/** Why `c` is not a valid command, or undefined. Field types are checked here too. */
export function commandError(c: LockCommand): string | undefined {
  const now = timeError("nowMs", c.nowMs);
  if (now !== undefined) return `${c.kind}: ${now}`;
  switch (c.kind) {
    case "tryLock":
    case "extend":
    case "unlock": {
      const problem = resourceError(c.resource) ?? ownerError(c.owner) ??
        expiresError(c.kind, c.expiresMs) ??
        (c.value === undefined ? undefined : valueError(c.value)) ??
        (c.limit === undefined ? undefined : limitError(c.kind, c.limit));
      return problem === undefined ? undefined : `${c.kind}: ${problem}`;
    }
    case "leaderStart":
      return undefined;
    case "horizon": {
      const problem = timeError("horizonMs", c.horizonMs) ?? tokensThroughError(c.tokensThrough);
      return problem === undefined ? undefined : `horizon: ${problem}`;
    }
    case "sweep": {
      const problem = graceError(c.graceMs) ?? sweepResourcesError(c.resources);
      return problem === undefined ? undefined : `sweep: ${problem}`;
    }
  }
}

/** docs/spec.md §2.8: a shared TryLock's limit is an integer from 1 to sharedLimitMax. */
export function limitError(
  kind: "tryLock" | "extend" | "unlock",
  limit: unknown,
): string | undefined {
  if (kind !== "tryLock") return `limit is only for tryLock, not ${kind}`;
  const ok = typeof limit === "number" && Number.isInteger(limit) && limit >= 1 &&
    limit <= sharedLimitMax;
  return ok
    ? undefined
    : `limit must be an integer from 1 to ${sharedLimitMax}, got ${String(limit)}`;
}

function tokensThroughError(value: unknown): string | undefined {
  const ok = typeof value === "number" && Number.isSafeInteger(value) && value >= -1;
  return ok
    ? undefined
    : `tokensThrough must be an integer from -1 to 2^53-1, got ${String(value)}`;
}

function graceError(value: unknown): string | undefined {
  const ok = typeof value === "number" && Number.isInteger(value) && value >= 0 &&
    value <= sweepGraceMsMax;
  return ok
    ? undefined
    : `graceMs must be an integer from 0 to ${sweepGraceMsMax}, got ${String(value)}`;
}

function sweepResourcesError(resources: unknown): string | undefined {
  if (!Array.isArray(resources) || resources.length === 0) {
    return "resources must be a non-empty array";
  }
  for (const [i, resource] of resources.entries()) {
    const problem = resourceError(resource);
    if (problem !== undefined) return `resource ${i}: ${problem}`;
  }
  return undefined;
}

function expiresError(
  kind: "tryLock" | "extend" | "unlock",
  expiresMs: unknown,
): string | undefined {
  if (kind === "unlock") {
    return expiresMs === 0 ? undefined : `expiresMs must be 0 for unlock, got ${String(expiresMs)}`;
  }
  const ok = typeof expiresMs === "number" && Number.isInteger(expiresMs) &&
    expiresMs >= expiresMsMin && expiresMs <= expiresMsMax;
  return ok
    ? undefined
    : `expiresMs must be an integer from ${expiresMsMin} to ${expiresMsMax}, got ${
      String(expiresMs)
    }`;
}

/** Clock readings: finite, not negative, and small enough that sums of them stay exact. */
function timeError(field: string, value: unknown): string | undefined {
  const ok = typeof value === "number" && Number.isFinite(value) && value >= 0 &&
    value <= Number.MAX_SAFE_INTEGER;
  return ok ? undefined : `${field} must be a number from 0 to 2^53-1, got ${String(value)}`;
}

/** docs/spec.md §2: 1..512 UTF-8 bytes, no NUL. */
export function resourceError(resource: unknown): string | undefined {
  if (typeof resource !== "string") return "resource must be a string";
  const bytes = utf8ByteLength(resource);
  if (bytes < 0) return "resource must be well-formed Unicode (no lone surrogates)";
  if (bytes < 1 || bytes > resourceBytesMax) {
    return `resource must be 1 to ${resourceBytesMax} UTF-8 bytes, got ${bytes}`;
  }
  if (resource.includes("\0")) return "resource must not contain NUL";
  return undefined;
}

/** docs/spec.md §2.1: a published value is 1..256 UTF-8 bytes. */
export function valueError(value: unknown): string | undefined {
  if (typeof value !== "string") return "value must be a string";
  const bytes = utf8ByteLength(value);
  if (bytes < 0) return "value must be well-formed Unicode (no lone surrogates)";
  if (bytes < 1 || bytes > valueBytesMax) {
    return `value must be 1 to ${valueBytesMax} UTF-8 bytes, got ${bytes}`;
  }
  return undefined;
}

/** docs/spec.md §2: 1..256 UTF-8 bytes, compared exactly. */
export function ownerError(owner: unknown): string | undefined {
  if (typeof owner !== "string") return "owner must be a string";
  const bytes = utf8ByteLength(owner);
  if (bytes < 0) return "owner must be well-formed Unicode (no lone surrogates)";
  if (bytes < 1 || bytes > ownerBytesMax) {
    return `owner must be 1 to ${ownerBytesMax} UTF-8 bytes, got ${bytes}`;
  }
  return undefined;
}

/** UTF-8 length of `s`, or -1 when it holds a lone surrogate (which has no UTF-8 form). */
export function utf8ByteLength(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = s.charCodeAt(i + 1); // NaN past the end, which fails the range check
      if (!(next >= 0xdc00 && next <= 0xdfff)) return -1;
      bytes += 4;
      i++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) return -1;
    else bytes += 3;
  }
  return bytes;
}

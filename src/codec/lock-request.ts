/**
 * Validates a lock request at the boundary (docs/spec.md §2, §3), once, for every way in: the REST
 * API passes a parsed JSON body, the binary protocol a decoded msgpack map. After this the
 * request is trusted inside.
 *
 * Invariants of a returned LockRequest: it has exactly the fields of its op; `resource` is
 * well-formed Unicode of 1..resourceBytesMax UTF-8 bytes without NUL; `owner` is well-formed
 * Unicode of 1..ownerBytesMax UTF-8 bytes; `expiresMs` is an integer in
 * expiresMsMin..expiresMsMax; `durability` is 0 or 1 (1 when omitted); a TryLock's `waitMs`,
 * when present, is an integer in 1..waitMsMax (0 or omitted leaves it out), and so is a
 * watch's; a watch's `after`, when present, is a cursor (watch-cursor.ts); a TryLock's
 * `limit`, when present, is an integer in 1..sharedLimitMax and means a shared grant (from
 * `mode: "shared"` and/or `limit`), absent for an exclusive one.
 *
 * Errors are values with a message a person reads: it names the field, says what is allowed
 * and echoes (a truncated form of) what was sent. The fields and their limits come from one
 * table (lock-fields.ts), which the REST API's OpenAPI document is generated from too.
 */
import { assert } from "../assert.ts";
import { Durability } from "../locks/types.ts";
import type { LockOp, LockRequest } from "../locks/types.ts";
import { parseCursor } from "../locks/watch-cursor.ts";
import { allowedText, lockFields, lockRequestFields } from "./lock-fields.ts";
import type { ChoiceField, IntegerField, TextField, WordField } from "./lock-fields.ts";

export type LockRequestError = { readonly error: string };

export { lockRequestFields };

/** How many characters of a bad value an error message echoes. */
const echoCharsMax = 40;

export function parseLockRequest(op: LockOp, body: unknown): LockRequest | LockRequestError {
  if (!isPlainObject(body)) {
    return { error: `request body must be a JSON object, got ${describeKind(body)}` };
  }
  const allowed: readonly string[] = lockRequestFields[op];
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      return {
        error: `unknown field ${echo(key)}; allowed fields are ${allowed.join(", ")}`,
      };
    }
  }
  const resource = parseText(body, "resource");
  if (typeof resource !== "string") return resource;
  const durability = parseDurability(body);
  if (typeof durability !== "number") return durability;
  if (op === "get") return { op, resource, durability };
  if (op === "watch") {
    const after = parseCursorField(body);
    if (typeof after !== "string" && after !== undefined) return after;
    const waitMs = parseInteger(body, "waitMs");
    if (typeof waitMs !== "number") return waitMs;
    return {
      op,
      resource,
      durability,
      ...(after === undefined ? {} : { after }),
      ...(waitMs === 0 ? {} : { waitMs }),
    };
  }

  const owner = parseText(body, "owner");
  if (typeof owner !== "string") return owner;
  if (op === "unlock") return { op, resource, owner, durability };

  const expiresMs = parseInteger(body, "expiresMs");
  if (typeof expiresMs !== "number") return expiresMs;
  let value: string | undefined;
  if (body["value"] !== undefined) {
    const parsed = parseText(body, "value");
    if (typeof parsed !== "string") return parsed;
    value = parsed;
  }
  const valued = value === undefined ? {} : { value };
  if (op === "extend") return { op, resource, owner, expiresMs, durability, ...valued };
  const waitMs = parseInteger(body, "waitMs");
  if (typeof waitMs !== "number") return waitMs;
  const limit = parseShared(body);
  if (typeof limit === "object") return limit;
  // 0 is the same request as none: the field is set only when the request waits.
  return {
    op,
    resource,
    owner,
    expiresMs,
    durability,
    ...(waitMs === 0 ? {} : { waitMs }),
    ...valued,
    ...(limit === undefined ? {} : { limit }),
  };
}

/**
 * A TryLock's `mode` and `limit` (docs/spec.md §2.8): the shared limit, or undefined for an
 * exclusive lock. A limit alone means shared; mode shared alone, the largest limit.
 */
function parseShared(body: Record<string, unknown>): number | undefined | LockRequestError {
  const spec: WordField = lockFields.mode;
  const mode = body["mode"];
  if (mode !== undefined && (typeof mode !== "string" || !spec.words.includes(mode))) {
    return {
      error: `mode must be ${allowedText(spec)}, or omitted for ${JSON.stringify(spec.default)}, ` +
        `got ${echo(mode)}`,
    };
  }
  if (body["limit"] === undefined) {
    return mode === "shared" ? lockFields.limit.max : undefined;
  }
  const limit = parseInteger(body, "limit");
  if (typeof limit !== "number") return limit;
  if (mode === "exclusive") {
    return { error: `limit is only for mode "shared" (a semaphore), got mode "exclusive"` };
  }
  return limit;
}

export function isLockRequestError(
  result: LockRequest | LockRequestError,
): result is LockRequestError {
  return "error" in result;
}

function parseText(
  body: Record<string, unknown>,
  field: "resource" | "owner" | "value",
): string | LockRequestError {
  const spec: TextField = lockFields[field];
  const value = body[field];
  if (value === undefined) return missing(field, allowedText(spec));
  const problem = checkText(field, value, spec.bytesMax);
  if (problem !== undefined) return problem;
  assert(typeof value === "string", "checkText accepts only strings");
  if (spec.noNul && value.includes("\u0000")) {
    return { error: `${field} must not contain NUL (\\u0000), got ${echo(value)}` };
  }
  return value;
}

/** A watch's `after`: omitted, or a cursor this server writes. */
function parseCursorField(body: Record<string, unknown>): string | undefined | LockRequestError {
  const value = body["after"];
  if (value === undefined) return undefined;
  const spec: TextField = lockFields.after;
  if (typeof value !== "string" || parseCursor(value) === undefined) {
    return { error: `after must be ${spec.patternText ?? "a cursor"}, got ${echo(value)}` };
  }
  return value;
}

function parseInteger(
  body: Record<string, unknown>,
  field: "expiresMs" | "waitMs" | "limit",
): number | LockRequestError {
  const spec: IntegerField = lockFields[field];
  const value = body[field];
  const allowed = allowedText(spec);
  if (value === undefined) return spec.default ?? missing(field, allowed);
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < spec.min || value > spec.max
  ) {
    return { error: `${field} must be ${allowed}, got ${echo(value)}` };
  }
  return value;
}

function parseDurability(body: Record<string, unknown>): Durability | LockRequestError {
  const spec: ChoiceField = lockFields.durability;
  const value = body["durability"];
  // Omitted means Persistent: the safe default, everywhere (docs/spec.md).
  if (value === undefined) return Durability.Persistent;
  // Compared by value and answered with the constant, so -0 (from msgpack or JSON) is 0.
  if (value === Durability.Ephemeral) return Durability.Ephemeral;
  if (value === Durability.Persistent) return Durability.Persistent;
  return {
    error: `durability must be ${allowedText(spec)}, or omitted for ${spec.default}, got ${
      echo(value)
    }`,
  };
}

/** Checks a string field for type, well-formed Unicode and its UTF-8 byte bounds. */
function checkText(
  field: string,
  value: unknown,
  bytesMax: number,
): LockRequestError | undefined {
  if (typeof value !== "string") {
    return { error: `${field} must be a string, got ${echo(value)}` };
  }
  if (value.length === 0) {
    return { error: `${field} must not be empty (1 to ${bytesMax} UTF-8 bytes)` };
  }
  // An unpaired surrogate has no UTF-8 form: two different such strings would encode to the
  // same bytes on the wire and name the same lock.
  if (!isWellFormed(value)) {
    return {
      error: `${field} must be valid Unicode (no unpaired surrogates), got ${echo(value)}`,
    };
  }
  const bytes = utf8Bytes(value);
  if (bytes > bytesMax) {
    return {
      error: `${field} must be 1 to ${bytesMax} UTF-8 bytes, got ${bytes} bytes ` +
        `(${value.length} UTF-16 units) starting ${echo(value)}`,
    };
  }
  return undefined;
}

function missing(field: string, allowed: string): LockRequestError {
  return { error: `missing field ${field}: it must be ${allowed}` };
}

/** The UTF-8 length of a well-formed string (what TextEncoder would produce), in bytes. */
export function utf8Bytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      // A high surrogate and its low surrogate are one code point of four bytes.
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

const unpairedSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// ES2024's String.prototype.isWellFormed (Bun, Deno and Node 20 have it) is much cheaper than
// the regular expression, which stays for runtimes without it.
const nativeIsWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean })
  .isWellFormed;

function isWellFormed(text: string): boolean {
  return nativeIsWellFormed === undefined
    ? !unpairedSurrogate.test(text)
    : nativeIsWellFormed.call(text);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function describeKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "a non-plain object";
  return `${typeof value} ${echo(value)}`;
}

/** A short, printable rendering of a value for an error message. */
export function echo(value: unknown): string {
  let text: string;
  if (value === undefined) text = "undefined";
  else if (typeof value === "number" && !Number.isFinite(value)) text = String(value);
  else if (typeof value === "bigint") text = `${value}n`;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = Object.prototype.toString.call(value);
    }
  }
  if (text.length <= echoCharsMax) return text;
  // Never cut a surrogate pair in half: the message itself must stay well-formed.
  const last = text.charCodeAt(echoCharsMax - 1);
  const cut = last >= 0xd800 && last <= 0xdbff ? echoCharsMax - 1 : echoCharsMax;
  return `${text.slice(0, cut)}… (${text.length} characters)`;
}

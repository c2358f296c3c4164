import { expect, test } from "bun:test";
import {
  expiresMsMax,
  ownerBytesMax,
  resourceBytesMax,
  sharedLimitMax,
  waitMsMax,
} from "../constants.ts";
import { echo, isLockRequestError, parseLockRequest, utf8Bytes } from "./lock-request.ts";
import type { LockOp, LockRequest } from "../locks/types.ts";

const valid = { resource: "orders/42", owner: "786f947d8a6643f0b939865f72aa512a", expiresMs: 5000 };

function errorOf(op: LockOp, body: unknown): string {
  const result = parseLockRequest(op, body);
  if (!isLockRequestError(result)) throw new Error(`expected an error, got ${echo(result)}`);
  return result.error;
}

function requestOf(op: LockOp, body: unknown): LockRequest {
  const result = parseLockRequest(op, body);
  if (isLockRequestError(result)) throw new Error(`expected a request, got ${result.error}`);
  return result;
}

test("each op accepts exactly its SPEC fields and returns them", () => {
  expect(requestOf("tryLock", { ...valid, durability: 0 })).toEqual({
    op: "tryLock",
    ...valid,
    durability: 0,
  });
  expect(requestOf("extend", { ...valid, durability: 1 })).toEqual({
    op: "extend",
    ...valid,
    durability: 1,
  });
  expect(requestOf("unlock", { resource: "r", owner: "o", durability: 0 })).toEqual({
    op: "unlock",
    resource: "r",
    owner: "o",
    durability: 0,
  });
  expect(requestOf("get", { resource: "r", durability: 0 })).toEqual({
    op: "get",
    resource: "r",
    durability: 0,
  });
});

test("omitted durability means persistent for every op", () => {
  expect(requestOf("tryLock", valid)).toMatchObject({ durability: 1 });
  expect(requestOf("extend", valid)).toMatchObject({ durability: 1 });
  expect(requestOf("unlock", { resource: "r", owner: "o" })).toMatchObject({ durability: 1 });
  expect(requestOf("get", { resource: "r" })).toMatchObject({ durability: 1 });
});

test("a field another op takes is unknown here and the message lists the allowed ones", () => {
  expect(errorOf("unlock", { ...valid })).toBe(
    'unknown field "expiresMs"; allowed fields are resource, owner, durability',
  );
  expect(errorOf("get", { resource: "r", owner: "o" })).toBe(
    'unknown field "owner"; allowed fields are resource, durability',
  );
  expect(errorOf("tryLock", { ...valid, ttl: 5 })).toBe(
    'unknown field "ttl"; allowed fields are resource, owner, expiresMs, durability, waitMs, ' +
      "value, mode, limit",
  );
  expect(errorOf("extend", { ...valid, waitMs: 5 })).toBe(
    'unknown field "waitMs"; allowed fields are resource, owner, expiresMs, durability, value',
  );
  expect(errorOf("tryLock", JSON.parse('{"__proto__": 1, "resource": "r"}'))).toContain(
    'unknown field "__proto__"',
  );
});

test("waitMs: omitted or 0 leaves it out, 1 to waitMsMax waits, anything else is refused", () => {
  expect(requestOf("tryLock", valid)).not.toHaveProperty("waitMs");
  expect(requestOf("tryLock", { ...valid, waitMs: 0 })).not.toHaveProperty("waitMs");
  expect(requestOf("tryLock", { ...valid, waitMs: -0 })).not.toHaveProperty("waitMs");
  expect(requestOf("tryLock", { ...valid, waitMs: 1 })).toMatchObject({ waitMs: 1 });
  expect(requestOf("tryLock", { ...valid, waitMs: waitMsMax })).toMatchObject({
    waitMs: waitMsMax,
  });
  for (const bad of [-1, 1.5, waitMsMax + 1, "10", null, true, Number.NaN]) {
    expect(errorOf("tryLock", { ...valid, waitMs: bad })).toStartWith(
      `waitMs must be an integer from 0 to ${waitMsMax}, got `,
    );
  }
});

test("a body that is not a plain object is refused, saying what it was", () => {
  expect(errorOf("get", null)).toBe("request body must be a JSON object, got null");
  expect(errorOf("get", [valid])).toBe("request body must be a JSON object, got an array");
  expect(errorOf("get", "r")).toBe('request body must be a JSON object, got string "r"');
  expect(errorOf("get", 7)).toBe("request body must be a JSON object, got number 7");
  expect(errorOf("get", undefined)).toContain("got undefined");
  expect(errorOf("get", new Uint8Array(2))).toContain("non-plain object");
});

test("missing fields are named with what they must be", () => {
  expect(errorOf("tryLock", { owner: "o", expiresMs: 1 })).toBe(
    "missing field resource: it must be a string",
  );
  expect(errorOf("tryLock", { resource: "r", expiresMs: 1 })).toBe(
    "missing field owner: it must be a string",
  );
  expect(errorOf("extend", { resource: "r", owner: "o" })).toBe(
    "missing field expiresMs: it must be an integer from 1 to 2147483647",
  );
  expect(errorOf("get", {})).toBe("missing field resource: it must be a string");
});

test("wrong types name the field and echo the value", () => {
  expect(errorOf("tryLock", { ...valid, resource: 42 })).toBe("resource must be a string, got 42");
  expect(errorOf("tryLock", { ...valid, owner: null })).toBe("owner must be a string, got null");
  expect(errorOf("tryLock", { ...valid, expiresMs: "ten" })).toBe(
    'expiresMs must be an integer from 1 to 2147483647, got "ten"',
  );
  expect(errorOf("tryLock", { ...valid, durability: "1" })).toBe(
    'durability must be 0 (ephemeral) or 1 (persistent), or omitted for 1, got "1"',
  );
  expect(errorOf("tryLock", { ...valid, durability: null })).toContain("got null");
  expect(errorOf("tryLock", { ...valid, durability: true })).toContain("got true");
});

test("expiresMs must be an integer within the int32 range", () => {
  for (const bad of [0, -1, 1.5, expiresMsMax + 1, 1e300, Number.NaN, Infinity, -0]) {
    expect(errorOf("tryLock", { ...valid, expiresMs: bad })).toStartWith(
      "expiresMs must be an integer from 1 to 2147483647, got ",
    );
  }
  expect(errorOf("tryLock", { ...valid, expiresMs: Number.NaN })).toEndWith("got NaN");
  expect(requestOf("tryLock", { ...valid, expiresMs: 1 })).toMatchObject({ expiresMs: 1 });
  expect(requestOf("extend", { ...valid, expiresMs: expiresMsMax })).toMatchObject({
    expiresMs: expiresMsMax,
  });
});

test("durability accepts only 0 and 1, and -0 becomes 0", () => {
  for (const bad of [2, -1, 0.5, "0", [], {}]) {
    expect(errorOf("get", { resource: "r", durability: bad })).toStartWith("durability must be");
  }
  const request = requestOf("get", { resource: "r", durability: -0 });
  expect(Object.is(request.durability, 0)).toBe(true);
});

test("resource is 1 to 512 UTF-8 bytes, counted in bytes not characters", () => {
  expect(errorOf("get", { resource: "" })).toBe(
    "resource must not be empty (1 to 512 UTF-8 bytes)",
  );
  expect(requestOf("get", { resource: "a".repeat(resourceBytesMax) }).resource).toHaveLength(512);
  expect(errorOf("get", { resource: "a".repeat(resourceBytesMax + 1) })).toStartWith(
    "resource must be 1 to 512 UTF-8 bytes, got 513 bytes",
  );
  // "é" is two bytes: 256 of them fit, 257 do not, though both are far under 512 characters.
  expect(requestOf("get", { resource: "é".repeat(256) }).resource).toHaveLength(256);
  expect(errorOf("get", { resource: "é".repeat(257) })).toStartWith(
    "resource must be 1 to 512 UTF-8 bytes, got 514 bytes (257 UTF-16 units)",
  );
  // "€" is three bytes, "🔒" four (one code point, two UTF-16 units).
  expect(errorOf("get", { resource: "€".repeat(171) })).toContain("got 513 bytes");
  expect(requestOf("get", { resource: "🔒".repeat(128) }).resource).toHaveLength(256);
  expect(errorOf("get", { resource: "🔒".repeat(128) + "a" })).toContain("got 513 bytes");
});

test("owner is 1 to 256 UTF-8 bytes", () => {
  expect(errorOf("unlock", { resource: "r", owner: "" })).toBe(
    "owner must not be empty (1 to 256 UTF-8 bytes)",
  );
  expect(requestOf("unlock", { resource: "r", owner: "o".repeat(ownerBytesMax) }).op).toBe(
    "unlock",
  );
  expect(errorOf("unlock", { resource: "r", owner: "ü".repeat(129) })).toStartWith(
    "owner must be 1 to 256 UTF-8 bytes, got 258 bytes",
  );
});

test("a NUL anywhere in resource is refused", () => {
  expect(errorOf("get", { resource: "a\u0000b" })).toBe(
    'resource must not contain NUL (\\u0000), got "a\\u0000b"',
  );
  expect(errorOf("get", { resource: "\u0000" })).toContain("NUL");
});

test("strings with unpaired surrogates are refused: they have no UTF-8 form", () => {
  expect(errorOf("get", { resource: "a\ud800" })).toBe(
    'resource must be valid Unicode (no unpaired surrogates), got "a\\ud800"',
  );
  expect(errorOf("unlock", { resource: "r", owner: "\udc00x" })).toContain("owner must be valid");
  expect(requestOf("get", { resource: "\ud83d\udd12" }).resource).toBe("🔒");
});

test("echoed values are truncated so a message stays short", () => {
  const message = errorOf("tryLock", { ...valid, expiresMs: "x".repeat(10_000) });
  expect(message.length).toBeLessThan(200);
  expect(message).toContain("(10002 characters)");
  expect(errorOf("tryLock", { ["k".repeat(1000)]: 1 }).length).toBeLessThan(200);
});

test("truncation never splits a surrogate pair", () => {
  const text = echo("a".repeat(38) + "🔒".repeat(10));
  // The JSON quote plus 38 letters leave one unit: a high surrogate alone would be cut off.
  expect(text.startsWith(`"${"a".repeat(38)}…`)).toBe(true);
});

test("utf8Bytes matches TextEncoder on mixed text", () => {
  const samples = ["", "abc", "é", "€", "🔒", "a\u0000b", "日本語テキスト", "x🔒é€z".repeat(9)];
  for (const sample of samples) {
    expect(utf8Bytes(sample)).toBe(new TextEncoder().encode(sample).length);
  }
});

test("mode and limit make a shared TryLock, and bad ones name the field and what is allowed", () => {
  const base = { resource: "r", owner: "o", expiresMs: 5 };
  const limitOf = (body: Record<string, unknown>) => {
    const parsed = parseLockRequest("tryLock", { ...base, ...body });
    if ("error" in parsed) throw new Error(parsed.error);
    return parsed.op === "tryLock" ? parsed.limit : "not a tryLock";
  };
  expect(limitOf({})).toBeUndefined();
  expect(limitOf({ mode: "exclusive" })).toBeUndefined();
  expect(limitOf({ mode: "shared" })).toBe(sharedLimitMax);
  expect(limitOf({ limit: 3 })).toBe(3);
  expect(limitOf({ mode: "shared", limit: 1 })).toBe(1);
  const errorOf = (body: Record<string, unknown>) => {
    const parsed = parseLockRequest("tryLock", { ...base, ...body });
    return "error" in parsed ? parsed.error : undefined;
  };
  expect(errorOf({ mode: "read" })).toBe(
    'mode must be "exclusive" or "shared", or omitted for "exclusive", got "read"',
  );
  expect(errorOf({ mode: 1 })).toContain("mode must be");
  expect(errorOf({ limit: 0 })).toBe(`limit must be an integer from 1 to ${sharedLimitMax}, got 0`);
  expect(errorOf({ limit: sharedLimitMax + 1 })).toContain("limit must be an integer");
  expect(errorOf({ limit: "2" })).toContain("limit must be an integer");
  expect(errorOf({ mode: "exclusive", limit: 2 })).toBe(
    'limit is only for mode "shared" (a semaphore), got mode "exclusive"',
  );
  // Only a TryLock takes them.
  expect(parseLockRequest("extend", { ...base, limit: 2 })).toHaveProperty("error");
  expect(parseLockRequest("get", { resource: "r", mode: "shared" })).toHaveProperty("error");
});

/**
 * REST fuzzing against a running server: take a few locks, then throw at least 10,000 random
 * and mutated requests at it with bounded concurrency, and check that every answer is
 * well-formed JSON whose status matches its type and what the input deserved, that nothing
 * hangs or drops the connection, that the process is still alive, and that the locks taken
 * first are still held by the same owners with the same tokens.
 *
 * One seed decides every request: KAHUNA_FUZZ_SEED=<n> replays a run's inputs (the server's
 * interleaving of concurrent requests may differ). The seed is printed on failure.
 */
import { expect, test } from "bun:test";
import { connect } from "node:net";
import { lockFields } from "../../src/codec/lock-fields.ts";
import { isLockRequestError, parseLockRequest } from "../../src/codec/lock-request.ts";
import { expiresMsMax, httpBodyBytesMax, sharedLimitMax, waitMsMax } from "../../src/constants.ts";
import { createApp, lockRoutes } from "../../src/http/app.ts";
import { MemoryLockService } from "../../src/http/memory-lock-service.ts";
import type { LockOp } from "../../src/locks/types.ts";
import { startServer } from "../helpers/server.ts";
import { callLock, randomOwner } from "./rest-smoke.ts";

const casesPerRun = 10_000;
const concurrency = 16;
const requestTimeoutMs = 10_000;
const failuresShownMax = 10;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness.

type Rng = {
  next(): number;
  int(maxExclusive: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
};

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function rngFrom(seed: number): Rng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (maxExclusive: number) => Math.floor(next() * maxExclusive);
  return {
    next,
    int,
    pick: (items) => {
      const item = items[int(items.length)];
      if (item === undefined) throw new Error("pick from an empty list");
      return item;
    },
    chance: (p) => next() < p,
  };
}

// ---------------------------------------------------------------------------------------------
// Inputs.

type FuzzCase = {
  readonly kind: string;
  readonly method: string;
  readonly path: string;
  readonly body?: string | Uint8Array<ArrayBuffer>;
};

/** Every field of every lock request: the ones a mutation damages. */
const lockFieldNames = Object.keys(lockFields);

/** The longest wait a fuzz case asks for. */
const fuzzWaitMsMax = 30;

const opFields: Record<LockOp, readonly string[]> = {
  tryLock: ["resource", "owner", "expiresMs", "durability", "waitMs", "value", "mode", "limit"],
  extend: ["resource", "owner", "expiresMs", "durability", "value"],
  unlock: ["resource", "owner", "durability"],
  get: ["resource", "durability"],
  watch: ["resource", "durability", "after", "waitMs"],
};

const weirdValues: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -0,
  -1,
  1,
  2,
  1.5,
  -2147483648,
  2147483647,
  2147483648,
  4294967296,
  9007199254740993,
  1e21,
  1e308,
  -1e308,
  Number.MIN_VALUE,
  "",
  " ",
  "0",
  "1",
  "NaN",
  "Infinity",
  "-Infinity",
  "undefined",
  "null",
  "ten",
  "\u0000",
  "a\u0000b",
  "é",
  "🔒",
  "\u202e\u200b",
  "日本語",
  [],
  [1],
  {},
  { resource: "r" },
  "x".repeat(300),
  "é".repeat(300),
  "1.3",
  "01.1",
  "1.1.1",
  "-1.1",
  "9007199254740993.1",
  "12345678901234567.0",
];

/** Raw JSON text a JSON.stringify of a JS value cannot produce. */
const weirdLiterals: readonly string[] = [
  "NaN",
  "Infinity",
  "-Infinity",
  "undefined",
  "1e400",
  "-1e400",
  "0x10",
  "01",
  "1.",
  ".5",
  "+1",
  "'single'",
  '"\\ud800"',
  '"\\udfff\\ud800"',
  '"\\u0000"',
  "[]",
  "{}",
  "tru",
  '"unterminated',
];

const junkBodies: readonly string[] = [
  "",
  " ",
  "\n",
  "{",
  "}",
  "[",
  "]",
  "[]",
  "{}",
  "null",
  "true",
  "0",
  "-0",
  '""',
  '"{}"',
  "resource=x&owner=y&expiresMs=10",
  "\ufeff{}",
  '{"resource":"r"} trailing',
  '{"resource":"r",}',
  "{'resource':'r'}",
  '{resource:"r"}',
  '{"resource":"r" /* c */}',
  '{"resource":"r","resource":"s"}',
  "[".repeat(3000) + "]".repeat(3000),
  '{"a":'.repeat(2000) + "1" + "}".repeat(2000),
];

const badPaths: readonly string[] = [
  "/",
  "/v1",
  "/v1/",
  "/v1/locks",
  "/v1/locks/",
  "/v1/locks/try-lock/",
  "/v1/locks/lock",
  "/v1/locks/try_lock",
  "/V1/locks/try-lock",
  "/v1/Locks/get-info",
  "/v2/locks/try-lock",
  "/v1/locks/try-lock/extra",
  "/v1/locks/get-info.json",
  "/metrics/",
  "/v1/health/x",
  "/v1/locks/try-unlock/..",
  "/favicon.ico",
  "/v1/locks/%00",
  "/v1/locks/try-lock%20",
];

/** A small pool, so random requests collide with each other and with the held locks. */
function resourcePool(held: readonly string[]): string[] {
  const names = ["fuzz/a", "fuzz/b", "fuzz/c", "fuzz/é", "fuzz/🔒", "fuzz/日本", "x", "fuzz/ "];
  for (let i = 0; i < 12; i++) names.push(`fuzz/n${i}`);
  return [...names, ...held, ...held];
}

function randomString(rng: Rng, lengthMax: number): string {
  const alphabets = ["abcxyz0189/-_", "éüßñ", "€日本語", "🔒😀", '\u0000\t\n"\\', "\u200b\u202e"];
  let text = "";
  const length = rng.int(lengthMax + 1);
  for (let i = 0; i < length; i++) {
    const alphabet = [...rng.pick(alphabets)];
    text += rng.pick(alphabet);
  }
  return text;
}

function randomJson(rng: Rng, depth: number): unknown {
  const roll = rng.int(depth > 3 ? 6 : 9);
  if (roll === 0) return null;
  if (roll === 1) return rng.chance(0.5);
  if (roll === 2) return rng.pick(weirdValues);
  if (roll === 3) return (rng.next() - 0.5) * 10 ** rng.int(20);
  if (roll === 4) return rng.int(4_000_000_000) - 1_000_000_000;
  if (roll === 5) return randomString(rng, 20);
  if (roll === 6) return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth + 1));
  const object: Record<string, unknown> = {};
  const keys = [
    "resource",
    "owner",
    "expiresMs",
    "durability",
    "waitMs",
    "after",
    "type",
    "x",
    randomString(rng, 5),
  ];
  for (let i = rng.int(5); i > 0; i--) object[rng.pick(keys)] = randomJson(rng, depth + 1);
  return object;
}

function validBody(rng: Rng, op: LockOp, pool: readonly string[]): Record<string, unknown> {
  const body: Record<string, unknown> = { resource: rng.pick(pool) };
  if (op === "watch") {
    if (rng.chance(0.7)) {
      body["after"] = rng.pick(["0.0", "0.1", "1.2", "7.1", `${rng.int(1_000_000)}.${rng.int(3)}`]);
    }
    if (rng.chance(0.5)) body["waitMs"] = rng.pick([0, 1, 10, fuzzWaitMsMax]);
    if (rng.chance(0.7)) body["durability"] = rng.int(2);
    return body;
  }
  if (op !== "get") body["owner"] = rng.chance(0.8) ? fuzzOwner(rng) : randomString(rng, 8) || "o";
  if (op === "tryLock" || op === "extend") {
    body["expiresMs"] = rng.pick([1, 50, 1000, 30_000, expiresMsMax, 1 + rng.int(600_000)]);
  }
  if (rng.chance(0.7)) body["durability"] = rng.int(2);
  // Short waits: a fuzz case that waits in line must not hold the run up.
  if (op === "tryLock" && rng.chance(0.3)) body["waitMs"] = rng.pick([0, 1, 10, fuzzWaitMsMax]);
  if ((op === "tryLock" || op === "extend") && rng.chance(0.3)) {
    body["value"] = rng.pick(["host-a", "é", "🔒", "x".repeat(256)]);
  }
  // Shared locks (docs/spec.md §2.8): a semaphore's limit, readers' mode, or a writer's.
  if (op === "tryLock" && rng.chance(0.3)) {
    Object.assign(
      body,
      rng.pick<Record<string, unknown>>([
        { limit: 1 + rng.int(3) },
        { mode: "shared" },
        { mode: "shared", limit: sharedLimitMax },
        { mode: "exclusive" },
      ]),
    );
  }
  return body;
}

function fuzzOwner(rng: Rng): string {
  return Array.from({ length: 32 }, () => "0123456789abcdef"[rng.int(16)]).join("");
}

function mutate(rng: Rng, body: Record<string, unknown>, op: LockOp): string {
  const mutated: Record<string, unknown> = { ...body };
  const fields = opFields[op];
  const literals: [string, string][] = [];
  for (let i = 1 + rng.int(3); i > 0; i--) {
    const roll = rng.int(6);
    const field = rng.pick(lockFieldNames);
    if (roll === 0) delete mutated[rng.pick(fields)];
    else if (roll === 1) mutated[rng.pick(["ttl", "Resource", "token", "", "__proto__"])] = 1;
    else if (roll === 2) mutated[field] = rng.pick(weirdValues);
    else if (roll === 3) mutated[field] = randomJson(rng, 2);
    else if (roll === 4) mutated[field] = randomString(rng, rng.chance(0.2) ? 600 : 30);
    else literals.push([field, rng.pick(weirdLiterals)]);
  }
  // A mutation may make a long wait valid: cut it short (the limits are what is fuzzed).
  const waitMs = mutated["waitMs"];
  if (typeof waitMs === "number" && waitMs > fuzzWaitMsMax && waitMs <= waitMsMax) {
    mutated["waitMs"] = fuzzWaitMsMax;
  }
  let text = JSON.stringify(mutated);
  // Splice in literals JSON.stringify cannot write (NaN, lone surrogates, 1e400, ...).
  for (const [field, literal] of literals) {
    const inner = text.slice(1, -1);
    text = `{${inner}${inner === "" ? "" : ","}${JSON.stringify(field)}:${literal}}`;
  }
  return text;
}

function generateCase(rng: Rng, pool: readonly string[]): FuzzCase {
  const route = rng.pick(lockRoutes);
  const post = (kind: string, body: string | Uint8Array<ArrayBuffer>): FuzzCase => ({
    kind,
    method: "POST",
    path: route.path,
    body,
  });
  const roll = rng.int(100);
  if (roll < 22) return post("valid", JSON.stringify(validBody(rng, route.op, pool)));
  if (roll < 55) return post("mutated", mutate(rng, validBody(rng, route.op, pool), route.op));
  if (roll < 63) return post("random JSON", JSON.stringify(randomJson(rng, 0)) ?? "null");
  if (roll < 70) {
    const text = JSON.stringify(validBody(rng, route.op, pool));
    return post("truncated", text.slice(0, rng.int(text.length)));
  }
  if (roll < 76) {
    const bytes = new Uint8Array(rng.int(300));
    for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
    return post("random bytes", bytes);
  }
  if (roll < 82) return post("junk text", rng.pick(junkBodies));
  if (roll < 87) return post("long", longBody(rng, route.op, pool));
  if (roll < 93) {
    const path = rng.pick(badPaths) + (rng.chance(0.2) ? `?q=${rng.int(10)}` : "");
    const method = rng.pick(["POST", "GET", "PUT", "DELETE"]);
    const body = method === "GET" ? undefined : JSON.stringify(validBody(rng, route.op, pool));
    return body === undefined
      ? { kind: "bad path", method, path }
      : { kind: "bad path", method, path, body };
  }
  if (roll < 97) {
    const method = rng.pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]);
    if (method === "GET" || method === "OPTIONS") {
      return { kind: "bad method", method, path: route.path };
    }
    return {
      kind: "bad method",
      method,
      path: route.path,
      body: JSON.stringify(validBody(rng, route.op, pool)),
    };
  }
  const getPath = rng.pick(["/v1/health", "/v1/cluster", "/metrics"]);
  return {
    kind: "bad method",
    method: rng.pick(["POST", "PUT", "DELETE"]),
    path: getPath,
    body: "{}",
  };
}

/** Bodies around the byte limits: long fields, and whole bodies near the size limit. */
function longBody(rng: Rng, op: LockOp, pool: readonly string[]): string {
  const body = validBody(rng, op, pool);
  const roll = rng.int(4);
  if (roll === 0) body["resource"] = "é".repeat(250 + rng.int(12));
  else if (roll === 1) body["resource"] = "r".repeat(505 + rng.int(12));
  else if (roll === 2 && op !== "get" && op !== "watch") {
    body["owner"] = "🔒".repeat(60 + rng.int(8));
  } else {
    const text = JSON.stringify(body);
    const size = httpBodyBytesMax - 8 + rng.int(16) - text.length;
    return text + " ".repeat(Math.max(0, size));
  }
  return JSON.stringify(body);
}

// ---------------------------------------------------------------------------------------------
// The oracle: what each input deserves.

const outcomeTypes: Record<LockOp, readonly number[]> = {
  tryLock: [0, 1],
  extend: [2, 102, 103],
  unlock: [3, 102, 103],
  get: [4, 102],
  watch: [6],
};

type Expected = { status: number; op?: LockOp };

function expectedFor(fuzzCase: FuzzCase): Expected {
  const path = fuzzCase.path.split("?")[0] ?? "";
  const route = lockRoutes.find((candidate) => candidate.path === path);
  const getRoute = ["/v1/health", "/v1/cluster", "/metrics"].includes(path);
  if (route === undefined && !getRoute) return { status: 404 };
  if (route === undefined || fuzzCase.method !== "POST") {
    return { status: getRoute && fuzzCase.method === "GET" ? 200 : 405 };
  }
  const bytes = typeof fuzzCase.body === "string"
    ? new TextEncoder().encode(fuzzCase.body)
    : fuzzCase.body ?? new Uint8Array();
  if (bytes.length > httpBodyBytesMax) return { status: 413 };
  // Bodies built valid deserve 200 whatever the validator says: this half of the oracle does
  // not share code with the server.
  if (fuzzCase.kind === "valid") return { status: 200, op: route.op };
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { status: 400 };
  }
  return { status: isLockRequestError(parseLockRequest(route.op, body)) ? 400 : 200, op: route.op };
}

/** Checks one answer; returns a problem or undefined. */
function checkAnswer(expected: Expected, status: number, contentType: string, text: string) {
  if (!contentType.startsWith("application/json")) return `content-type ${contentType}`;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return "body is not JSON";
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return "body is not an object";
  }
  const record = body as Record<string, unknown>;
  const type = record["type"];
  // Two waiting try-locks of one owner in flight at once: the newer takes the place in line,
  // the older is told to retry (docs/spec.md §2.5). The only 503 a valid request may get here.
  if (
    expected.status === 200 && expected.op === "tryLock" && status === 503 && type === 101 &&
    record["error"] === "a newer request of the same owner took this place in line"
  ) {
    return undefined;
  }
  // A watch of a lock held shared is refused, naming the resource (docs/spec.md §2.8).
  if (
    expected.status === 200 && expected.op === "watch" && status === 400 && type === 100 &&
    String(record["error"]).startsWith("resource: watch follows exclusive locks")
  ) {
    return undefined;
  }
  if (status !== expected.status) return `expected status ${expected.status}`;
  if (status === 200) {
    const op = expected.op;
    if (op === undefined) return "200 for a request that is not a lock request";
    if (typeof type !== "number" || !outcomeTypes[op].includes(type)) {
      return `type ${type} for ${op}`;
    }
    const keys = Object.keys(record).sort().join(",");
    const getKeys = [
      "expires",
      "expiresMs",
      "fencingToken",
      ...(record["holders"] === undefined ? [] : ["holders", "limit"]),
      "owner",
      "type",
      ...(record["value"] === undefined ? [] : ["value"]),
    ];
    const wanted = op === "get"
      ? getKeys.join(",")
      : op === "watch"
      ? "cursor,events,missed,type"
      : "fencingToken,type";
    if (keys !== wanted) return `keys ${keys}, expected ${wanted}`;
    if (op === "watch") return checkWatchAnswer(record);
    if (!Number.isSafeInteger(record["fencingToken"])) return "fencingToken is not an integer";
    return undefined;
  }
  if (type !== 100) return `status ${status} with type ${type}, expected 100`;
  if (typeof record["error"] !== "string" || record["error"] === "") return "no error message";
  return undefined;
}

/** A watch answer's events are well-formed and its cursor is the last event's (or none). */
function checkWatchAnswer(record: Record<string, unknown>): string | undefined {
  const events = record["events"];
  if (!Array.isArray(events)) return "events is not a list";
  if (typeof record["missed"] !== "boolean") return "missed is not a boolean";
  for (const event of events as Record<string, unknown>[]) {
    if (
      !["state", "acquired", "proclaimed", "released", "expired"].includes(String(event["kind"]))
    ) {
      return `event kind ${event["kind"]}`;
    }
    if (!Number.isSafeInteger(event["fencingToken"])) return "event fencingToken";
    if (typeof event["owner"] !== "string" || typeof event["cursor"] !== "string") {
      return "event owner or cursor";
    }
  }
  const last = events.at(-1) as Record<string, unknown> | undefined;
  if (last !== undefined && last["cursor"] !== record["cursor"]) {
    return "cursor is not the last event's";
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The run.

type Held = { resource: string; owner: string; durability: 0 | 1; fencingToken: number };

async function takeLocks(url: string): Promise<Held[]> {
  const held: Held[] = [];
  for (const durability of [1, 0, 1, 0] as const) {
    const resource = `fuzz/held/${randomOwner().slice(0, 8)}`;
    const owner = randomOwner();
    const call = await callLock(url, "/v1/locks/try-lock", {
      resource,
      owner,
      expiresMs: 600_000,
      durability,
    });
    expect(call.status).toBe(200);
    const body = call.body as { type: number; fencingToken: number };
    expect(body.type).toBe(0);
    held.push({ resource, owner, durability, fencingToken: body.fencingToken });
  }
  return held;
}

async function checkStillHeld(url: string, held: readonly Held[]): Promise<void> {
  for (const lock of held) {
    const info = await callLock(url, "/v1/locks/get-info", {
      resource: lock.resource,
      durability: lock.durability,
    });
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({
      type: 4,
      owner: lock.owner,
      fencingToken: lock.fencingToken,
    });
  }
}

type RunReport = {
  sent: number;
  valid: number;
  byStatus: Record<number, number>;
  failures: string[];
};

async function runFuzz(url: string, seed: number, count: number, held: readonly Held[]) {
  const rng = rngFrom(seed);
  const pool = resourcePool(held.map((lock) => lock.resource));
  const cases = Array.from({ length: count }, () => generateCase(rng, pool));
  const report: RunReport = { sent: 0, valid: 0, byStatus: {}, failures: [] };
  let nextIndex = 0;

  async function worker(): Promise<void> {
    for (;;) {
      const index = nextIndex++;
      const fuzzCase = cases[index];
      if (fuzzCase === undefined) return;
      const expected = expectedFor(fuzzCase);
      if (expected.status === 200 && expected.op !== undefined) report.valid++;
      const problem = await send(url, fuzzCase, expected, report);
      if (problem !== undefined && report.failures.length < failuresShownMax) {
        report.failures.push(
          `case ${index} (${fuzzCase.kind}) ${fuzzCase.method} ${fuzzCase.path} ` +
            `${describeBody(fuzzCase.body)}: ${problem}`,
        );
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return report;
}

async function send(url: string, fuzzCase: FuzzCase, expected: Expected, report: RunReport) {
  let response: Response;
  try {
    const init: RequestInit = {
      method: fuzzCase.method,
      signal: AbortSignal.timeout(requestTimeoutMs),
    };
    if (fuzzCase.body !== undefined) init.body = fuzzCase.body;
    response = await fetch(`${url}${fuzzCase.path}`, init);
  } catch (error) {
    return `request failed: ${String(error)}`;
  }
  report.sent++;
  report.byStatus[response.status] = (report.byStatus[response.status] ?? 0) + 1;
  const text = await response.text();
  const problem = checkAnswer(
    expected,
    response.status,
    response.headers.get("content-type") ?? "",
    text,
  );
  return problem === undefined
    ? undefined
    : `${problem}; got ${response.status} ${text.slice(0, 200)}`;
}

function describeBody(body: string | Uint8Array | undefined): string {
  if (body === undefined) return "(no body)";
  if (typeof body !== "string") {
    return `bytes[${body.length}] ${Buffer.from(body.slice(0, 40)).toString("hex")}`;
  }
  return body.length <= 120
    ? JSON.stringify(body)
    : `${JSON.stringify(body.slice(0, 120))}… (${body.length})`;
}

function seedOf(): number {
  const fromEnv = process.env["KAHUNA_FUZZ_SEED"];
  if (fromEnv !== undefined && /^\d+$/.test(fromEnv)) return Number(fromEnv) >>> 0;
  return crypto.getRandomValues(new Uint32Array(1))[0] ?? 1;
}

async function fuzzAndCheck(url: string, count: number, alive: () => boolean): Promise<void> {
  const seed = seedOf();
  const held = await takeLocks(url);
  const report = await runFuzz(url, seed, count, held);
  const summary = `seed ${seed} (replay with KAHUNA_FUZZ_SEED=${seed}): sent ${report.sent} of ` +
    `${count}, ${report.valid} valid, statuses ${JSON.stringify(report.byStatus)}`;
  if (report.failures.length > 0 || !alive()) {
    throw new Error(
      `REST fuzz failed, ${summary}\n${report.failures.join("\n")}\nalive: ${alive()}`,
    );
  }
  console.log(`REST fuzz: ${summary}`);
  // The run must have exercised both sides of the oracle, not only one kind of answer.
  expect(report.valid).toBeGreaterThan(count / 10);
  expect(report.byStatus[400] ?? 0).toBeGreaterThan(count / 4);
  expect(report.byStatus[413] ?? 0).toBeGreaterThan(0);
  try {
    await checkStillHeld(url, held);
  } catch (error) {
    throw new Error(`held locks changed, ${summary}: ${String(error)}`);
  }
}

/** A raw request whose declared body never arrives: the answer must not wait for it. */
async function rawRequest(port: number, head: string, timeoutMs: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let received = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms; got ${JSON.stringify(received)}`));
    }, timeoutMs);
    socket.on("connect", () => socket.write(head));
    socket.on("data", (chunk) => {
      received += chunk.toString("utf8");
      if (received.includes("\r\n\r\n") && received.includes("}")) {
        clearTimeout(timer);
        socket.destroy();
        resolve(received);
      }
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(received);
    });
  });
}

test("the REST API survives 10,000 random and mutated requests on a real server", async () => {
  const server = await startServer();
  try {
    await fuzzAndCheck(server.url, casesPerRun, () => server.process.exitCode === null);
    const huge = await rawRequest(
      server.httpPort,
      "POST /v1/locks/try-lock HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n{",
      5_000,
    );
    expect(huge).toStartWith("HTTP/1.1 413");
    expect(huge).toContain('"type":100');
    // Chunked, so no length is declared: the limit applies while reading.
    const chunk = `400\r\n${" ".repeat(1024)}\r\n`;
    const chunked = await rawRequest(
      server.httpPort,
      "POST /v1/locks/try-lock HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
        chunk.repeat(httpBodyBytesMax / 1024 + 2),
      5_000,
    );
    expect(chunked).toStartWith("HTTP/1.1 413");
    expect(chunked).toContain('"type":100');
    const health = await fetch(`${server.url}/v1/health`);
    expect(health.status).toBe(200);
    expect(server.process.exitCode).toBeNull();
  } finally {
    await server.cleanup();
  }
}, 120_000);

test("the fuzzer and its oracle agree with the app served in-process", async () => {
  const app = createApp({
    service: new MemoryLockService(() => performance.now()),
    health: () => ({ ok: true }),
    cluster: () => ({}),
    metrics: () => "",
    wallMs: () => Date.now(),
  });
  const served = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
  try {
    await fuzzAndCheck(`http://127.0.0.1:${served.port}`, 3_000, () => true);
    const huge = await rawRequest(
      served.port!,
      "POST /v1/locks/try-lock HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n{",
      5_000,
    );
    expect(huge).toStartWith("HTTP/1.1 413");
  } finally {
    await served.stop(true);
  }
}, 60_000);

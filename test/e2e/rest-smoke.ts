/**
 * The REST contract (docs/api.md) checked against a running server at `url`, through plain
 * fetch calls as curl would make them. Runtime-neutral (fetch only, no bun:test), so the Bun,
 * Deno and binary-built server tests all reuse it. Throws an Error naming the failed step.
 *
 * It uses fresh random resource names, so it can run against a server that already holds
 * other locks, and it leaves no lock of its own held.
 */

export type RestCall = {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
};

const requestTimeoutMs = 10_000;
/** MustRetry (503) is a legitimate answer; a client retries it, for at most this long. */
const mustRetryBudgetMs = 5_000;

export function randomOwner(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export async function callLock(url: string, path: string, body: unknown): Promise<RestCall> {
  const started = Date.now();
  for (let attempt = 0;; attempt++) {
    const response = await fetch(`${url}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const call = { status: response.status, headers: response.headers, body: await json(response) };
    if (call.status !== 503 || Date.now() - started > mustRetryBudgetMs || attempt > 100) {
      return call;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function json(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${response.url} answered ${response.status} with non-JSON: ${text}`);
  }
}

function fail(step: string, message: string, call?: RestCall): never {
  const seen = call === undefined
    ? ""
    : ` (status ${call.status}, body ${JSON.stringify(call.body)})`;
  throw new Error(`REST smoke, ${step}: ${message}${seen}`);
}

/** Checks status and that the body has exactly these keys with these values. */
function expectExact(step: string, call: RestCall, status: number, body: object): void {
  if (call.status !== status) fail(step, `expected status ${status}`, call);
  const expected = JSON.stringify(sortKeys(body));
  const actual = JSON.stringify(sortKeys(call.body));
  if (actual !== expected) fail(step, `expected body ${expected}`, call);
}

function sortKeys(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

function tokenOf(step: string, call: RestCall): number {
  const body = call.body as { fencingToken?: unknown };
  const token = body.fencingToken;
  if (typeof token !== "number" || !Number.isSafeInteger(token) || token < 0) {
    fail(step, "expected a non-negative integer fencingToken", call);
  }
  return token;
}

export async function runRestSmoke(url: string): Promise<void> {
  await checkHealthClusterMetrics(url);
  const resource = `smoke/${randomOwner()}`;
  // The same name in the two durabilities is two different locks (docs/spec.md §2).
  await checkLockCycle(url, resource, 1);
  await checkLockCycle(url, resource, 0);
  await checkDefaultDurability(url);
  await checkErrors(url);
}

async function checkHealthClusterMetrics(url: string): Promise<void> {
  const health = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(requestTimeoutMs) });
  const healthBody = await json(health);
  if (health.status !== 200 || (healthBody as { ok?: unknown }).ok !== true) {
    fail("health", `expected 200 {"ok":true}, got ${health.status} ${JSON.stringify(healthBody)}`);
  }
  const cluster = await fetch(`${url}/v1/cluster`, {
    signal: AbortSignal.timeout(requestTimeoutMs),
  });
  const clusterBody = await json(cluster);
  if (cluster.status !== 200 || typeof clusterBody !== "object" || clusterBody === null) {
    fail("cluster", `expected 200 and a JSON object, got ${cluster.status}`);
  }
  const metrics = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(requestTimeoutMs) });
  const metricsText = await metrics.text();
  const contentType = metrics.headers.get("content-type") ?? "";
  if (metrics.status !== 200 || !contentType.startsWith("text/plain")) {
    fail("metrics", `expected 200 text/plain, got ${metrics.status} ${contentType}`);
  }
  // Prometheus text: every line is blank, a comment, or `name{labels} value`.
  for (const line of metricsText.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEInfNa]+( \d+)?$/.test(line)) {
      fail("metrics", `not a Prometheus sample line: ${JSON.stringify(line)}`);
    }
  }
}

async function checkLockCycle(url: string, resource: string, durability: 0 | 1): Promise<void> {
  const a = randomOwner();
  const b = randomOwner();
  const d = `durability ${durability}`;
  const lock = (owner: string, expiresMs: number) =>
    callLock(url, "/v1/locks/try-lock", { resource, owner, expiresMs, durability });
  const extend = (owner: string, expiresMs: number) =>
    callLock(url, "/v1/locks/try-extend", { resource, owner, expiresMs, durability });
  const unlock = (owner: string) =>
    callLock(url, "/v1/locks/try-unlock", { resource, owner, durability });
  const info = () => callLock(url, "/v1/locks/get-info", { resource, durability });

  expectExact(`${d}: get-info before any lock`, await info(), 200, {
    type: 102,
    owner: null,
    fencingToken: 0,
    expiresMs: 0,
    expires: 0,
  });
  const locked = await lock(a, 60_000);
  const token = tokenOf(`${d}: try-lock`, locked);
  expectExact(`${d}: try-lock`, locked, 200, { type: 0, fencingToken: token });
  expectExact(`${d}: try-lock again by the holder`, await lock(a, 60_000), 200, {
    type: 0,
    fencingToken: token,
  });
  expectExact(`${d}: try-lock by another owner`, await lock(b, 60_000), 200, {
    type: 1,
    fencingToken: 0,
  });
  await checkGot(`${d}: get-info while held`, await info(), a, token, 60_000);
  expectExact(`${d}: try-extend by the holder`, await extend(a, 120_000), 200, {
    type: 2,
    fencingToken: token,
  });
  const extended = await info();
  await checkGot(`${d}: get-info after extend`, extended, a, token, 120_000);
  if ((extended.body as { expiresMs: number }).expiresMs <= 60_000) {
    fail(`${d}: get-info after extend`, "the lease did not grow past the first 60 s", extended);
  }
  expectExact(`${d}: try-extend by another owner`, await extend(b, 1000), 200, {
    type: 103,
    fencingToken: 0,
  });
  const notOwner = await unlock(b);
  expectExact(`${d}: try-unlock by another owner`, notOwner, 200, {
    type: 103,
    fencingToken: tokenOf(`${d}: try-unlock by another owner`, notOwner),
  });
  // Unlock keeps the token (docs/spec.md §2.1) and answers it.
  expectExact(`${d}: try-unlock by the holder`, await unlock(a), 200, {
    type: 3,
    fencingToken: token,
  });
  expectExact(`${d}: get-info after unlock`, await info(), 200, {
    type: 102,
    owner: null,
    fencingToken: 0,
    expiresMs: 0,
    expires: 0,
  });
  const again = await unlock(a);
  expectExact(`${d}: try-unlock twice`, again, 200, {
    type: 102,
    fencingToken: tokenOf(`${d}: try-unlock twice`, again),
  });
  expectExact(`${d}: try-extend after unlock`, await extend(a, 1000), 200, {
    type: 102,
    fencingToken: 0,
  });
  const relocked = await lock(b, 30_000);
  const nextToken = tokenOf(`${d}: try-lock after unlock`, relocked);
  expectExact(`${d}: try-lock after unlock`, relocked, 200, { type: 0, fencingToken: nextToken });
  if (nextToken <= token) {
    fail(`${d}: try-lock after unlock`, `token ${nextToken} did not grow past ${token}`);
  }
  expectExact(`${d}: cleanup unlock`, await unlock(b), 200, { type: 3, fencingToken: nextToken });
}

async function checkGot(
  step: string,
  call: RestCall,
  owner: string,
  token: number,
  expiresMsMax: number,
): Promise<void> {
  const body = call.body as Record<string, unknown>;
  const remaining = body["expiresMs"];
  const expires = body["expires"];
  if (typeof remaining !== "number" || remaining <= 0 || remaining > expiresMsMax) {
    fail(step, `expected expiresMs in 1..${expiresMsMax}`, call);
  }
  // `expires` is the server's wall clock plus the remaining lease; the server runs on this
  // machine in tests, so the two clocks agree to well within ten seconds.
  if (typeof expires !== "number" || Math.abs(expires - (Date.now() + remaining)) > 10_000) {
    fail(step, "expected expires near now + expiresMs", call);
  }
  expectExact(step, call, 200, {
    type: 4,
    owner,
    fencingToken: token,
    expiresMs: remaining,
    expires,
  });
}

async function checkDefaultDurability(url: string): Promise<void> {
  const resource = `smoke/default/${randomOwner()}`;
  const owner = randomOwner();
  // No Content-Type JSON here, as `curl -d` sends: the body is JSON all the same.
  const response = await fetch(`${url}/v1/locks/try-lock`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: JSON.stringify({ resource, owner, expiresMs: 30_000 }),
    signal: AbortSignal.timeout(requestTimeoutMs),
  });
  const locked = { status: response.status, headers: response.headers, body: await json(response) };
  const token = tokenOf("try-lock without durability", locked);
  expectExact("try-lock without durability", locked, 200, { type: 0, fencingToken: token });
  const persistent = await callLock(url, "/v1/locks/get-info", { resource, durability: 1 });
  await checkGot("omitted durability is persistent", persistent, owner, token, 30_000);
  expectExact(
    "omitted durability is not ephemeral",
    await callLock(url, "/v1/locks/get-info", { resource, durability: 0 }),
    200,
    { type: 102, owner: null, fencingToken: 0, expiresMs: 0, expires: 0 },
  );
  expectExact("cleanup", await callLock(url, "/v1/locks/try-unlock", { resource, owner }), 200, {
    type: 3,
    fencingToken: token,
  });
}

async function checkErrors(url: string): Promise<void> {
  const resource = `smoke/errors/${randomOwner()}`;
  const cases: [string, string, unknown, string][] = [
    ["not JSON", "/v1/locks/try-lock", "resource=x", "not valid JSON"],
    ["wrong type", "/v1/locks/try-lock", { resource, owner: "o", expiresMs: "ten" }, "expiresMs"],
    ["unknown field", "/v1/locks/get-info", { resource, ttl: 1 }, '"ttl"'],
    ["missing field", "/v1/locks/try-unlock", { resource }, "owner"],
    ["NUL in resource", "/v1/locks/get-info", { resource: "a\u0000b" }, "NUL"],
  ];
  for (const [step, path, body, mention] of cases) {
    const call = await callLock(url, path, body);
    const error = (call.body as { error?: unknown }).error;
    if (call.status !== 400 || (call.body as { type?: unknown }).type !== 100) {
      fail(step, "expected 400 with type 100", call);
    }
    if (typeof error !== "string" || !error.includes(mention)) {
      fail(step, `expected an error mentioning ${mention}`, call);
    }
  }
  const oversize = await callLock(url, "/v1/locks/try-lock", "x".repeat(64 * 1024));
  if (oversize.status !== 413 || (oversize.body as { type?: unknown }).type !== 100) {
    fail("oversize body", "expected 413 with type 100", oversize);
  }
  const notFound = await callLock(url, "/v1/locks/steal", { resource });
  if (notFound.status !== 404 || (notFound.body as { type?: unknown }).type !== 100) {
    fail("unknown path", "expected 404 JSON with type 100", notFound);
  }
  const wrongMethod = await fetch(`${url}/v1/locks/try-lock`, {
    signal: AbortSignal.timeout(requestTimeoutMs),
  });
  const wrongBody = await json(wrongMethod);
  if (wrongMethod.status !== 405 || (wrongBody as { type?: unknown }).type !== 100) {
    fail("GET on a POST endpoint", `expected 405 JSON, got ${wrongMethod.status}`);
  }
}

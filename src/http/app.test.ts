import { expect, test } from "bun:test";
import { httpBodyBytesMax } from "../constants.ts";
import { ResponseType } from "../locks/types.ts";
import type { LockRequest, LockResponse, LockService } from "../locks/types.ts";
import { createApp } from "./app.ts";
import type { HttpDeps } from "./app.ts";

/** A LockService that records requests and answers from a script (or throws). */
class ScriptedService implements LockService {
  readonly requests: LockRequest[] = [];
  next: LockResponse | Error = { type: ResponseType.Locked, fencingToken: 7 };

  execute(request: LockRequest): Promise<LockResponse> {
    this.requests.push(request);
    const next = this.next;
    if (next instanceof Error) return Promise.reject(next);
    return Promise.resolve(next);
  }
}

function setup(overrides: Partial<HttpDeps> = {}) {
  const service = new ScriptedService();
  const logged: string[] = [];
  const app = createApp({
    service,
    health: () => ({ ok: true }),
    cluster: () => ({ nodes: ["1"], partitions: [{ id: 0, leader: "1", term: 3 }] }),
    metrics: () => "kahuna_locks_held 3\n",
    wallMs: () => 1_700_000_000_000,
    log: (message) => logged.push(message),
    ...overrides,
  });
  return { app, service, logged };
}

const owner = "786f947d8a6643f0b939865f72aa512a";
const lockBody = { resource: "orders/42", owner, expiresMs: 5000, durability: 1 } as const;

async function post(
  app: ReturnType<typeof setup>["app"],
  path: string,
  body: unknown,
  init: RequestInit = {},
) {
  const response = await app.request(path, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: { "Content-Type": "application/json" },
    ...init,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: JSON.parse(text) as unknown };
}

test("try-lock passes the request to the service and answers type and token", async () => {
  const { app, service } = setup();
  service.next = { type: ResponseType.Locked, fencingToken: 7 };
  const answer = await post(app, "/v1/locks/try-lock", lockBody);
  expect(answer.status).toBe(200);
  expect(answer.headers.get("content-type")).toStartWith("application/json");
  expect(answer.json).toEqual({ type: 0, fencingToken: 7 });
  expect(service.requests).toEqual([{ op: "tryLock", ...lockBody }]);
});

test("try-unlock, try-extend and get-info map to their ops", async () => {
  const { app, service } = setup();
  service.next = { type: ResponseType.Unlocked, fencingToken: 7 };
  expect((await post(app, "/v1/locks/try-unlock", { resource: "r", owner })).json).toEqual({
    type: 3,
    fencingToken: 7,
  });
  service.next = { type: ResponseType.Extended, fencingToken: 7 };
  expect((await post(app, "/v1/locks/try-extend", { ...lockBody, durability: 0 })).json)
    .toEqual({ type: 2, fencingToken: 7 });
  service.next = { type: ResponseType.LockDoesNotExist, fencingToken: 0 };
  await post(app, "/v1/locks/get-info", { resource: "r", durability: 0 });
  expect(service.requests).toEqual([
    { op: "unlock", resource: "r", owner, durability: 1 },
    { op: "extend", ...lockBody, durability: 0 },
    { op: "get", resource: "r", durability: 0 },
  ]);
});

test("get-info when Got shows owner, token, remaining ms and the wall-clock end", async () => {
  const { app, service } = setup();
  service.next = { type: ResponseType.Got, fencingToken: 9, owner, expiresMs: 4321 };
  const answer = await post(app, "/v1/locks/get-info", { resource: "orders/42" });
  expect(answer.status).toBe(200);
  expect(answer.json).toEqual({
    type: 4,
    owner,
    fencingToken: 9,
    expiresMs: 4321,
    expires: 1_700_000_000_000 + 4321,
  });
});

test("get-info when not Got shows owner null and zero times", async () => {
  const { app, service } = setup();
  service.next = { type: ResponseType.LockDoesNotExist, fencingToken: 0 };
  const answer = await post(app, "/v1/locks/get-info", { resource: "orders/42" });
  expect(answer.status).toBe(200);
  expect(answer.json).toEqual({
    type: 102,
    owner: null,
    fencingToken: 0,
    expiresMs: 0,
    expires: 0,
  });
});

test("every lock outcome is 200 with its type", async () => {
  const { app, service } = setup();
  const outcomes = [
    ResponseType.Locked,
    ResponseType.Busy,
    ResponseType.Extended,
    ResponseType.Unlocked,
    ResponseType.LockDoesNotExist,
    ResponseType.InvalidOwner,
  ];
  for (const type of outcomes) {
    service.next = { type, fencingToken: type === ResponseType.Busy ? 0 : 5 };
    const answer = await post(app, "/v1/locks/try-lock", lockBody);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ type, fencingToken: type === ResponseType.Busy ? 0 : 5 });
  }
});

test("MustRetry is 503 with Retry-After and type 101", async () => {
  const { app, service } = setup();
  service.next = { type: ResponseType.MustRetry, fencingToken: 0, error: "no leader for group 3" };
  const answer = await post(app, "/v1/locks/try-lock", lockBody);
  expect(answer.status).toBe(503);
  expect(answer.headers.get("retry-after")).toBe("1");
  expect(answer.json).toEqual({ type: 101, error: "no leader for group 3" });

  service.next = { type: ResponseType.MustRetry, fencingToken: 0 };
  const getInfo = await post(app, "/v1/locks/get-info", { resource: "r" });
  expect(getInfo.status).toBe(503);
  expect(getInfo.json).toMatchObject({ type: 101, error: expect.stringContaining("retry") });
});

test("Indeterminate is 504 with type 105 and tells the client to retry with the same owner", async () => {
  const { app, service } = setup();
  service.next = { type: ResponseType.Indeterminate, fencingToken: 0 };
  const answer = await post(app, "/v1/locks/try-lock", lockBody);
  expect(answer.status).toBe(504);
  expect(answer.json).toEqual({ type: 105, error: expect.stringContaining("same owner") });
});

test("Errored is 500 with type 99", async () => {
  const { app, service } = setup();
  service.next = { type: ResponseType.Errored, fencingToken: 0, error: "apply failed" };
  const answer = await post(app, "/v1/locks/try-extend", lockBody);
  expect(answer.status).toBe(500);
  expect(answer.json).toEqual({ type: 99, error: "apply failed" });
});

test("InvalidInput from the service is 400 with type 100", async () => {
  const { app, service } = setup();
  service.next = { type: ResponseType.InvalidInput, fencingToken: 0, error: "bad resource" };
  const answer = await post(app, "/v1/locks/try-lock", lockBody);
  expect(answer.status).toBe(400);
  expect(answer.json).toEqual({ type: 100, error: "bad resource" });
});

test("a service that throws is logged and answered 500, and the app keeps serving", async () => {
  const { app, service, logged } = setup();
  service.next = new Error("boom in the host");
  const answer = await post(app, "/v1/locks/try-lock", lockBody);
  expect(answer.status).toBe(500);
  expect(answer.json).toEqual({ type: 99, error: "internal error; the server logged it" });
  expect(logged.join("\n")).toContain("boom in the host");

  service.next = { type: ResponseType.Locked, fencingToken: 1 };
  expect((await post(app, "/v1/locks/try-lock", lockBody)).status).toBe(200);
});

test("a health or cluster callback that throws is answered 500 type 99", async () => {
  const { app, logged } = setup({
    cluster: () => {
      throw new Error("cluster view broke");
    },
  });
  const response = await app.request("/v1/cluster");
  expect(response.status).toBe(500);
  expect(await response.json()).toMatchObject({ type: 99 });
  expect(logged.join("\n")).toContain("cluster view broke");
});

test("bad input of every kind is 400 type 100 naming the problem, and the service is not called", async () => {
  const { app, service } = setup();
  const cases: [string, string | unknown, string][] = [
    ["/v1/locks/try-lock", "not json", "request body is not valid JSON"],
    ["/v1/locks/try-lock", '{"resource": "r", "owner": ', "request body is not valid JSON"],
    ["/v1/locks/try-lock", "", "request body is empty"],
    ["/v1/locks/try-lock", "   ", "request body is empty"],
    ["/v1/locks/try-lock", [lockBody], "request body must be a JSON object, got an array"],
    ["/v1/locks/try-lock", "null", "request body must be a JSON object, got null"],
    ["/v1/locks/try-lock", "42", "request body must be a JSON object, got number 42"],
    ["/v1/locks/try-lock", { ...lockBody, ttl: 1 }, 'unknown field "ttl"; allowed fields are'],
    ["/v1/locks/try-unlock", lockBody, 'unknown field "expiresMs"'],
    ["/v1/locks/get-info", { resource: "r", owner }, 'unknown field "owner"'],
    ["/v1/locks/try-lock", { resource: "r", owner }, "missing field expiresMs"],
    ["/v1/locks/try-extend", { owner, expiresMs: 1 }, "missing field resource"],
    ["/v1/locks/try-unlock", { resource: "r" }, "missing field owner"],
    [
      "/v1/locks/try-lock",
      { ...lockBody, expiresMs: "ten" },
      'expiresMs must be an integer from 1 to 2147483647, got "ten"',
    ],
    ["/v1/locks/try-lock", { ...lockBody, expiresMs: 0 }, "expiresMs must be an integer"],
    ["/v1/locks/try-lock", { ...lockBody, expiresMs: 2 ** 31 }, "got 2147483648"],
    ["/v1/locks/try-lock", { ...lockBody, expiresMs: 1.5 }, "got 1.5"],
    ["/v1/locks/try-lock", '{"resource":"r","owner":"o","expiresMs":1e999}', "got Infinity"],
    ["/v1/locks/try-lock", { ...lockBody, durability: 2 }, "durability must be 0 (ephemeral) or 1"],
    ["/v1/locks/try-lock", { ...lockBody, resource: 5 }, "resource must be a string, got 5"],
    ["/v1/locks/try-lock", { ...lockBody, resource: "a\u0000b" }, "resource must not contain NUL"],
    ["/v1/locks/try-lock", { ...lockBody, resource: "" }, "resource must not be empty"],
    [
      "/v1/locks/try-lock",
      { ...lockBody, resource: "日".repeat(171) },
      "resource must be 1 to 512 UTF-8 bytes, got 513 bytes",
    ],
    [
      "/v1/locks/try-lock",
      { ...lockBody, owner: "€".repeat(86) },
      "owner must be 1 to 256 UTF-8 bytes, got 258 bytes",
    ],
    [
      "/v1/locks/try-lock",
      '{"resource":"\\ud800","owner":"o","expiresMs":1}',
      "resource must be valid Unicode",
    ],
  ];
  for (const [path, body, message] of cases) {
    const answer = await post(app, path, body);
    expect({ path, body, status: answer.status }).toEqual({ path, body, status: 400 });
    expect(answer.json).toEqual({ type: 100, error: expect.stringContaining(message) });
  }
  expect(service.requests).toEqual([]);
});

test("a body that is not UTF-8 is 400", async () => {
  const { app } = setup();
  const answer = await post(app, "/v1/locks/try-lock", "", {
    body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
  });
  expect(answer.status).toBe(400);
  expect(answer.json).toEqual({ type: 100, error: "request body must be UTF-8 JSON" });
});

test("deeply nested JSON is refused without crashing", async () => {
  const { app } = setup();
  const depth = 5000;
  const answer = await post(app, "/v1/locks/try-lock", "[".repeat(depth) + "]".repeat(depth));
  expect(answer.status).toBe(400);
  expect(answer.json).toMatchObject({ type: 100 });
});

test("the body is parsed as JSON whatever the Content-Type, as curl -d sends form type", async () => {
  const { app, service } = setup();
  for (const contentType of ["application/x-www-form-urlencoded", "text/plain"]) {
    const answer = await post(app, "/v1/locks/try-lock", lockBody, {
      headers: { "Content-Type": contentType },
    });
    expect(answer.status).toBe(200);
  }
  const none = await app.request("/v1/locks/get-info", {
    method: "POST",
    body: new Blob([JSON.stringify({ resource: "r" })]),
  });
  expect(none.status).toBe(200);
  expect(service.requests).toHaveLength(3);
});

test("omitted durability reaches the service as persistent", async () => {
  const { app, service } = setup();
  await post(app, "/v1/locks/try-lock", { resource: "r", owner, expiresMs: 10 });
  expect(service.requests[0]).toMatchObject({ durability: 1 });
});

test("a body over the limit is 413 naming the limit, whether or not its length is declared", async () => {
  const { app, service } = setup();
  const padding = "x".repeat(httpBodyBytesMax);
  const declared = await post(app, "/v1/locks/try-lock", { ...lockBody, resource: padding });
  expect(declared.status).toBe(413);
  expect(declared.json).toEqual({
    type: 100,
    error: `request body must be at most ${httpBodyBytesMax} bytes`,
  });

  // A chunked body with no Content-Length: reading stops just past the limit.
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      if (pulled > 10_000) throw new Error("the app read far past the limit");
      controller.enqueue(new Uint8Array(1024).fill(0x20));
    },
  });
  const chunked = await app.request("/v1/locks/try-lock", {
    method: "POST",
    body: endless,
    duplex: "half",
  } as RequestInit);
  expect(chunked.status).toBe(413);
  expect(pulled).toBeLessThanOrEqual(httpBodyBytesMax / 1024 + 3);
  expect(service.requests).toEqual([]);
});

test("a declared Content-Length over the limit is refused before the body is read", async () => {
  const { app } = setup();
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(16));
      if (pulled >= 4) controller.close();
    },
  });
  const request = new Request("http://localhost/v1/locks/try-lock", {
    method: "POST",
    body: stream,
    headers: { "Content-Length": String(httpBodyBytesMax + 1) },
    duplex: "half",
  } as RequestInit);
  const response = await app.request(request);
  expect(response.status).toBe(413);
  // A ReadableStream may pull ahead once on its own; the app itself read nothing.
  expect(pulled).toBeLessThanOrEqual(1);
});

test("a body exactly at the limit is read and validated", async () => {
  const { app } = setup();
  const base = JSON.stringify({ ...lockBody, resource: "r" });
  const text = base + " ".repeat(httpBodyBytesMax - base.length);
  expect(new TextEncoder().encode(text).length).toBe(httpBodyBytesMax);
  expect((await post(app, "/v1/locks/try-lock", text)).status).toBe(200);
});

test("an unknown path is 404 JSON listing the endpoints", async () => {
  const { app } = setup();
  for (
    const [method, path] of [["POST", "/v1/locks/lock"], ["GET", "/"], [
      "POST",
      "/v1/locks/try-lock/",
    ]]
  ) {
    const response = await app.request(path!, { method: method! });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      type: 100,
      error: expect.stringContaining("endpoints are POST /v1/locks/try-lock"),
    });
  }
});

test("a wrong method is 405 JSON with Allow", async () => {
  const { app } = setup();
  for (const method of ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
    const response = await app.request("/v1/locks/try-lock", { method });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
    expect(await response.json()).toEqual({
      type: 100,
      error: `/v1/locks/try-lock takes POST, not ${method}`,
    });
  }
  for (const path of ["/v1/health", "/v1/cluster", "/metrics"]) {
    const response = await app.request(path, { method: "POST", body: "{}" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET");
    expect(await response.json()).toMatchObject({ type: 100 });
  }
});

test("health is 200 when the node can serve and 503 with the reason otherwise", async () => {
  expect(await (await setup().app.request("/v1/health")).json()).toEqual({ ok: true });
  const { app } = setup({ health: () => ({ ok: false, reason: "no leader for group 2" }) });
  const response = await app.request("/v1/health");
  expect(response.status).toBe(503);
  expect(response.headers.get("retry-after")).toBe("1");
  expect(await response.json()).toEqual({ ok: false, reason: "no leader for group 2" });
});

test("cluster returns the host's JSON and metrics the Prometheus text", async () => {
  const { app } = setup();
  const cluster = await app.request("/v1/cluster");
  expect(cluster.status).toBe(200);
  expect(await cluster.json()).toEqual({
    nodes: ["1"],
    partitions: [{ id: 0, leader: "1", term: 3 }],
  });
  const metrics = await app.request("/metrics");
  expect(metrics.status).toBe(200);
  expect(metrics.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
  expect(await metrics.text()).toBe("kahuna_locks_held 3\n");
});

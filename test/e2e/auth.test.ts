/**
 * Issue 12, items 2 to 5: a real `kahuna serve --auth-file` process, its file written by
 * `kahuna auth add`, and clients with no token, a wrong one, a read-only one and a
 * prefix-limited one, over REST, over the binary protocol (KahunaClient and raw frames) and
 * through the CLI. A refused request never takes a lock: every test that is refused a write
 * then looks, with a token that may, at whether the lock is held.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KahunaClient, KahunaError, KahunaErrorKind } from "../../src/client/index.ts";
import { ResponseType } from "../../src/locks/types.ts";
import { makeCerts } from "../helpers/certs.ts";
import {
  addClient,
  kahunaAuth,
  RawBinary,
  standardAuthFile,
  type Tokens,
} from "../helpers/auth.ts";
import {
  bunBin,
  freePort,
  mainTs,
  repoRoot,
  runCommand,
  type ServerProcess,
  startServer,
  tempDir,
  waitHealthy,
} from "../helpers/server.ts";

let dir = "";
let file = "";
let tokens: Tokens;
let server: ServerProcess;

beforeAll(async () => {
  dir = tempDir("kahuna-auth-");
  ({ file, tokens } = standardAuthFile(dir));
  server = await startServer({ extraArgs: ["--auth-file", file] });
}, 60_000);

afterAll(async () => {
  await server?.cleanup();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

async function post(path: string, body: unknown, token?: string) {
  const response = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() as Record<string, unknown> };
}

async function get(path: string, token?: string) {
  const response = await fetch(`${server.url}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

/** Who holds `resource`, asked with the token that may read everything. */
async function holder(resource: string): Promise<unknown> {
  const answer = await post("/v1/locks/get-info", { resource }, tokens.all);
  expect(answer.status).toBe(200);
  return answer.body["owner"];
}

const lock = (resource: string, owner = "o1") => ({ resource, owner, expiresMs: 30_000 });

describe("the auth file kahuna auth add writes", () => {
  test("holds digests and permissions, never a token, with mode 0600", () => {
    const text = readFileSync(file, "utf8");
    for (const token of Object.values(tokens)) expect(text).not.toContain(token);
    expect(JSON.parse(text)).toEqual({
      version: 1,
      clients: [
        {
          name: "ci",
          digest: expect.stringMatching(/^[0-9a-f]{64}$/),
          lock: ["jobs/"],
          read: [],
          admin: false,
        },
        { name: "ro", digest: expect.any(String), lock: [], read: ["jobs/"], admin: false },
        { name: "ops", digest: expect.any(String), lock: [], read: [], admin: true },
        { name: "all", digest: expect.any(String), lock: [""], read: [], admin: false },
      ],
    });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // The digest is the SHA-256 of the token, as docs/security.md says.
    const digest = new Bun.CryptoHasher("sha256").update(tokens.ci).digest("hex");
    expect(JSON.parse(text).clients[0].digest).toBe(digest);
  });

  test("auth list shows the clients; add refuses a name twice; usage errors name the flag", () => {
    expect(kahunaAuth(["list", "--file", file])).toEqual({
      status: 0,
      out: [
        'ci lock ["jobs/"] read [] admin false',
        'ro lock [] read ["jobs/"] admin false',
        "ops lock [] read [] admin true",
        'all lock [""] read [] admin false',
      ].join("\n"),
      err: "",
    });
    const again = kahunaAuth(["add", "ci", "--prefix", "x/", "--file", file]);
    expect(again.status).toBe(1);
    expect(again.out).toBe("");
    expect(again.err).toContain('client "ci" is already in');
    expect(kahunaAuth(["add", "x", "--file", file])).toMatchObject({
      status: 2,
      err: expect.stringContaining("auth add needs --prefix P"),
    });
    expect(kahunaAuth(["add", "x y", "--prefix", "a", "--file", file])).toMatchObject({
      status: 2,
      err: expect.stringContaining("NAME must be 1 to 64 letters"),
    });
    expect(kahunaAuth(["add", "x", "--prefix", "a"])).toMatchObject({
      status: 2,
      err: expect.stringContaining("auth add needs --file FILE"),
    });
    expect(kahunaAuth(["remove", "nobody", "--file", file])).toMatchObject({
      status: 1,
      err: expect.stringContaining('there is no client "nobody"'),
    });
  });

  test("a file that does not parse is never rewritten", () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, '{"version":1,"clients":[{"name":"a","digest":"xyz"}]}');
    const result = kahunaAuth(["add", "b", "--prefix", "p", "--file", bad]);
    expect(result.status).toBe(1);
    expect(result.err).toContain("--file " + bad + ': clients[0] ("a"): digest must be');
    expect(readFileSync(bad, "utf8")).toBe('{"version":1,"clients":[{"name":"a","digest":"xyz"}]}');
  });
});

describe("REST", () => {
  test("no token: 401 with type 106 on every path but health, the API document and /ui", async () => {
    for (const path of ["/v1/locks/try-lock", "/v1/locks/get-info", "/v1/locks/steal"]) {
      const answer = await post(path, lock("jobs/a"));
      expect({ path, ...answer }).toEqual({
        path,
        status: 401,
        body: {
          type: ResponseType.Unauthorized,
          error: expect.stringContaining("this server requires a token"),
        },
      });
    }
    for (const path of ["/metrics", "/v1/cluster", "/v1/locks/try-lock"]) {
      const answer = await get(path);
      expect({ path, status: answer.status }).toEqual({ path, status: 401 });
      expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="kahuna"');
    }
    for (const path of ["/v1/health", "/v1/openapi.json", "/ui"]) {
      expect({ path, status: (await get(path)).status }).toEqual({ path, status: 200 });
    }
    expect(await holder("jobs/a")).toBeNull();
  });

  test("a wrong token, or not a Bearer one: 401, and nothing is locked", async () => {
    const wrong = [`${tokens.ci}x`, "kahuna_" + "A".repeat(43), "x".repeat(2000)];
    for (const token of wrong) {
      const answer = await post("/v1/locks/try-lock", lock("jobs/b"), token);
      expect(answer).toEqual({
        status: 401,
        body: { type: 106, error: expect.stringContaining("matches no client") },
      });
    }
    const basic = await fetch(`${server.url}/v1/locks/try-lock`, {
      method: "POST",
      headers: { authorization: `Basic ${tokens.ci}` },
      body: JSON.stringify(lock("jobs/b")),
    });
    expect(basic.status).toBe(401);
    expect(await holder("jobs/b")).toBeNull();
  });

  test("a prefix-limited token locks inside its prefixes, and gets 403 naming them outside", async () => {
    expect(await post("/v1/locks/try-lock", lock("jobs/c"), tokens.ci)).toEqual({
      status: 200,
      body: { type: 0, fencingToken: 0 },
    });
    expect(await post("/v1/locks/try-extend", lock("jobs/c"), tokens.ci)).toMatchObject({
      status: 200,
      body: { type: ResponseType.Extended },
    });
    expect((await post("/v1/locks/get-info", { resource: "jobs/c" }, tokens.ci)).body)
      .toMatchObject({ type: ResponseType.Got, owner: "o1" });
    for (const path of ["/v1/locks/try-lock", "/v1/locks/try-extend"]) {
      expect(await post(path, lock("orders/1"), tokens.ci)).toEqual({
        status: 403,
        body: {
          type: ResponseType.Forbidden,
          error: 'client "ci" may not ' + (path.endsWith("lock") ? "lock" : "extend") +
            ' "orders/1": its lock prefixes are "jobs/"',
        },
      });
    }
    // "jobs" is not under "jobs/".
    expect((await post("/v1/locks/try-lock", lock("jobs"), tokens.ci)).status).toBe(403);
    expect(await holder("orders/1")).toBeNull();
    expect(await holder("jobs")).toBeNull();
    expect(await post("/v1/locks/try-unlock", { resource: "jobs/c", owner: "o1" }, tokens.ci))
      .toMatchObject({ status: 200, body: { type: ResponseType.Unlocked } });
  });

  test("a read-only token reads and is refused every write", async () => {
    await post("/v1/locks/try-lock", lock("jobs/d", "holder"), tokens.ci);
    expect((await post("/v1/locks/get-info", { resource: "jobs/d" }, tokens.ro)).body)
      .toMatchObject({ type: ResponseType.Got, owner: "holder" });
    expect(await post("/v1/locks/try-unlock", { resource: "jobs/d", owner: "holder" }, tokens.ro))
      .toEqual({
        status: 403,
        body: { type: 107, error: 'client "ro" may not unlock "jobs/d": it has no lock prefixes' },
      });
    expect(await post("/v1/locks/try-lock", lock("jobs/e"), tokens.ro)).toMatchObject({
      status: 403,
    });
    expect((await post("/v1/locks/get-info", { resource: "x/1" }, tokens.ro)).body).toEqual({
      type: 107,
      error: 'client "ro" may not read "x/1": its lock or read prefixes are "jobs/"',
    });
    expect(await holder("jobs/d")).toBe("holder");
    expect(await holder("jobs/e")).toBeNull();
  });

  test("a watch needs a lock or read prefix, and is refused before it waits", async () => {
    expect(await post("/v1/locks/watch", { resource: "jobs/w" })).toMatchObject({ status: 401 });
    expect(await post("/v1/locks/watch", { resource: "jobs/w" }, tokens.ro)).toMatchObject({
      status: 200,
      body: { type: ResponseType.Watched },
    });
    const started = performance.now();
    expect(
      await post("/v1/locks/watch", { resource: "x/w", after: "0.1", waitMs: 5_000 }, tokens.ci),
    )
      .toEqual({
        status: 403,
        body: {
          type: ResponseType.Forbidden,
          error: 'client "ci" may not watch "x/w": its lock or read prefixes are "jobs/"',
        },
      });
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  test("401 comes before the body is read, 400 before the permission: no token learns nothing", async () => {
    expect((await post("/v1/locks/try-lock", { nonsense: true })).status).toBe(401);
    expect(await post("/v1/locks/try-lock", { resource: "orders/1" }, tokens.ci)).toMatchObject({
      status: 400,
    });
  });

  test("a TryLock that would wait is refused before it joins the line", async () => {
    await post("/v1/locks/try-lock", lock("orders/wait", "holder"), tokens.all);
    const started = performance.now();
    const refused = await post(
      "/v1/locks/try-lock",
      { ...lock("orders/wait", "waiter"), waitMs: 5_000 },
      tokens.ci,
    );
    expect(refused.status).toBe(403);
    expect(performance.now() - started).toBeLessThan(2_000);
    const metrics = await get("/metrics", tokens.ops);
    expect(metrics.text).toMatch(/^kahuna_lock_waiters(\{[^}]*\})? 0$/m);
    expect(await holder("orders/wait")).toBe("holder");
  });

  test("/metrics and /v1/cluster need an admin token; refusals are counted by reason", async () => {
    expect((await get("/metrics", tokens.all)).status).toBe(403);
    expect(JSON.parse((await get("/v1/cluster", tokens.ci)).text)).toEqual({
      type: 107,
      error: 'client "ci" may not read /v1/cluster: that needs an admin client ' +
        '("admin": true in the auth file)',
    });
    expect((await get("/v1/cluster", tokens.ops)).status).toBe(200);
    const metrics = await get("/metrics", tokens.ops);
    expect(metrics.status).toBe(200);
    const count = (reason: string) =>
      Number(
        new RegExp(`^kahuna_auth_refused_total\\{reason="${reason}"\\} (\\d+)$`, "m")
          .exec(metrics.text)?.[1],
      );
    expect(count("missing")).toBeGreaterThanOrEqual(5);
    expect(count("invalid")).toBeGreaterThanOrEqual(4);
    expect(count("forbidden")).toBeGreaterThanOrEqual(6);
    expect(metrics.text).toContain("kahuna_auth_clients 4\n");
  });
});

describe("the client library", () => {
  for (const transport of ["rest", "binary"] as const) {
    const servers = () => transport === "rest" ? [server.url] : [`127.0.0.1:${server.binaryPort}`];
    const client = (token?: string) =>
      new KahunaClient({
        servers: servers(),
        transport,
        retries: 2,
        ...(token === undefined ? {} : { token }),
      });
    const refusal = async (call: Promise<unknown>): Promise<KahunaError> => {
      try {
        await call;
      } catch (error) {
        if (error instanceof KahunaError) return error;
        throw error;
      }
      throw new Error("the call was not refused");
    };

    test(`${transport}: no token and a wrong one are refused at once, not retried`, async () => {
      const none = client();
      const started = performance.now();
      const missing = await refusal(none.tryLock(`jobs/${transport}/1`, "me", 10_000));
      expect(missing.kind).toBe(KahunaErrorKind.Unauthorized);
      expect(missing.message).toBe("401: this server requires a token: pass token to KahunaClient");
      expect(performance.now() - started).toBeLessThan(1_000);
      const wrong = await refusal(client(`${tokens.ci}x`).get(`jobs/${transport}/1`));
      expect(wrong.kind).toBe(KahunaErrorKind.Unauthorized);
      expect(wrong.message).toContain("401: the server does not accept this token");
      expect(await holder(`jobs/${transport}/1`)).toBeNull();
      none.close();
    });

    test(`${transport}: prefix-limited and read-only tokens`, async () => {
      const ci = client(tokens.ci);
      expect(await ci.tryLock(`jobs/${transport}/2`, "me", 10_000)).toEqual({
        locked: true,
        fencingToken: 0,
      });
      const outside = await refusal(ci.tryLock(`orders/${transport}`, "me", 10_000));
      expect(outside.kind).toBe(KahunaErrorKind.Forbidden);
      expect(outside.message).toBe(
        `403: client "ci" may not lock "orders/${transport}": its lock prefixes are "jobs/"; ` +
          "ask for a token that may",
      );
      const waiting = await refusal(
        ci.getOrCreateLock(`orders/${transport}`, { expiresMs: 1000, waitMs: 5000 }),
      );
      expect(waiting.kind).toBe(KahunaErrorKind.Forbidden);
      const ro = client(tokens.ro);
      expect((await ro.get(`jobs/${transport}/2`))?.owner).toBe("me");
      expect((await refusal(ro.unlock(`jobs/${transport}/2`, "me"))).kind).toBe(
        KahunaErrorKind.Forbidden,
      );
      expect(await holder(`jobs/${transport}/2`)).toBe("me");
      expect(await holder(`orders/${transport}`)).toBeNull();
      expect(await ci.unlock(`jobs/${transport}/2`, "me")).toBe(true);
      ci.close();
      ro.close();
    });
  }

  test("a token that is not one is refused before anything is sent", () => {
    expect(() => new KahunaClient({ servers: [server.url], token: "has space" })).toThrow(
      "token must be the token kahuna auth add printed",
    );
  });
});

describe("the binary protocol's handshake", () => {
  const tryLock = (id: number, resource: string) => [
    id,
    "tryLock",
    { resource, owner: "raw", expiresMs: 30_000 },
  ];

  test("requests before a handshake are Unauthorized; after it, judged by its client", async () => {
    const raw = await RawBinary.open(server.binaryPort);
    raw.send([tryLock(1, "jobs/raw"), [2, "route", {}]]);
    const before = await raw.answers(2);
    expect(before.map((a) => a[1])).toEqual([ResponseType.Unauthorized, ResponseType.Unauthorized]);
    expect(before[0]![5]).toContain("this server requires a token");
    // The handshake goes first in its frame, whatever its place in it.
    raw.send([tryLock(3, "jobs/raw"), [4, "auth", { token: tokens.ci }], tryLock(5, "x/raw")]);
    const after = await raw.answers(3);
    expect(after.find((a) => a[0] === 4)).toEqual([4, ResponseType.Got, 0, "ci", null, null]);
    expect(after.find((a) => a[0] === 3)?.[1]).toBe(ResponseType.Locked);
    expect(after.find((a) => a[0] === 5)).toEqual([
      5,
      ResponseType.Forbidden,
      0,
      null,
      null,
      'client "ci" may not lock "x/raw": its lock prefixes are "jobs/"',
    ]);
    // A later handshake with a wrong token replaces the good one.
    raw.send([[6, "auth", { token: "nope" }], tryLock(7, "jobs/raw2")]);
    const wrong = await raw.answers(2);
    expect(wrong.map((a) => a[1])).toEqual([ResponseType.Unauthorized, ResponseType.Unauthorized]);
    raw.send([[8, "auth", { token: 5 }], [9, "auth", {}]]);
    expect((await raw.answers(2)).map((a) => a[1])).toEqual([
      ResponseType.InvalidInput,
      ResponseType.InvalidInput,
    ]);
    expect(raw.closed).toBe(false);
    raw.close();
    expect(await holder("jobs/raw")).toBe("raw");
    expect(await holder("x/raw")).toBeNull();
    expect(await holder("jobs/raw2")).toBeNull();
  });

  test("a server without --auth-file accepts a handshake and serves as before", async () => {
    const open = await startServer();
    try {
      const raw = await RawBinary.open(open.binaryPort);
      raw.send([tryLock(1, "a")]);
      expect((await raw.answers(1))[0]![1]).toBe(ResponseType.Locked);
      raw.send([[2, "auth", { token: "anything" }], tryLock(3, "b")]);
      const answers = await raw.answers(2);
      expect(answers.find((a) => a[0] === 2)).toEqual([2, ResponseType.Got, 0, null, null, null]);
      expect(answers.find((a) => a[0] === 3)?.[1]).toBe(ResponseType.Locked);
      raw.close();
      // A client given a token works against it too, over both transports.
      for (const transport of ["rest", "binary"] as const) {
        const client = new KahunaClient({
          servers: [transport === "rest" ? open.url : `127.0.0.1:${open.binaryPort}`],
          transport,
          token: tokens.ci,
        });
        expect((await client.tryLock(`c/${transport}`, "me", 5000)).locked).toBe(true);
        client.close();
      }
    } finally {
      await open.cleanup();
    }
  });
});

test(
  "a node on 0.0.0.0 with TLS and tokens starts without --insecure; clients pass token and ca",
  async () => {
    const certs = await makeCerts(["1"]);
    const node = certs.node("1");
    const server = await startServer({
      extraArgs: [
        "--host",
        "0.0.0.0",
        "--tls-cert",
        node.certFile,
        "--tls-key",
        node.keyFile,
        "--auth-file",
        file,
      ],
      ca: certs.ca,
    });
    try {
      const refused = await fetch(`${server.url}/v1/locks/get-info`, {
        method: "POST",
        body: '{"resource":"jobs/tls"}',
        tls: { ca: certs.ca },
      });
      expect(refused.status).toBe(401);
      for (const transport of ["rest", "binary"] as const) {
        const client = new KahunaClient({
          servers: [transport === "rest" ? server.url : `127.0.0.1:${server.binaryPort}`],
          transport,
          token: tokens.ci,
          ca: certs.ca,
        });
        expect((await client.tryLock(`jobs/tls/${transport}`, "t", 5000)).locked).toBe(true);
        client.close();
      }
      const cli = await runCommand([
        bunBin,
        mainTs,
        "get-lock",
        "jobs/tls/rest",
        "--server",
        server.url,
        "--ca",
        certs.caFile,
        "--token",
        tokens.ro,
      ]);
      expect(cli).toMatchObject({ status: 0, out: ["f0 t"] });
    } finally {
      await server.cleanup();
      rmSync(certs.dir, { recursive: true, force: true });
    }
  },
  60_000,
);

test("a node under Deno serves the same rules, REST and binary", async () => {
  const node = await startServer({ runtime: "deno", extraArgs: ["--auth-file", file] });
  try {
    const refused = await fetch(`${node.url}/v1/locks/try-lock`, {
      method: "POST",
      body: JSON.stringify(lock("jobs/deno")),
    });
    expect(refused.status).toBe(401);
    for (const transport of ["rest", "binary"] as const) {
      const client = new KahunaClient({
        servers: [transport === "rest" ? node.url : `127.0.0.1:${node.binaryPort}`],
        transport,
        token: tokens.ci,
      });
      expect((await client.tryLock(`jobs/deno/${transport}`, "d", 5000)).locked).toBe(true);
      let error: unknown;
      await client.tryLock(`x/deno/${transport}`, "d", 5000).catch((e) => (error = e));
      expect((error as KahunaError).kind).toBe(KahunaErrorKind.Forbidden);
      client.close();
    }
  } finally {
    await node.cleanup();
  }
}, 60_000);

describe("the CLI", () => {
  const cli = (given: string[], env: Record<string, string> = {}) => {
    // --server goes before a `--` (after it, the words are the command to run).
    const dash = given.indexOf("--") < 0 ? given.length : given.indexOf("--");
    const args = [...given.slice(0, dash), "--server", server.url, ...given.slice(dash)];
    return run(args, env);
  };
  const run = (args: string[], env: Record<string, string>) =>
    runCommand([
      "env",
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      bunBin,
      mainTs,
      ...args,
    ]);

  test("--token and KAHUNA_TOKEN; errors say what to do, exit status 2", async () => {
    expect(await cli(["lock", "jobs/cli", "10000", "--owner", "me", "--token", tokens.ci]))
      .toMatchObject({ status: 0, out: ["f0 acquired me"] });
    expect(await cli(["get-lock", "jobs/cli"], { KAHUNA_TOKEN: tokens.ro })).toMatchObject({
      status: 0,
      out: ["f0 me"],
    });
    expect(await cli(["get-lock", "jobs/cli"], { KAHUNA_TOKEN: "" })).toMatchObject({
      status: 2,
      err: "kahuna: 401: this server requires a token: pass --token or set KAHUNA_TOKEN\n",
    });
    expect(await cli(["get-lock", "jobs/cli", "--token", "wrong"])).toMatchObject({
      status: 2,
      err: expect.stringContaining("check --token or KAHUNA_TOKEN, or get a new one"),
    });
    expect(
      await cli(["unlock", "jobs/cli", "--owner", "me", "--format", "json"], {
        KAHUNA_TOKEN: tokens.ro,
      }),
    ).toMatchObject({
      status: 2,
      err: JSON.stringify({
        op: "unlock",
        error: "forbidden",
        message: '403: client "ro" may not unlock "jobs/cli": it has no lock prefixes; ' +
          "ask for a token that may",
        exitStatus: 2,
      }) + "\n",
    });
    expect(await cli(["get-lock", "jobs/cli", "--token", "two words"])).toMatchObject({
      status: 2,
      err: expect.stringContaining("--token must be the token kahuna auth add printed"),
    });
    // So does kahuna watch.
    expect(await cli(["watch", "jobs/cli", "--count", "1", "--token", tokens.ro]))
      .toMatchObject({ status: 0, out: [expect.stringMatching(/^state me token 0 /)] });
    expect(await cli(["watch", "x/cli", "--count", "1"], { KAHUNA_TOKEN: tokens.ro }))
      .toMatchObject({ status: 2, err: expect.stringContaining('403: client "ro" may not watch') });
    // The run form takes --token too, and runs nothing when refused.
    expect(await cli(["lock", "orders/cli", "1000", "--token", tokens.ci, "--", "echo", "ran"]))
      .toMatchObject({ status: 2, out: [""], err: expect.stringContaining("403: client") });
    expect(await cli(["lock", "jobs/cli2", "1000", "--token", tokens.ci, "--", "echo", "ran"]))
      .toMatchObject({ status: 0, out: ["ran"] });
    expect(await holder("orders/cli")).toBeNull();
  });
});

describe("SIGHUP", () => {
  test(
    "reloads the file: a removed client is shut out, on open connections too; a bad file is not taken",
    async () => {
      const local = tempDir("kahuna-auth-hup-");
      const hupFile = join(local, "auth.json");
      const keep = addClient(hupFile, "keep", ["--prefix", ""]);
      const gone = addClient(hupFile, "gone", ["--prefix", ""]);
      const node = await startServer({ extraArgs: ["--auth-file", hupFile] });
      try {
        const binary = new KahunaClient({
          servers: [`127.0.0.1:${node.binaryPort}`],
          transport: "binary",
          token: gone,
          retries: 0,
        });
        expect((await binary.tryLock("a", "me", 10_000)).locked).toBe(true);
        expect(kahunaAuth(["remove", "gone", "--file", hupFile]).status).toBe(0);
        const later = addClient(hupFile, "later", ["--prefix", "l/"]);
        node.process.kill("SIGHUP");
        const status = async (token: string) =>
          (await fetch(`${node.url}/v1/locks/get-info`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}` },
            body: '{"resource":"l/1"}',
          })).status;
        for (let i = 0; i < 100 && (await status(later)) !== 200; i++) await Bun.sleep(50);
        expect(await status(later)).toBe(200);
        expect(await status(gone)).toBe(401);
        expect(await status(keep)).toBe(200);
        // The binary connection opened with the removed token is still open, and refused.
        let refused: unknown;
        await binary.extend("a", "me", 10_000).catch((error) => (refused = error));
        expect((refused as KahunaError).kind).toBe(KahunaErrorKind.Unauthorized);
        binary.close();
        // A bad file on SIGHUP keeps the one in use.
        writeFileSync(hupFile, '{"version":1,"clients":[{"name":"x","digest":"0"}]}');
        node.process.kill("SIGHUP");
        await Bun.sleep(500);
        expect(await status(keep)).toBe(200);
        expect(await status(later)).toBe(200);
        expect(node.process.exitCode).toBeNull();
      } finally {
        node.process.kill("SIGTERM");
        await node.process.exited;
        const log = await new Response(node.process.stderr as ReadableStream).text();
        expect(log).toContain("reloaded the auth file");
        expect(log).toMatch(
          /cannot reload the auth file; the one in use is kept.*clients\[0\] \(\\?"x\\?"\): digest must be/,
        );
        await node.cleanup();
        rmSync(local, { recursive: true, force: true });
      }
    },
    60_000,
  );
});

describe("starting", () => {
  test("a bad auth file stops the start with one line naming the file, the entry and the field", async () => {
    const bad = join(dir, "start-bad.json");
    writeFileSync(
      bad,
      JSON.stringify({ version: 1, clients: [{ name: "a", digest: "0".repeat(64), lock: [7] }] }),
    );
    const missing = join(dir, "none.json");
    for (
      const [path, message] of [
        [
          bad,
          `kahuna: the server could not start: --auth-file ${bad}: clients[0] ("a"): lock[0] must be a string`,
        ],
        [
          missing,
          `kahuna: the server could not start: --auth-file ${missing} does not exist (kahuna auth add makes it)`,
        ],
      ] as const
    ) {
      const result = await runCommand([
        bunBin,
        mainTs,
        "serve",
        "--auth-file",
        path,
        "--http-port",
        "0",
        "--binary-port",
        "0",
        "--data-dir",
        join(dir, "d"),
      ]);
      expect(result.status).toBe(1);
      expect(result.err.trim().split("\n")).toEqual([expect.stringContaining(message)]);
    }
  });

  test("a non-loopback --host without TLS and tokens refuses to start unless --insecure", async () => {
    const args = [
      "serve",
      "--host",
      "0.0.0.0",
      "--http-port",
      "0",
      "--binary-port",
      "0",
      "--data-dir",
      join(dir, "exposed"),
    ];
    const refused = await runCommand([bunBin, mainTs, ...args]);
    expect(refused.status).toBe(2);
    expect(refused.err).toBe(
      "kahuna: --host 0.0.0.0 is not a loopback address, and this node has no TLS on the client " +
        "ports (--tls-cert, --tls-key), no client tokens (--auth-file): anyone who can reach it " +
        "could take, release and read every lock. Give them, or --insecure to serve anyway " +
        '(docs/security.md); run "kahuna serve --help" for the usage\n',
    );
    const port = await freePort();
    const exposed = args.map((arg, i) => (args[i - 1] === "--http-port" ? String(port) : arg));
    const child = Bun.spawn([
      bunBin,
      mainTs,
      ...exposed,
      "--insecure",
      "--peer-port",
      String(await freePort()),
    ], {
      cwd: repoRoot,
      stderr: "pipe",
    });
    try {
      await waitHealthy(`http://127.0.0.1:${port}`);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await child.exited).toBe(0);
    expect(await new Response(child.stderr).text()).toContain("serving HTTP address=0.0.0.0:");
  });
});

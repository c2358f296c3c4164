/**
 * Issue 12 item 1: TLS on the client ports. Real certificates (docs/security.md's commands,
 * test/helpers/certs.ts), real server processes on 127.0.0.1, under Bun and Deno: HTTPS passes
 * the REST smoke test, plain HTTP to it fails, the client library and the CLI speak HTTPS and
 * the binary protocol over TLS with the CA, bad certificate files stop a node at start, and
 * SIGHUP reloads the certificates without dropping open connections.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { KahunaClient, KahunaError } from "../../src/client/index.ts";
import { addNodeCert, type Certs, makeCerts, shownCertificate, waitFor } from "../helpers/certs.ts";
import {
  bunBin,
  commandFor,
  denoBin,
  freePort,
  mainTs,
  repoRoot,
  runCommand,
  type ServerProcess,
  startServer,
  tempDir,
} from "../helpers/server.ts";

let certs: Certs;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  certs = await makeCerts(["1"]);
}, 30_000);

afterAll(async () => {
  for (const server of servers) await server.cleanup();
  rmSync(certs.dir, { recursive: true, force: true });
});

/** A Bun server with --tls-cert/--tls-key, stopped after the file's tests. */
async function startTlsServer(): Promise<ServerProcess> {
  const server = await startServer({ extraArgs: tlsArgs(), ca: certs.ca });
  servers.push(server);
  return server;
}

function tlsArgs(id = "1"): string[] {
  const node = certs.node(id);
  return ["--tls-cert", node.certFile, "--tls-key", node.keyFile];
}

/** The REST smoke test in a child Bun that trusts the CA the documented way for Node. */
async function restSmokeOverHttps(url: string): Promise<void> {
  const child = Bun.spawn([
    bunBin,
    "-e",
    `import { runRestSmoke } from "./test/e2e/rest-smoke.ts"; await runRestSmoke(process.env.URL);`,
  ], {
    cwd: repoRoot,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, URL: url, NODE_EXTRA_CA_CERTS: certs.caFile },
  });
  const [err, status] = await Promise.all([new Response(child.stderr).text(), child.exited]);
  expect(err).toBe("");
  expect(status).toBe(0);
}

async function lockRoundTrip(client: KahunaClient, resource: string): Promise<void> {
  const owner = `o-${resource}`;
  expect((await client.tryLock(resource, owner, 30_000)).locked).toBe(true);
  expect((await client.get(resource))?.owner).toBe(owner);
  expect(await client.unlock(resource, owner)).toBe(true);
}

test("docs/security.md's commands make a CA and node certificates openssl verifies", async () => {
  const dir = tempDir("kahuna-certs-");
  try {
    const made = await makeCerts([], dir);
    expect(await addNodeCert(made.dir, "7")).toContain("node7.crt: OK");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);

for (const runtime of ["bun", "deno"] as const) {
  describe(`a ${runtime} server with --tls-cert/--tls-key`, () => {
    let server: ServerProcess;

    beforeAll(async () => {
      server = await startServer({ runtime, extraArgs: tlsArgs(), ca: certs.ca });
      servers.push(server);
    }, 30_000);

    test("passes the REST smoke test over HTTPS, trusting the CA", async () => {
      expect(server.url).toStartWith("https://");
      await restSmokeOverHttps(server.url);
    }, 60_000);

    test("refuses plain HTTP on its HTTP port, and HTTPS without the CA", async () => {
      const plain = `http://127.0.0.1:${server.httpPort}/v1/health`;
      await expect(fetch(plain, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow();
      await expect(fetch(`${server.url}/v1/health`)).rejects.toThrow();
    });

    test("the client library takes locks over HTTPS and the binary protocol over TLS", async () => {
      await lockRoundTrip(new KahunaClient({ servers: [server.url], ca: certs.ca }), "tls/rest");
      const binary = new KahunaClient({
        servers: [`127.0.0.1:${server.binaryPort}`],
        transport: "binary",
        ca: certs.ca,
      });
      try {
        await lockRoundTrip(binary, "tls/binary");
      } finally {
        binary.close();
      }
    }, 30_000);

    test("a binary client that does not trust the CA gets no answer", async () => {
      const client = new KahunaClient({
        servers: [`127.0.0.1:${server.binaryPort}`],
        transport: "binary",
        tls: true,
        retries: 1,
        timeoutMs: 2_000,
      });
      try {
        await expect(client.get("tls/untrusted")).rejects.toBeInstanceOf(KahunaError);
      } finally {
        client.close();
      }
    });

    test("the CLI takes a lock with --server https://… --ca FILE", async () => {
      const lock = await runCommand(commandFor("bun", [
        "lock",
        "tls/cli",
        "30000",
        "--owner",
        "cli",
        "--server",
        server.url,
        "--ca",
        certs.caFile,
      ]));
      expect(lock.err).toBe("");
      expect(lock.status).toBe(0);
      const missing = await runCommand(commandFor("bun", [
        "get-lock",
        "tls/cli",
        "--server",
        server.url,
        "--ca",
        join(certs.dir, "missing.crt"),
      ]));
      expect(missing.status).toBe(2);
      expect(missing.err).toContain(`--ca ${join(certs.dir, "missing.crt")} does not exist`);
    }, 30_000);
  });
}

test("under Deno, the client library takes a lock over HTTPS with ca", async () => {
  const server = await startTlsServer();
  const script = `
    import { readFileSync } from "node:fs";
    import { KahunaClient } from "./src/client/index.ts";
    const client = new KahunaClient({ servers: [Deno.env.get("URL")], ca: readFileSync(Deno.env.get("CA"), "utf8") });
    const result = await client.tryLock("tls/deno-client", "d", 30000);
    console.log(JSON.stringify(result));
  `;
  const child = Bun.spawn([denoBin, "eval", script], {
    cwd: repoRoot,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, URL: server.url, CA: certs.caFile },
  });
  const [out, err, status] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  expect(err).toBe("");
  expect(status).toBe(0);
  expect(JSON.parse(out)).toMatchObject({ locked: true });
}, 30_000);

describe("a node whose TLS files are wrong refuses to start, naming the flag and the file", () => {
  const start = async (args: string[]) => {
    const dataDir = tempDir();
    try {
      const port = await freePort();
      return await runCommand([
        bunBin,
        mainTs,
        "serve",
        "--http-port",
        String(port),
        "--data-dir",
        dataDir,
        ...args,
      ]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  };

  test("a missing certificate", async () => {
    const missing = join(certs.dir, "nope.crt");
    const result = await start(["--tls-cert", missing, "--tls-key", certs.node("1").keyFile]);
    expect(result.status).not.toBe(0);
    expect(result.err.trim()).toBe(
      `kahuna: the server could not start: --tls-cert ${missing} does not exist`,
    );
  });

  test("a key that is not the certificate's", async () => {
    await addNodeCert(certs.dir, "2");
    const cert = certs.node("1").certFile;
    const key = certs.node("2").keyFile;
    const result = await start(["--tls-cert", cert, "--tls-key", key]);
    expect(result.status).not.toBe(0);
    expect(result.err.trim()).toBe(
      `kahuna: the server could not start: --tls-key ${key} is not the key of --tls-cert ${cert}`,
    );
  });

  test("a key file that is not a key, given by KAHUNA_TLS_KEY", async () => {
    const cert = certs.node("1").certFile;
    const port = await freePort();
    const dataDir = tempDir();
    const child = Bun.spawn([bunBin, mainTs, "serve", "--http-port", String(port)], {
      cwd: repoRoot,
      stderr: "pipe",
      env: {
        ...process.env,
        KAHUNA_TLS_CERT: cert,
        KAHUNA_TLS_KEY: cert,
        KAHUNA_DATA_DIR: dataDir,
      },
    });
    const [err, status] = await Promise.all([new Response(child.stderr).text(), child.exited]);
    rmSync(dataDir, { recursive: true, force: true });
    expect(status).not.toBe(0);
    expect(err.trim()).toStartWith(
      `kahuna: the server could not start: --tls-key ${cert} is not a PEM private key`,
    );
    expect(err.trim().split("\n")).toHaveLength(1);
  });
});

for (const runtime of ["bun", "deno"] as const) {
  test(
    `SIGHUP makes a ${runtime} server show its renewed certificate; a waiting request goes on`,
    async () => {
      // The node's own copy of its files, renewed in place as an operator would.
      const dir = tempDir("kahuna-certs-");
      copyFileSync(join(certs.dir, "ca.crt"), join(dir, "ca.crt"));
      copyFileSync(join(certs.dir, "ca.key"), join(dir, "ca.key"));
      await addNodeCert(dir, "1");
      const own = { certFile: join(dir, "node1.crt"), keyFile: join(dir, "node1.key") };
      const server = await startServer({
        runtime,
        extraArgs: ["--tls-cert", own.certFile, "--tls-key", own.keyFile],
        ca: certs.ca,
      });
      servers.push(server);
      try {
        const before = await shownCertificate(server.httpPort, certs.ca);
        expect(await shownCertificate(server.binaryPort, certs.ca)).toBe(before);
        const client = new KahunaClient({ servers: [server.url], ca: certs.ca });
        expect((await client.tryLock("tls/reload", "first", 60_000)).locked).toBe(true);
        // A TryLock waiting in line holds its HTTPS connection open across the reload.
        const waiting = client.getOrCreateLock("tls/reload", {
          expiresMs: 60_000,
          waitMs: 20_000,
          owner: "second",
        });
        await Bun.sleep(200);
        await addNodeCert(dir, "1");
        server.process.kill("SIGHUP");
        await waitFor(
          "the new certificate",
          async () => (await shownCertificate(server.httpPort, certs.ca)) !== before,
        );
        expect(await shownCertificate(server.binaryPort, certs.ca)).not.toBe(before);
        expect(await client.unlock("tls/reload", "first")).toBe(true);
        expect((await waiting).isAcquired).toBe(true);
        // A file that does not load: the node keeps serving with the certificate it has.
        const current = await shownCertificate(server.httpPort, certs.ca);
        writeFileSync(own.keyFile, "not a key\n");
        server.process.kill("SIGHUP");
        await Bun.sleep(300);
        expect(server.process.exitCode).toBeNull();
        expect(await shownCertificate(server.httpPort, certs.ca)).toBe(current);
        expect((await client.get("tls/reload"))?.owner).toBe("second");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );
}

test(
  "under Node, from the built bundle: binary over TLS with ca, REST with NODE_EXTRA_CA_CERTS",
  async () => {
    const server = await startTlsServer();
    const outDir = tempDir("kahuna-client-bundle-");
    try {
      const build = Bun.spawnSync([
        bunBin,
        join(repoRoot, "compile/build-client.ts"),
        "--outdir",
        outDir,
      ], {
        cwd: repoRoot,
      });
      expect(build.exitCode).toBe(0);
      const script = `
      import { readFileSync } from "node:fs";
      const { KahunaClient } = await import(process.env.BUNDLE);
      const ca = readFileSync(process.env.CA, "utf8");
      const binary = new KahunaClient({ servers: [process.env.BINARY], transport: "binary", ca });
      const viaBinary = await binary.tryLock("tls/node-binary", "n", 30000);
      binary.close();
      const rest = new KahunaClient({ servers: [process.env.URL], ca });
      const viaRest = await rest.tryLock("tls/node-rest", "n", 30000);
      let refused = "";
      try {
        new KahunaClient({ servers: [process.env.URL], ca, retries: 0 });
      } catch (error) {
        refused = error.message;
      }
      console.log(JSON.stringify({ viaBinary, viaRest, refused }));
    `;
      const run = async (extraCa: boolean) => {
        const child = Bun.spawn(["node", "--input-type=module", "-e", script], {
          cwd: repoRoot,
          stdout: "pipe",
          stderr: "pipe",
          env: {
            ...process.env,
            BUNDLE: pathToFileURL(join(outDir, "index.js")).href,
            CA: certs.caFile,
            BINARY: `127.0.0.1:${server.binaryPort}`,
            URL: server.url,
            NODE_EXTRA_CA_CERTS: extraCa ? certs.caFile : "",
          },
        });
        const [out, err, status] = await Promise.all([
          new Response(child.stdout).text(),
          new Response(child.stderr).text(),
          child.exited,
        ]);
        return { out, err, status };
      };
      const trusted = await run(true);
      expect(trusted.err).toBe("");
      expect(JSON.parse(trusted.out)).toEqual({
        viaBinary: { locked: true, fencingToken: expect.any(Number) },
        viaRest: { locked: true, fencingToken: expect.any(Number) },
        refused: "",
      });
      // Without NODE_EXTRA_CA_CERTS, REST with ca says what to do instead of failing later.
      const untrusted = await run(false);
      expect(untrusted.status).not.toBe(0);
      expect(untrusted.err).toContain("under Node, start the process with NODE_EXTRA_CA_CERTS");
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  },
  60_000,
);

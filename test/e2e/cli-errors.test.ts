/**
 * The CLI's rough edges, against real processes: a server that accepts but never answers is
 * bounded by --timeout (default a few seconds, not the client's 30 s); errors in --format
 * json are one JSON object on stderr; "no majority of the cluster is reachable" (servers
 * answer 503) is told apart from "no server answered"; a node's other ports follow
 * --http-port.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { TestCluster } from "../helpers/cluster.ts";
import { freePort, repoRoot, tempDir, waitHealthy } from "../helpers/server.ts";
import { commandLine, run } from "./client-fixtures/cli-run.ts";

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A TCP server that accepts connections and never says a word. */
async function silentServer(): Promise<string> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const address = server.address();
  return `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;
}

describe("--timeout", () => {
  test("a server that never answers ends the command within the default timeout", async () => {
    const silent = await silentServer();
    // The run's own 20 s bound is far below the client library's 30 s deadline.
    const result = await run(["get-lock", "r", "--server", silent], { timeoutMs: 20_000 });
    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(/no answer within 2500 ms/);
    expect(result.stderr.trimEnd().split("\n").length).toBe(1);
  }, 30_000);

  test("--timeout sets the limit of the whole command, retries included", async () => {
    const silent = await silentServer();
    const result = await run(["lock", "r", "1000", "--server", silent, "--timeout", "400ms"]);
    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(/^kahuna: outcome unknown after \d attempts .*200 ms/);
  }, 30_000);
});

describe("--format json errors", () => {
  test("an unreachable server is one JSON object on stderr, nothing on stdout", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const result = await run(["unlock", "r", "--owner", "o", "--server", dead, "--format", "json"]);
    expect(result.status).toBe(3);
    expect(result.stdout).toBe("");
    const error = JSON.parse(result.stderr);
    expect(error).toMatchObject({ op: "unlock", error: "unreachable", exitStatus: 3 });
    expect(error.message).toMatch(/^no kahuna server answered after \d+ attempts/);
  });

  test("a usage error is one JSON object too, whatever else is wrong", async () => {
    for (const args of [["lock", "r", "-5", "--format", "json"], ["--bogus", "--format=json"]]) {
      const result = await run(args);
      expect(result.status).toBe(2);
      expect(result.stdout).toBe("");
      expect(JSON.parse(result.stderr)).toMatchObject({ error: "usage", exitStatus: 2 });
    }
  });
});

describe("no majority", () => {
  test(
    "one node of three up: the CLI says no majority is reachable, not that no server runs",
    async () => {
      const cluster = await TestCluster.start(3, { partitions: 2 });
      cleanups.push(() => cluster.stop());
      await cluster.kill("2");
      await cluster.kill("3");
      const survivor = cluster.node("1").url;
      const result = await run(["get-lock", "r", "--server", survivor, "--format", "json"], {
        timeoutMs: 30_000,
      });
      expect(result.status).toBe(3);
      const error = JSON.parse(result.stderr);
      expect(error).toMatchObject({ op: "get-lock", error: "noMajority", exitStatus: 3 });
      expect(error.message).toMatch(
        /^no majority of the cluster is reachable: kahuna servers answered/,
      );
      expect(error.message).toMatch(/check that most of the cluster's nodes are running/);
      const text = await run(["get-lock", "r", "--server", `${survivor},${cluster.node("2").url}`]);
      expect(text.stderr).toMatch(/^kahuna: no majority of the cluster is reachable/);
      await cluster.kill("1");
      const none = await run(["get-lock", "r", "--server", survivor]);
      expect(none.status).toBe(3);
      expect(none.stderr).toMatch(/^kahuna: no kahuna server answered/);
    },
    90_000,
  );
});

describe("serve ports", () => {
  /** An HTTP port whose next two ports were free a moment ago too. */
  async function portWithTwoFreeAbove(): Promise<number> {
    for (let tries = 0; tries < 20; tries++) {
      const port = await freePort();
      if (port + 2 <= 65_535 && (await bindable(port + 1)) && (await bindable(port + 2))) {
        return port;
      }
    }
    throw new Error("no three consecutive free ports found");
  }

  async function bindable(port: number): Promise<boolean> {
    return await new Promise((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
  }

  test("--http-port alone moves the binary port to HTTP + 2", async () => {
    const httpPort = await portWithTwoFreeAbove();
    const dataDir = tempDir();
    const child = Bun.spawn(
      commandLine(["serve", "--http-port", String(httpPort), "--data-dir", dataDir]),
      { cwd: repoRoot, stdout: "ignore", stderr: "pipe", timeout: 60_000, killSignal: "SIGKILL" },
    );
    cleanups.push(async () => {
      child.kill("SIGKILL");
      await child.exited;
      rmSync(dataDir, { recursive: true, force: true });
    });
    await waitHealthy(`http://127.0.0.1:${httpPort}`);
    expect(await bindable(httpPort + 2)).toBe(false);
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    const log = await new Response(child.stderr).text();
    expect(log).toContain(`serving the binary protocol address=127.0.0.1:${httpPort + 2}`);
  }, 60_000);
});

/**
 * One process per data directory: a second `kahuna serve` on a directory in use exits
 * non-zero at once, naming the directory and the pid that holds it, and the first keeps
 * serving. The lock is the OS's, so it goes with its process, kill -9 included.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { bunBin, commandFor, freePort, repoRoot, startServer, tempDir } from "../helpers/server.ts";
import type { Runtime, ServerProcess } from "../helpers/server.ts";
import { callLock } from "./rest-smoke.ts";

const servers: ServerProcess[] = [];
const buildDir = tempDir("kahuna-lock-build-");
/** The compiled executable, built once for this file. */
const compiled = { binary: join(buildDir, "kahuna") };

beforeAll(() => {
  const build = Bun.spawnSync([bunBin, "compile/build.ts", "--outfile", compiled.binary], {
    cwd: repoRoot,
  });
  if (build.exitCode !== 0) throw new Error(`compile failed: ${build.stderr.toString()}`);
}, 120_000);

afterAll(async () => {
  for (const server of servers) await server.cleanup();
  rmSync(buildDir, { recursive: true, force: true });
});

/** A second node on `dataDir`, on ports of its own; its exit status and stderr. */
async function secondServe(runtime: Runtime, dataDir: string) {
  const ports = [await freePort(), await freePort(), await freePort()];
  const child = Bun.spawn(
    commandFor(runtime, [
      "serve",
      "--http-port",
      String(ports[0]),
      "--peer-port",
      String(ports[1]),
      "--binary-port",
      String(ports[2]),
      "--data-dir",
      dataDir,
    ]),
    { cwd: repoRoot, stdout: "ignore", stderr: "pipe", timeout: 30_000, killSignal: "SIGKILL" },
  );
  const [status, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
  return { status, stderr };
}

async function expectServes(server: ServerProcess, resource: string): Promise<void> {
  const lock = { resource, owner: "first", expiresMs: 60_000, durability: 1 };
  const answer = await callLock(server.url, "/v1/locks/try-lock", lock);
  expect(answer.body).toMatchObject({ type: 0 });
}

const runtimes: Array<[string, Runtime]> = [
  ["Bun", "bun"],
  ["Deno", "deno"],
  ["the compiled binary", compiled],
];

for (const [name, runtime] of runtimes) {
  describe(`under ${name}`, () => {
    test("a second node on a data directory in use exits 1, naming it and the holder", async () => {
      const first = await startServer({ runtime });
      servers.push(first);
      const second = await secondServe(runtime, first.dataDir);
      expect(second.status).toBe(1);
      expect(second.stderr.trimEnd().split("\n")).toEqual([
        `kahuna: the server could not start: the data directory ${first.dataDir} is in use by ` +
        `process ${first.process.pid}, another kahuna node; stop it first, or give this node ` +
        `its own --data-dir`,
      ]);
      await expectServes(first, `${name}/after-refusal`);
    }, 60_000);

    test("after the holder is killed with SIGKILL the next start succeeds", async () => {
      const first = await startServer({ runtime });
      servers.push(first);
      await expectServes(first, `${name}/before-kill`);
      expect(await first.kill("SIGKILL")).not.toBe(0);
      const next = await first.restart();
      servers.push(next);
      const info = await callLock(next.url, "/v1/locks/get-info", {
        resource: `${name}/before-kill`,
        durability: 1,
      });
      expect(info.body).toMatchObject({ type: 4, owner: "first" });
      const refused = await secondServe(runtime, next.dataDir);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain(`in use by process ${next.process.pid}`);
    }, 60_000);
  });
}

test("a Bun node and a Deno node cannot share a data directory either", async () => {
  const dataDir = tempDir();
  try {
    const first = await startServer({ runtime: "deno", dataDir });
    servers.push(first);
    const second = await secondServe("bun", dataDir);
    expect(second.status).toBe(1);
    expect(second.stderr).toContain(`${dataDir} is in use by process ${first.process.pid}`);
    await expectServes(first, "mixed/after-refusal");
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 60_000);

/**
 * The client library runs unmodified outside Bun (docs/client.md): the same scenario script
 * (client-fixtures/scenario.mjs) under Deno, importing the TypeScript sources with only
 * --allow-net, and under Node 20, importing the bundle that compile/build-client.ts makes.
 * Both talk to a real server, with a dead server first in their list.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { bunBin, denoBin, freePort, repoRoot, runCommand, startServer } from "../helpers/server.ts";
import type { ServerProcess } from "../helpers/server.ts";

let server: ServerProcess;
let deadUrl: string;

beforeAll(async () => {
  server = await startServer();
  deadUrl = `http://127.0.0.1:${await freePort()}`;
}, 60_000);

afterAll(async () => {
  await server?.cleanup();
});

const expectedLines = [
  "acquired true token 0 owner true",
  "info owner true token 0 remaining true",
  "contender acquired false",
  "extend true",
  "disposed false get null",
  "waited true token 1 after-expiry true",
  "extend after expiry false",
  "release true",
  'tryLock {"locked":true,"fencingToken":0}',
  'tryLock other {"locked":false,"fencingToken":0}',
  'extend {"extended":true,"fencingToken":0}',
  "get a 0",
  "unlock other false",
  "unlock true",
  "unlock again false",
  "ephemeral true e",
  "withLock token 0 lost false after null",
  "invalid true invalidInput resource must be 1 to 512 bytes of UTF-8, got 0 bytes",
];

test(
  "the scenario passes under Deno with only --allow-net, importing the .ts sources",
  async () => {
    const script = join(repoRoot, "test/e2e/client-fixtures/deno-scenario.ts");
    const prefix = `deno-${Date.now()}`;
    const result = await runCommand([
      denoBin,
      "run",
      "--allow-net=127.0.0.1",
      "--no-prompt",
      script,
      server.url,
      deadUrl,
      prefix,
    ]);
    expect(result.err).not.toMatch(/error/i);
    expect(result.out).toEqual([...expectedLines, "using acquired true", "using released null"]);
    expect(result.status).toBe(0);
  },
  60_000,
);

test(
  "the scenario passes under Node 20, importing the built dist/kahuna-client/index.js",
  async () => {
    const build = Bun.spawnSync([bunBin, join(repoRoot, "compile/build-client.ts")], {
      cwd: repoRoot,
    });
    expect(build.exitCode).toBe(0);
    const version = Bun.spawnSync(["node", "--version"]).stdout.toString().trim();
    expect(version).toMatch(/^v(2\d|[3-9]\d)\./);
    const script = join(repoRoot, "test/e2e/client-fixtures/node-scenario.mjs");
    const result = await runCommand(["node", script, server.url, deadUrl, `node-${Date.now()}`]);
    expect(result.err).toBe("");
    expect(result.out).toEqual(expectedLines);
    expect(result.status).toBe(0);
  },
  60_000,
);

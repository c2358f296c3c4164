/**
 * The binary transport runs unmodified outside Bun: the same script under Node (importing the
 * bundle compile/build-client.ts makes) and under Deno (importing the .ts sources with
 * --allow-net and read access to src/ only), against a real server. Neither script closes its client: an idle binary
 * connection must not keep the process alive.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  bunBin,
  denoBin,
  repoRoot,
  runCommand,
  type ServerProcess,
  startServer,
  tempDir,
} from "../../test/helpers/server.ts";

let server: ServerProcess;
const outDir = tempDir("kahuna-client-bundle-");
const script = join(repoRoot, "test/bench/fixtures/binary-scenario.mjs");
const expected = [
  "locked 200 of 200",
  "get owner true",
  "busy false",
  "unlocked 200",
  "persistent true true",
];

beforeAll(async () => {
  server = await startServer();
}, 60_000);

afterAll(async () => {
  await server?.cleanup();
  rmSync(outDir, { recursive: true, force: true });
});

test(
  "under Node, from the built bundle, pipelined calls over one connection all answer and the process ends",
  async () => {
    const build = Bun.spawnSync([
      bunBin,
      join(repoRoot, "compile/build-client.ts"),
      "--outdir",
      outDir,
    ], { cwd: repoRoot });
    expect(build.exitCode).toBe(0);
    const bundle = pathToFileURL(join(outDir, "index.js")).href;
    const result = await runCommand([
      "node",
      script,
      bundle,
      `127.0.0.1:${server.binaryPort}`,
      `node-${Date.now()}`,
    ]);
    expect(result.err).toBe("");
    expect(result.out).toEqual(expected);
    expect(result.status).toBe(0);
  },
  60_000,
);

test(
  "under Deno, from the .ts sources with network and src/ read access only, the same",
  async () => {
    const source = pathToFileURL(join(repoRoot, "src/client/index.ts")).href;
    const result = await runCommand([
      denoBin,
      "run",
      "--allow-net=127.0.0.1",
      // Read access only because the script imports the sources by a path given at run time.
      `--allow-read=${join(repoRoot, "src")}`,
      "--no-prompt",
      script,
      source,
      `127.0.0.1:${server.binaryPort}`,
      `deno-${Date.now()}`,
    ]);
    expect(result.err).not.toMatch(/error/i);
    expect(result.out).toEqual(expected);
    expect(result.status).toBe(0);
  },
  60_000,
);

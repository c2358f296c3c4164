/**
 * Every console example in README.md, docs/cli.md and docs/recipes.md runs, exactly as written, against a
 * real server (a fresh one per page, so fencing tokens match the page). A block that names
 * the local cluster's ports (2170, 2270) runs against `npm run cluster`'s three nodes
 * instead, started on their documented ports.
 *
 * In a ```console block, a line `$ COMMAND` is run by bash (stderr merged into stdout) with
 * `kahuna` and `kahuna-cli` on the PATH; the lines after it, up to the next `$`, are its
 * expected output. After `$ kahuna-cli` (or `$ kahuna cli`) alone, lines starting with the
 * prompt `kahuna-cli> ` are typed into the shell's stdin. Two things are not literal:
 * the seed's owner id 786f947d8a6643f0b939865f72aa512a stands for any 32-hex owner (the CLI
 * makes random ones), and http://127.0.0.1:2070 is the test server's address.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunBin, mainTs, repoRoot, startServer, tempDir, waitHealthy } from "../helpers/server.ts";
import type { ServerProcess } from "../helpers/server.ts";
import { kahunaCliPath } from "./client-fixtures/cli-run.ts";
import { parseConsoleBlocks } from "./client-fixtures/doc-blocks.ts";
import type { ConsoleStep } from "./client-fixtures/doc-blocks.ts";

const docUrl = "http://127.0.0.1:2070";
const docOwner = "786f947d8a6643f0b939865f72aa512a";
const pages = ["README.md", "docs/cli.md", "docs/recipes.md"];

let server: ServerProcess;
let workDir: string;
let binDir: string;
let localCluster: Bun.Subprocess | undefined;

const needsLocalCluster = (block: { steps: ConsoleStep[] }) =>
  block.steps.some((step) => /127\.0\.0\.1:2[12]70/.test(step.command));

/** `npm run cluster`'s nodes on their documented ports, data in a temporary directory. */
async function startLocalCluster(): Promise<void> {
  localCluster = Bun.spawn([
    bunBin,
    join(repoRoot, "scripts/local-cluster.ts"),
    "--data-dir",
    join(workDir, "cluster"),
  ], { cwd: repoRoot, stdout: "ignore", stderr: "ignore" });
  for (const port of [2070, 2170, 2270]) await waitHealthy(`http://127.0.0.1:${port}`, 30_000);
}

beforeAll(async () => {
  workDir = tempDir("kahuna-cli-docs-");
  binDir = join(workDir, "bin");
  Bun.spawnSync(["mkdir", "-p", binDir]);
  const scripts: Array<[string, string]> = [
    ["kahuna", `exec ${JSON.stringify(bunBin)} ${JSON.stringify(mainTs)} "$@"\n`],
    ["kahuna-cli", `exec ${JSON.stringify(bunBin)} ${JSON.stringify(kahunaCliPath())} "$@"\n`],
  ];
  for (const [name, body] of scripts) {
    writeFileSync(join(binDir, name), `#!/bin/sh\n${body}`);
    chmodSync(join(binDir, name), 0o755);
  }
}, 60_000);

afterAll(async () => {
  await server?.cleanup();
  localCluster?.kill("SIGTERM");
  await localCluster?.exited;
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

/** Expected lines with the doc's placeholders, matched against what actually came out. */
function matches(expected: string, actual: string): boolean {
  const pattern = expected.replaceAll(docUrl, server.url)
    .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
    .replaceAll(docOwner, "[0-9a-f]{32}");
  return new RegExp(`^${pattern}$`).test(actual);
}

async function runStep(step: ConsoleStep): Promise<string[]> {
  const child = Bun.spawn([
    "bash",
    "-c",
    `{ ${step.command.replaceAll(docUrl, server.url)}\n} 2>&1`,
  ], {
    cwd: workDir,
    stdin: step.input.length > 0
      ? new TextEncoder().encode(step.input.join("\n") + "\n")
      : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: {
      ...process.env,
      PATH: `${binDir}:${process.env["PATH"] ?? "/usr/bin:/bin"}`,
      KAHUNA_SERVER: server.url,
      KAHUNA_HISTORY: join(workDir, "history"),
    },
    timeout: 30_000,
    killSignal: "SIGKILL",
  });
  const out = await new Response(child.stdout).text();
  await child.exited;
  return out === "" ? [] : out.replace(/\n$/, "").split("\n");
}

test("the docs have console examples to run", () => {
  const blocks = parseConsoleBlocks(readFileSync(join(repoRoot, "docs/cli.md"), "utf8"));
  expect(blocks.length).toBeGreaterThan(10);
  expect(blocks.flatMap((block) => block.steps).length).toBeGreaterThan(30);
  const readme = parseConsoleBlocks(readFileSync(join(repoRoot, "README.md"), "utf8"));
  expect(readme.some(needsLocalCluster)).toBe(true);
});

for (const page of pages) {
  describe(page, () => {
    const blocks = parseConsoleBlocks(readFileSync(join(repoRoot, page), "utf8"));
    beforeAll(async () => {
      await server?.cleanup();
      server = await startServer();
    }, 60_000);
    for (const block of blocks) {
      test(`example under "${block.heading}" (line ${block.line})`, async () => {
        if (needsLocalCluster(block) && localCluster === undefined) await startLocalCluster();
        for (const step of block.steps) {
          const actual = await runStep(step);
          // Where a line matches its placeholder pattern, show the expected text, so a failure
          // diff points at the lines that really differ.
          const shown = actual.map((line, index) => {
            const expected = step.output[index];
            return expected !== undefined && matches(expected, line) ? expected : line;
          });
          expect({ command: step.command, output: shown }).toEqual({
            command: step.command,
            output: step.output,
          });
        }
      }, 60_000);
    }
  });
}

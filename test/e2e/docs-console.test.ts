/**
 * Every example in docs/cli.md runs, exactly as written, against a real server.
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
import { bunBin, mainTs, repoRoot, startServer, tempDir } from "../helpers/server.ts";
import type { ServerProcess } from "../helpers/server.ts";
import { kahunaCliPath } from "./client-fixtures/cli-run.ts";
import { parseConsoleBlocks } from "./client-fixtures/doc-blocks.ts";
import type { ConsoleStep } from "./client-fixtures/doc-blocks.ts";

const docUrl = "http://127.0.0.1:2070";
const docOwner = "786f947d8a6643f0b939865f72aa512a";
const blocks = parseConsoleBlocks(readFileSync(join(repoRoot, "docs/cli.md"), "utf8"));

let server: ServerProcess;
let workDir: string;
let binDir: string;

beforeAll(async () => {
  server = await startServer();
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

test("docs/cli.md has examples to run", () => {
  expect(blocks.length).toBeGreaterThan(10);
  expect(blocks.flatMap((block) => block.steps).length).toBeGreaterThan(30);
});

describe("docs/cli.md", () => {
  for (const block of blocks) {
    test(`example under "${block.heading}" (line ${block.line})`, async () => {
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

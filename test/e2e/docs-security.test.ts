/**
 * The token examples of docs/security.md run as written, in page order, in one working
 * directory (the ```sh blocks, which make certificates, run in test/helpers/certs.ts):
 *
 * - ```console blocks: each `$ COMMAND` runs in bash (stderr merged into stdout) with `kahuna` on
 *   the PATH, and its output is the lines after it. The node they talk to starts with
 *   `--auth-file auth.json --data-dir data` in that directory once the first block has made
 *   auth.json, so `kill -HUP "$(cat data/LOCK.pid)"` reaches it. http://127.0.0.1:2070 is its
 *   address.
 * - the ```ts block runs under Bun and under Deno (with --allow-env=KAHUNA_TOKEN, as the page
 *   says) with the deployer's token in KAHUNA_TOKEN, against a second node that reads the same
 *   file (so its requests do not move the first node's counters), and prints the ```text block
 *   after it;
 * - the ```json block is an auth file a node accepts, and the ```text block after it is the
 *   line a node prints when that file's second entry has a bad `read`.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAuthFile } from "../../src/auth/auth-file.ts";
import {
  bunBin,
  denoBin,
  mainTs,
  repoRoot,
  runCommand,
  type ServerProcess,
  startServer,
  tempDir,
} from "../helpers/server.ts";
import { codeBlocks } from "./client-fixtures/doc-blocks.ts";
import { parseConsoleBlocks } from "./client-fixtures/doc-blocks.ts";

const page = readFileSync(join(repoRoot, "docs/security.md"), "utf8");
const docUrl = "http://127.0.0.1:2070";
let workDir = "";
let binDir = "";
let main: ServerProcess | undefined;
let side: ServerProcess | undefined;

beforeAll(() => {
  workDir = tempDir("kahuna-security-docs-");
  binDir = join(workDir, ".bin");
  mkdirSync(binDir);
  writeFileSync(
    join(binDir, "kahuna"),
    `#!/bin/sh\nexec ${JSON.stringify(bunBin)} ${JSON.stringify(mainTs)} "$@"\n`,
  );
  chmodSync(join(binDir, "kahuna"), 0o755);
});

afterAll(async () => {
  await main?.cleanup();
  await side?.cleanup();
  if (workDir !== "") rmSync(workDir, { recursive: true, force: true });
});

async function servers(): Promise<void> {
  if (main !== undefined) return;
  const authFile = join(workDir, "auth.json");
  main = await startServer({
    dataDir: join(workDir, "data"),
    extraArgs: ["--auth-file", authFile],
  });
  side = await startServer({ extraArgs: ["--auth-file", authFile] });
}

async function runStep(command: string): Promise<string[]> {
  const url = main?.url ?? docUrl;
  const child = Bun.spawn(["bash", "-c", `{ ${command.replaceAll(docUrl, url)}\n} 2>&1`], {
    cwd: workDir,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      ...process.env,
      PATH: `${binDir}:${process.env["PATH"] ?? "/usr/bin:/bin"}`,
      KAHUNA_SERVER: url,
      KAHUNA_TOKEN: "",
      KAHUNA_AUTH_FILE: "",
    },
    timeout: 30_000,
    killSignal: "SIGKILL",
  });
  const out = await new Response(child.stdout).text();
  await child.exited;
  return out === "" ? [] : out.replace(/\n$/, "").split("\n");
}

async function runTs(code: string, runtime: "bun" | "deno"): Promise<string> {
  const file = join(workDir, `example-${runtime}.ts`);
  writeFileSync(
    file,
    code.replaceAll(
      'from "kahuna-client"',
      `from ${JSON.stringify(join(repoRoot, "src/client/index.ts"))}`,
    )
      .replaceAll(docUrl, side!.url)
      .replaceAll("127.0.0.1:2072", `127.0.0.1:${side!.binaryPort}`),
  );
  const command = runtime === "bun" ? [bunBin, file] : [
    denoBin,
    "run",
    "--allow-net=127.0.0.1",
    "--allow-env=KAHUNA_TOKEN",
    "--no-prompt",
    "--no-config",
    file,
  ];
  const token = readFileSync(join(workDir, "deployer.token"), "utf8").trim();
  const result = await runCommand(["env", `KAHUNA_TOKEN=${token}`, ...command]);
  expect(result.err).toBe("");
  expect(result.status).toBe(0);
  return result.out.join("\n");
}

test("the page has its token examples: console, TypeScript, the file and a start error", () => {
  const blocks = codeBlocks(page);
  expect(parseConsoleBlocks(page).length).toBeGreaterThanOrEqual(5);
  expect(blocks.filter((block) => block.language === "ts")).toHaveLength(1);
  expect(blocks.filter((block) => block.language === "json")).toHaveLength(1);
});

test("every example of docs/security.md's token sections, in order", async () => {
  const blocks = codeBlocks(page);
  const consoles = parseConsoleBlocks(page);
  let consoleIndex = 0;
  const printed = new Set<string>();
  for (let index = 0; index < blocks.length; index++) {
    const block = blocks[index]!;
    if (block.language === "console") {
      const { steps } = consoles[consoleIndex++]!;
      for (const step of steps) {
        const actual = await runStep(step.command);
        for (const line of actual) printed.add(line);
        expect({ line: block.line, command: step.command, output: actual }).toEqual({
          line: block.line,
          command: step.command,
          output: step.output,
        });
      }
      // The first block makes auth.json: the nodes the next ones talk to read it.
      if (block.code.includes("kahuna auth add")) await servers();
    } else if (block.language === "ts") {
      const expected = blocks[index + 1]!;
      expect(expected.language).toBe("text");
      for (const runtime of ["bun", "deno"] as const) {
        expect({ runtime, out: await runTs(block.code, runtime) }).toEqual({
          runtime,
          out: expected.code,
        });
      }
    } else if (block.language === "json") {
      const parsed = parseAuthFile(block.code);
      expect(parsed).toMatchObject({ version: 1, clients: [{ name: "deployer" }] });
      if ("error" in parsed) throw new Error(parsed.error);
      // The error line shown after it: that file with a second entry whose read is [7].
      const bad = JSON.parse(block.code);
      bad.clients.push({ name: "dashboard", digest: "1".repeat(64), read: [7] });
      writeFileSync(join(workDir, "bad-auth.json"), JSON.stringify(bad));
      const result = await runCommand([
        bunBin,
        mainTs,
        "serve",
        "--auth-file",
        join(workDir, "bad-auth.json"),
        "--data-dir",
        join(workDir, "never"),
      ]);
      const shown = blocks[index + 1]!;
      expect(shown.language).toBe("text");
      expect(result.status).toBe(1);
      expect(result.err.trim().replace(join(workDir, "bad-auth.json"), "auth.json")).toBe(
        shown.code,
      );
    }
  }
  expect(consoleIndex).toBe(consoles.length);
  // docs/cli.md shows two of these lines in a ```text block: they are what the examples printed.
  const cliLines = codeBlocks(readFileSync(join(repoRoot, "docs/cli.md"), "utf8"))
    .filter((block) => block.language === "text")
    .flatMap((block) => block.code.split("\n"))
    .filter((line) => /^kahuna: 40[13]: /.test(line));
  expect(cliLines).toHaveLength(2);
  for (const line of cliLines) {
    expect({ line, printed: printed.has(line) }).toEqual({ line, printed: true });
  }
}, 120_000);

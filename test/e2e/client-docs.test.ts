/**
 * Every example in docs/client.md, docs/recipes.md and the README runs, as written, against a
 * real server: each ```ts block
 * under Bun and under Deno (each runtime with a fresh server of its own, so fencing tokens
 * match the page), the ```js block under Node with the built dist/kahuna-client/index.js. The
 * ```text block that follows an example is its exact expected output. Two substitutions:
 * `from "kahuna-client"` becomes the real module path (the sources for Bun and Deno, the built
 * package for Node), and
 * http://127.0.0.1:2070 the test server's address.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunBin, denoBin, repoRoot, startServer, tempDir } from "../helpers/server.ts";
import type { ServerProcess } from "../helpers/server.ts";
import { codeBlocks } from "./client-fixtures/doc-blocks.ts";

type Example = {
  language: "ts" | "js";
  code: string;
  expected: string;
  heading: string;
  line: number;
  page: string;
};

const docUrl = "http://127.0.0.1:2070";
const sourceModule = join(repoRoot, "src/client/index.ts");
const builtModule = join(repoRoot, "dist/kahuna-client/index.js");

function examples(): Example[] {
  const blocks = ["docs/client.md", "README.md", "docs/recipes.md"].flatMap((page) =>
    codeBlocks(readFileSync(join(repoRoot, page), "utf8")).map((block) => ({ ...block, page }))
  );
  const found: Example[] = [];
  blocks.forEach((block, index) => {
    if (block.language !== "ts" && block.language !== "js") return;
    const next = blocks[index + 1];
    const expected = next?.language === "text" ? next.code : "";
    found.push({
      language: block.language,
      code: block.code,
      expected,
      heading: block.heading,
      line: block.line,
      page: block.page,
    });
  });
  return found;
}

const all = examples();
const servers: Record<"bun" | "deno", ServerProcess | undefined> = {
  bun: undefined,
  deno: undefined,
};
let workDir: string;

beforeAll(async () => {
  workDir = tempDir("kahuna-client-docs-");
  const [bun, deno] = await Promise.all([startServer(), startServer()]);
  servers.bun = bun;
  servers.deno = deno;
  const build = Bun.spawnSync([bunBin, join(repoRoot, "compile/build-client.ts")], {
    cwd: repoRoot,
  });
  if (build.exitCode !== 0) throw new Error(`client build failed: ${build.stderr.toString()}`);
}, 60_000);

afterAll(async () => {
  await Promise.all([servers.bun?.cleanup(), servers.deno?.cleanup()]);
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

async function runExample(example: Example, runtime: "bun" | "deno" | "node") {
  const server = runtime === "deno" ? servers.deno! : servers.bun!;
  const code = example.code
    .replaceAll(
      'from "kahuna-client"',
      `from ${JSON.stringify(runtime === "node" ? builtModule : sourceModule)}`,
    )
    .replaceAll(docUrl, server.url)
    .replaceAll("127.0.0.1:2072", `127.0.0.1:${server.binaryPort}`);
  const file = join(
    workDir,
    `example-${example.line}-${runtime}.${example.language === "ts" ? "ts" : "mjs"}`,
  );
  writeFileSync(file, code);
  const command = runtime === "bun"
    ? [bunBin, file]
    : runtime === "deno"
    ? [denoBin, "run", "--allow-net=127.0.0.1", "--no-prompt", "--no-config", file]
    : ["node", file];
  const child = Bun.spawn(command, {
    cwd: workDir,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 30_000,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, status] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { status, stdout: stdout.trimEnd(), stderr };
}

test("docs/client.md has examples in TypeScript and for Node", () => {
  expect(all.filter((example) => example.language === "ts").length).toBeGreaterThanOrEqual(6);
  expect(all.filter((example) => example.language === "js").length).toBe(1);
});

describe("client docs and recipes", () => {
  for (const example of all) {
    // Every TypeScript example runs under Bun and as a bare Deno script (--no-config, as a
    // user's would be): neither transport needs a package.
    const runtimes = example.language === "ts" ? (["bun", "deno"] as const) : (["node"] as const);
    for (const runtime of runtimes) {
      test(
        `${example.page}: example under "${example.heading}" (line ${example.line}) under ${runtime}`,
        async () => {
          const result = await runExample(example, runtime);
          expect({ stdout: result.stdout, stderr: result.stderr, status: result.status }).toEqual({
            stdout: example.expected.replaceAll(
              docUrl,
              (runtime === "deno" ? servers.deno! : servers.bun!).url,
            ),
            stderr: "",
            status: 0,
          });
        },
        60_000,
      );
    }
  }
});

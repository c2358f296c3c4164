/**
 * The installable client package, as a user gets it: compile/build-client.ts --pack builds
 * the tarball with `npm pack`; a fresh temporary project installs it with npm, offline (the
 * package has no dependencies); then, against a real kahuna server, the package README's
 * JavaScript example runs under Node, Bun and Deno, and a TypeScript program type-checks
 * with the repository's tsc under `moduleResolution: nodenext` (no @types/node, libCheck on)
 * and runs under Node.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunBin, denoBin, repoRoot, startServer, tempDir } from "../helpers/server.ts";
import type { ServerProcess } from "../helpers/server.ts";
import { codeBlocks } from "./client-fixtures/doc-blocks.ts";

const tscBin = join(repoRoot, "node_modules/.bin/tsc");
const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  version: string;
}).version;
const readme = readFileSync(join(repoRoot, "compile/client-package/README.md"), "utf8");

let server: ServerProcess;
let work: string;
let project: string;
let tarball: string;

async function run(command: string[], cwd: string, env: Record<string, string> = {}) {
  const child = Bun.spawn(command, {
    cwd,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", ...env },
    timeout: 60_000,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, status] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { status, stdout: stdout.trimEnd(), stderr };
}

beforeAll(async () => {
  work = tempDir("kahuna-client-package-");
  const [started, build] = await Promise.all([
    startServer(),
    run(
      [bunBin, "compile/build-client.ts", "--outdir", join(work, "kahuna-client"), "--pack"],
      repoRoot,
    ),
  ]);
  server = started;
  if (build.status !== 0) throw new Error(`build failed: ${build.stderr}`);
  tarball = join(work, `kahuna-client-${version}.tgz`);
  project = join(work, "project");
  mkdirSync(project);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "uses-kahuna", private: true, type: "module" }),
  );
  // A cache of its own: nothing comes from the user's cache or the network.
  const install = await run(
    [
      "npm",
      "install",
      tarball,
      "--offline",
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
      "--cache",
      join(work, "npm-cache"),
    ],
    project,
  );
  if (install.status !== 0) throw new Error(`npm install failed: ${install.stderr}`);
}, 60_000);

afterAll(async () => {
  await server?.cleanup();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

test("the tarball holds the module, its types, README, LICENSE and CHANGELOG, and no dependency", async () => {
  const listing = await run(["tar", "tzf", tarball], work);
  const files = listing.stdout.split("\n").sort();
  for (const file of ["index.js", "types/client/index.d.ts", "README.md", "LICENSE"]) {
    expect(files).toContain(`package/${file}`);
  }
  expect(files).toContain("package/CHANGELOG.md");
  expect(files.every((file) => /^package\/(types\/.*\.d\.ts|[A-Za-z.]+)$/.test(file))).toBe(true);

  const installed = join(project, "node_modules/kahuna-client");
  const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
  expect(manifest.name).toBe("kahuna-client");
  expect(manifest.version).toBe(version);
  expect(manifest.license).toBe("MIT");
  expect(manifest.dependencies).toBeUndefined();
  expect(manifest.exports["."]).toEqual({
    types: "./types/client/index.d.ts",
    default: "./index.js",
  });
  const bundle = readFileSync(join(installed, "index.js"), "utf8");
  const imports = [...bundle.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
  expect(imports).toEqual(["node:net", "node:tls"]);
  expect(bundle).not.toContain("hono");
  expect(readFileSync(join(installed, "LICENSE"), "utf8")).toStartWith("MIT License");
  // Only the project's own package: npm brought nothing else.
  const lock = JSON.parse(readFileSync(join(project, "package-lock.json"), "utf8"));
  expect(Object.keys(lock.packages).sort()).toEqual(["", "node_modules/kahuna-client"]);
});

test("the install lines of the package README and docs/client.md name this version's tarball", () => {
  const guide = readFileSync(join(repoRoot, "docs/client.md"), "utf8");
  for (const page of [readme, guide]) {
    const named = [...page.matchAll(/kahuna-client-(\d+\.\d+\.\d+)\.tgz/g)].map((m) => m[1]);
    expect(named.length).toBeGreaterThanOrEqual(1);
    expect(new Set(named)).toEqual(new Set([version]));
  }
});

test("the README's JavaScript example runs as shown under Node, Bun and Deno", async () => {
  const blocks = codeBlocks(readme);
  const index = blocks.findIndex((block) => block.language === "js");
  expect(index).toBeGreaterThanOrEqual(0);
  const expected = blocks[index + 1]!;
  expect(expected.language).toBe("text");
  const program = blocks[index]!.code.replaceAll("http://127.0.0.1:2070", server.url);
  const commands = {
    node: ["node", "readme.mjs"],
    bun: [bunBin, "readme.mjs"],
    // A project with package.json and node_modules: Deno resolves the package from there.
    deno: [denoBin, "run", "--allow-net=127.0.0.1", "--no-prompt", "readme.mjs"],
  };
  const results: Record<string, unknown> = {};
  for (const [runtime, command] of Object.entries(commands)) {
    // Each run locks its own resource, so each is the first grant: token 0, as shown.
    const file = program.replaceAll('"reports/daily"', `"reports/daily-${runtime}"`);
    writeFileSync(join(project, "readme.mjs"), file);
    const result = await run(command, project);
    results[runtime] = { stdout: result.stdout, status: result.status, stderr: result.stderr };
  }
  const shown = { stdout: expected.code, status: 0, stderr: "" };
  expect(results).toEqual({ node: shown, bun: shown, deno: shown });
}, 60_000);

const typescriptProgram = `import { Durability, KahunaClient, KahunaError } from "kahuna-client";
import type { ClientOptions, LockInfo, LockResult } from "kahuna-client";

const url = process.argv[2]!;
const options: ClientOptions = { servers: [url], timeoutMs: 2000 };
const client = new KahunaClient(options);
const resource = \`typescript-\${Date.now()}\`;
const result: LockResult = await client.tryLock(resource, "ts-owner", 10_000);
const info: LockInfo | null = await client.get(resource);
const lock = await client.getOrCreateLock(resource, {
  expiresMs: 5000,
  durability: Durability.Persistent,
});
// Never called; it must not type-check: the declarations are real types, not any.
// @ts-expect-error expiresMs is a number
const typeMistake = () => client.tryLock(resource, "ts-owner", "ten");
void typeMistake;
try {
  await client.tryLock(resource, "ts-owner", 0);
} catch (error) {
  if (!(error instanceof KahunaError)) throw error;
  console.log(\`error kind \${error.kind}\`);
}
console.log(\`locked \${result.locked} token \${result.fencingToken} owner \${info?.owner}\`);
console.log(\`second lock acquired \${lock.isAcquired}\`);
console.log(\`unlocked \${await client.unlock(resource, "ts-owner")}\`);
`;

test("a TypeScript program type-checks with nodenext resolution and runs under Node", async () => {
  const dir = join(project, "ts");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "main.ts"), typescriptProgram);
  // Node's process without @types/node: the one global the program uses beyond the package's.
  writeFileSync(
    join(dir, "globals.d.ts"),
    "declare const process: { argv: string[] };\n",
  );
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "nodenext",
        moduleResolution: "nodenext",
        lib: ["ES2022", "ESNext.Disposable", "DOM"],
        types: [],
        strict: true,
        skipLibCheck: false,
        outDir: "out",
      },
      files: ["main.ts", "globals.d.ts"],
    }),
  );
  const check = await run([tscBin, "-p", "."], dir);
  expect({ status: check.status, output: check.stdout + check.stderr }).toEqual({
    status: 0,
    output: "",
  });
  const ran = await run(["node", "out/main.js", server.url], dir);
  expect(ran).toEqual({
    status: 0,
    stdout: [
      "error kind invalidInput",
      "locked true token 0 owner ts-owner",
      // The same resource, another (random) owner: busy while ts-owner holds it.
      "second lock acquired false",
      "unlocked true",
    ].join("\n"),
    stderr: "",
  });
}, 60_000);

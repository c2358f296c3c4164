/**
 * Issue 2 §7: `npm run compile` builds one executable; it serves, and the same file is the
 * client (`kahuna lock|get-lock|extend-lock|unlock`) and, under the name `kahuna-cli`, the
 * seed's CLI.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { bunBin, repoRoot, type ServerProcess, startServer, tempDir } from "../helpers/server.ts";
import { dashboardPage } from "../../src/http/dashboard/dashboard-page.ts";
import { runRestSmoke } from "./rest-smoke.ts";

let outDir = "";
let binary = "";
let server: ServerProcess | undefined;

beforeAll(async () => {
  outDir = tempDir("kahuna-bin-");
  binary = join(outDir, "kahuna");
  const build = Bun.spawnSync([bunBin, "compile/build.ts", "--outfile", binary], { cwd: repoRoot });
  if (build.exitCode !== 0) throw new Error(`compile failed: ${build.stderr.toString()}`);
  server = await startServer({ runtime: { binary } });
}, 120_000);

afterAll(async () => {
  await server?.cleanup();
  rmSync(outDir, { recursive: true, force: true });
});

function run(name: "kahuna" | "kahuna-cli", args: string[]) {
  const result = Bun.spawnSync([join(outDir, name), ...args, "--server", server!.url]);
  return {
    status: result.exitCode,
    out: result.stdout.toString().trim(),
    err: result.stderr.toString(),
  };
}

test("the build writes the binary and the kahuna-cli link", () => {
  expect(existsSync(binary)).toBe(true);
  expect(existsSync(join(outDir, "kahuna-cli"))).toBe(true);
});

test("the binary serves the REST contract", async () => {
  await runRestSmoke(server!.url);
});

test("the binary serves the dashboard at /ui, the same page as the checkout", async () => {
  const response = await fetch(`${server!.url}/ui`);
  expect(response.headers.get("content-type")).toStartWith("text/html");
  expect(await response.text()).toBe(dashboardPage());
});

test("the same binary is the client: lock, get-lock, extend-lock, unlock", () => {
  const locked = run("kahuna", ["lock", "bin/r1", "10000"]);
  expect(locked.status).toBe(0);
  const match = /^f(\d+) acquired ([0-9a-f]{32})$/.exec(locked.out);
  expect(match).not.toBeNull();
  const [, token, owner] = match!;
  expect(run("kahuna", ["get-lock", "bin/r1"])).toMatchObject({
    status: 0,
    out: `f${token} ${owner}`,
  });
  expect(run("kahuna", ["extend-lock", "bin/r1", "20000", "--owner", owner!]))
    .toMatchObject({ status: 0, out: `f${token} extended ${owner}` });
  expect(run("kahuna", ["lock", "bin/r1", "10000"])).toMatchObject({
    status: 1,
    out: "f0 not acquired",
  });
  expect(run("kahuna", ["unlock", "bin/r1", "--owner", owner!])).toMatchObject({
    status: 0,
    out: `f${token} unlocked`,
  });
});

test("invoked as kahuna-cli it takes the seed's flags", () => {
  const locked = run("kahuna-cli", ["--lock", "bin/r2", "--expires", "10000"]);
  expect(locked.status).toBe(0);
  const owner = /^f\d+ acquired ([0-9a-f]{32})$/.exec(locked.out)?.[1];
  expect(owner).toBeDefined();
  expect(run("kahuna-cli", ["--get-lock", "bin/r2"]).out).toEndWith(owner!);
  expect(run("kahuna-cli", ["--unlock-lock", "bin/r2", "--owner", owner!]).status).toBe(0);
});

test("--version names package.json's version and the git revision the binary was built from", () => {
  const { version } = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));
  const git = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: repoRoot });
  const revision = git.exitCode === 0 ? git.stdout.toString().trim() : "unknown";
  const line = `kahuna ${version} (revision ${revision}, bun ${Bun.version})`;
  for (const name of ["kahuna", "kahuna-cli"]) {
    const result = Bun.spawnSync([join(outDir, name), "--version"]);
    expect({
      name,
      status: result.exitCode,
      out: result.stdout.toString(),
      err: result.stderr.toString(),
    })
      .toEqual({ name, status: 0, out: `${line}\n`, err: "" });
  }
});

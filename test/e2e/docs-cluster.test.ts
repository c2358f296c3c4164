/**
 * The cluster example of docs/cluster.md runs as written: the three `kahuna serve` commands
 * of its first ```sh block start a cluster (ports and data directories moved to free ones, so
 * the test can run beside others), every node becomes healthy, and a lock taken through one
 * node is seen through the others.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { bunBin, freePort, mainTs, repoRoot, tempDir, waitHealthy } from "../helpers/server.ts";
import { codeBlocks } from "./client-fixtures/doc-blocks.ts";

const children: Bun.Subprocess[] = [];
const workDir = tempDir("kahuna-docs-cluster-");
afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(children.map((child) => child.exited));
  rmSync(workDir, { recursive: true, force: true });
});

test("docs/cluster.md's three serve commands start a working cluster", async () => {
  const block = codeBlocks(readFileSync(join(repoRoot, "docs/cluster.md"), "utf8"))
    .find((b) => b.language === "sh" && b.code.includes("kahuna serve"));
  expect(block).toBeDefined();
  const commands = block!.code.replace(/\\\n\s*/g, "").split("\n").filter((l) =>
    l.startsWith("kahuna serve")
  );
  expect(commands.length).toBe(3);
  // Every documented port gets a free one, consistently across the three commands.
  const ports = new Map<string, string>();
  for (const port of new Set(block!.code.match(/\b2[0-9]7[0-9]\b/g))) {
    ports.set(port, String(await freePort()));
  }
  const urls: string[] = [];
  for (const command of commands) {
    const args = command.replace(/^kahuna /, "").replace(/\b2[0-9]7[0-9]\b/g, (p) => ports.get(p)!)
      .replace(/data\/(n\d)/, (_, n) => join(workDir, n)).split(/\s+/);
    urls.push(`http://127.0.0.1:${args[args.indexOf("--http-port") + 1]}`);
    children.push(
      Bun.spawn([bunBin, mainTs, ...args, "--quiet"], {
        cwd: repoRoot,
        stdout: "ignore",
        stderr: "ignore",
      }),
    );
  }
  await Promise.all(urls.map((url) => waitHealthy(url, 30_000)));
  const lock = await fetch(`${urls[0]}/v1/locks/try-lock`, {
    method: "POST",
    body: JSON.stringify({ resource: "docs/cluster", owner: "o", expiresMs: 60_000 }),
  });
  expect(await lock.json()).toEqual({ type: 0, fencingToken: 0 });
  for (const url of urls) {
    const info = await fetch(`${url}/v1/locks/get-info`, {
      method: "POST",
      body: '{"resource":"docs/cluster"}',
    });
    expect(await info.json()).toMatchObject({ type: 4, owner: "o", fencingToken: 0 });
  }
}, 60_000);

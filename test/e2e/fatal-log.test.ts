/**
 * A fatal error is logged with its source location, from the compiled executable too (it
 * carries source maps): a real storage failure, a file-size limit (ulimit -f, SIGXFSZ ignored
 * so the write fails with EFBIG instead of killing the process) reached by a log segment while
 * the node writes locks, stops the node with exit status 70 and one entry naming the error and the .ts line
 * it was thrown from, as JSON lines with --log-format json and as readable text by default.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { jsonBlocks, shapeOfEntry } from "../helpers/doc-json.ts";
import {
  bunBin,
  commandFor,
  freePort,
  repoRoot,
  type Runtime,
  tempDir,
  waitHealthy,
} from "../helpers/server.ts";

const root = tempDir("kahuna-fatal-");
const binary = join(root, "kahuna");
beforeAll(() => {
  const build = Bun.spawnSync([bunBin, "compile/build.ts", "--outfile", binary], { cwd: repoRoot });
  if (build.exitCode !== 0) throw new Error(`compile failed: ${build.stderr.toString()}`);
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Starts a node under a 100 KiB file-size limit, writes locks until it stops; its stderr. */
async function runUntilFatal(runtime: Runtime, extraArgs: string[]) {
  const [httpPort, peerPort, binaryPort] = [await freePort(), await freePort(), await freePort()];
  const dataDir = tempDir("kahuna-fatal-data-");
  const serve = commandFor(runtime, [
    "serve",
    ...["--http-port", String(httpPort), "--peer-port", String(peerPort)],
    ...["--binary-port", String(binaryPort), "--data-dir", dataDir, ...extraArgs],
  ]);
  const child = Bun.spawn([
    "bash",
    "-c",
    'trap "" XFSZ; ulimit -f 100; exec "$@"',
    "bash",
    ...serve,
  ], {
    cwd: repoRoot,
    stdout: "ignore",
    stderr: "pipe",
  });
  const stderr = new Response(child.stderr).text();
  const url = `http://127.0.0.1:${httpPort}`;
  try {
    await waitHealthy(url, 20_000);
    let sent = 0;
    for (; sent < 2_000; sent++) {
      const answered = await fetch(`${url}/v1/locks/try-lock`, {
        method: "POST",
        body: JSON.stringify({ resource: `fatal/${sent}`, owner: "o1", expiresMs: 60_000 }),
        signal: AbortSignal.timeout(5_000),
      }).then(() => true, () => false);
      if (!answered) break;
    }
    expect(sent).toBeLessThan(2_000);
    return { status: await child.exited, stderr: await stderr, dataDir };
  } finally {
    child.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  }
}

test(
  "the compiled executable logs a fatal storage error as JSON with its .ts source line",
  async () => {
    const { status, stderr } = await runUntilFatal({ binary }, ["--log-format", "json"]);
    expect(status).toBe(70);
    const entries = stderr.trim().split("\n").map((line) =>
      JSON.parse(line) as Record<string, unknown>
    );
    const fatal = entries.filter((entry) => entry["event"] === "fatal");
    expect(fatal.length).toBe(1);
    expect(fatal[0]).toMatchObject({ level: "error", node: "1" });
    expect(String(fatal[0]!["error"])).toMatch(/^FileSystemError: cannot append .*\.log.*EFBIG/);
    // The file port's line, through the source map: not an offset in a bundle.
    expect(String(fatal[0]!["source"])).toMatch(/^src\/adapters\/node-file-system\.ts:\d+:\d+$/);
    expect(String(fatal[0]!["stack"])).toMatch(/src\/host\/node-host\.ts:\d+:\d+/);
    expect(typeof fatal[0]!["time"]).toBe("string");
    // docs/operations.md shows this entry: the same keys, in the same order.
    const shown = jsonBlocks("docs/operations.md").find((e) => e["event"] === "fatal")!;
    expect(shapeOfEntry(shown, fatal[0]!)).toBeUndefined();
  },
  60_000,
);

test(
  "from a checkout, the fatal entry is readable text by default, the stack below it",
  async () => {
    const { status, stderr, dataDir } = await runUntilFatal("bun", []);
    expect(status).toBe(70);
    const lines = stderr.trim().split("\n");
    const at = lines.findIndex((line) => line.includes("fatal error"));
    expect(at).toBeGreaterThanOrEqual(0);
    expect(lines[at]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ERROR \[node 1\] fatal error: .* event=fatal .*source=\S*src\/adapters\/node-file-system\.ts:\d+:\d+/,
    );
    expect(lines.slice(at + 1).some((line) => /^ {4}at .*node-host\.ts:\d+:\d+/.test(line))).toBe(
      true,
    );
    // docs/operations.md shows such an entry, in the same form: the same words, but its own
    // time, data directory (/var/lib/kahuna), lines and byte counts.
    const page = readFileSync(join(repoRoot, "docs/operations.md"), "utf8");
    const example = /^```text\n(.*ERROR \[node 1\] fatal error.*)$/m.exec(page)?.[1] ?? "";
    const form = (line: string, dir: string) =>
      line.replace(/^\S+Z/, "TIME").replaceAll(dir, "DIR").replace(/source=\S*src\//, "source=src/")
        .replace(/\d+/g, "N");
    expect(form(example, "/var/lib/kahuna")).toBe(form(lines[at]!, dataDir));
  },
  60_000,
);

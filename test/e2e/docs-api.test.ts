/**
 * Every curl example in docs/api.md, run in order against a fresh real server, with its
 * answer checked against the response the page shows right after it. So the page cannot drift
 * from the server.
 *
 * How a shown response is compared: a ```json block must match the answer's shape (the same
 * keys, the same JSON types, recursively; arrays by their first element) and these values
 * exactly: type, owner, fencingToken, ok, and error (an error shown ending in "…" is a
 * prefix). A ```text block: each of its lines must be a line of the answer.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, startServer } from "../helpers/server.ts";

const docPath = join(repoRoot, "docs/api.md");
const docHost = "http://localhost:2070";
const exactKeys = new Set(["type", "owner", "fencingToken", "ok", "error"]);
const commandTimeoutMs = 10_000;

type Block = { readonly lang: string; readonly text: string; readonly line: number };
type Example = {
  readonly command: string;
  readonly shown: Block | undefined;
  readonly line: number;
};

function fencedBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i] ?? "");
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i] ?? "");
    blocks.push({ lang: open[1] ?? "", text: body.join("\n"), line: start + 1 });
  }
  return blocks;
}

function examples(markdown: string): Example[] {
  const blocks = fencedBlocks(markdown);
  const found: Example[] = [];
  blocks.forEach((block, index) => {
    if (block.lang !== "sh" || !block.text.includes("curl")) return;
    const next = blocks[index + 1];
    const shown = next !== undefined && (next.lang === "json" || next.lang === "text")
      ? next
      : undefined;
    found.push({ command: block.text, shown, line: block.line });
  });
  return found;
}

/** Returns the first difference between a shown JSON value and an actual one, if any. */
function shapeDifference(shown: unknown, actual: unknown, where = "$"): string | undefined {
  if (shown === null || actual === null) {
    return shown === actual
      ? undefined
      : `${where}: shown ${JSON.stringify(shown)}, got ${JSON.stringify(actual)}`;
  }
  if (Array.isArray(shown)) {
    if (!Array.isArray(actual)) return `${where}: shown an array, got ${JSON.stringify(actual)}`;
    if (shown.length === 0 || actual.length === 0) return undefined;
    return shapeDifference(shown[0], actual[0], `${where}[0]`);
  }
  if (typeof shown === "object") {
    if (typeof actual !== "object" || Array.isArray(actual)) return `${where}: shown an object`;
    const shownKeys = Object.keys(shown).sort().join(",");
    const actualKeys = Object.keys(actual).sort().join(",");
    if (shownKeys !== actualKeys) return `${where}: shown keys ${shownKeys}, got ${actualKeys}`;
    for (const [key, value] of Object.entries(shown)) {
      const other = (actual as Record<string, unknown>)[key];
      const path = `${where}.${key}`;
      if (exactKeys.has(key)) {
        const difference = exactDifference(key, value, other, path);
        if (difference !== undefined) return difference;
      } else {
        const difference = shapeDifference(value, other, path);
        if (difference !== undefined) return difference;
      }
    }
    return undefined;
  }
  return typeof shown === typeof actual
    ? undefined
    : `${where}: shown a ${typeof shown}, got ${JSON.stringify(actual)}`;
}

function exactDifference(key: string, shown: unknown, actual: unknown, path: string) {
  if (key === "error" && typeof shown === "string" && shown.endsWith("…")) {
    const prefix = shown.slice(0, -1);
    return typeof actual === "string" && actual.startsWith(prefix)
      ? undefined
      : `${path}: shown to start ${JSON.stringify(prefix)}, got ${JSON.stringify(actual)}`;
  }
  return JSON.stringify(shown) === JSON.stringify(actual)
    ? undefined
    : `${path}: shown ${JSON.stringify(shown)}, got ${JSON.stringify(actual)}`;
}

async function run(command: string): Promise<string> {
  const child = Bun.spawn(["sh", "-c", command], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill("SIGKILL"), commandTimeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`exit ${code}: ${stderr}`);
  return stdout;
}

test("shape comparison catches a changed key, type or exact value", () => {
  expect(shapeDifference({ type: 0, fencingToken: 0 }, { type: 0, fencingToken: 0 }))
    .toBeUndefined();
  expect(shapeDifference({ type: 4, expiresMs: 1 }, { type: 4, expiresMs: 99 })).toBeUndefined();
  expect(shapeDifference({ type: 0 }, { type: 1 })).toContain("$.type");
  expect(shapeDifference({ type: 0 }, { type: 0, extra: 1 })).toContain("keys");
  expect(shapeDifference({ expires: 1 }, { expires: "1" })).toContain("$.expires");
  expect(shapeDifference({ owner: null }, { owner: "o" })).toContain("$.owner");
  expect(shapeDifference({ a: [{ b: 1 }] }, { a: [{ b: 2 }, { c: 3 }] })).toBeUndefined();
  expect(shapeDifference({ a: [{ b: 1 }] }, { a: [{ c: 2 }] })).toContain("$.a[0]");
  expect(shapeDifference({ error: "bad: …" }, { error: "bad: detail" })).toBeUndefined();
  expect(shapeDifference({ error: "bad: …" }, { error: "worse" })).toContain("$.error");
});

test("docs/api.md has runnable curl examples for every endpoint, each with its response", () => {
  const found = examples(readFileSync(docPath, "utf8"));
  const paths = [
    "/v1/locks/try-lock",
    "/v1/locks/try-unlock",
    "/v1/locks/try-extend",
    "/v1/locks/get-info",
    "/v1/health",
    "/v1/cluster",
    "/metrics",
    "/v1/openapi.json",
  ];
  for (const path of paths) {
    expect({ path, shown: found.some((example) => example.command.includes(`${docHost}${path}`)) })
      .toEqual({ path, shown: true });
  }
  for (const example of found) {
    expect({ line: example.line, hasResponse: example.shown !== undefined })
      .toEqual({ line: example.line, hasResponse: true });
    expect(example.command).toContain(docHost);
  }
});

test("every curl example in docs/api.md answers what the page shows", async () => {
  const found = examples(readFileSync(docPath, "utf8"));
  expect(found.length).toBeGreaterThanOrEqual(15);
  const server = await startServer();
  const problems: string[] = [];
  try {
    for (const example of found) {
      const command = example.command.replaceAll(docHost, server.url);
      const output = await run(command);
      const shown = example.shown;
      if (shown === undefined) continue;
      if (shown.lang === "text") {
        const lines = new Set(output.split("\n"));
        for (const line of shown.text.split("\n")) {
          if (!lines.has(line)) {
            problems.push(`docs/api.md:${example.line}: no line ${JSON.stringify(line)}`);
          }
        }
        continue;
      }
      let actual: unknown;
      try {
        actual = JSON.parse(output);
      } catch {
        problems.push(`docs/api.md:${example.line}: not JSON: ${output.slice(0, 200)}`);
        continue;
      }
      const difference = shapeDifference(JSON.parse(shown.text), actual);
      if (difference !== undefined) {
        problems.push(
          `docs/api.md:${example.line}: ${difference} (answer ${output.slice(0, 300)})`,
        );
      }
    }
  } finally {
    await server.cleanup();
  }
  expect(problems).toEqual([]);
}, 60_000);

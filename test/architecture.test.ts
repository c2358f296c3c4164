/**
 * The core is pure (docs/architecture.md): src/raft, src/multiraft, src/locks and
 * src/codec use no clock, timer, randomness, runtime global or await, and import only core.
 * This test reads their sources and fails on a leak, naming the file, line and rule.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dir, "..");
const coreDirs = ["src/raft", "src/multiraft", "src/locks", "src/codec", "src/storage"];

const rules: { name: string; pattern: RegExp }[] = [
  { name: "clock (Date)", pattern: /\bDate\s*[.(]|\bnew\s+Date\b/ },
  { name: "clock (performance)", pattern: /\bperformance\s*\./ },
  { name: "timer", pattern: /\b(setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(/ },
  { name: "randomness", pattern: /\bMath\.random\b|\bcrypto\.(getRandomValues|randomUUID)\b/ },
  { name: "runtime global", pattern: /\b(Bun|Deno|process)\s*\./ },
  { name: "await/async", pattern: /\bawait\b|\basync\b/ },
  { name: "runtime import", pattern: /from\s+["'](node:|bun:|npm:|jsr:)/ },
  {
    name: "import from outside the core",
    // The ports the core declares and drives: time, randomness, and the storage the log engine
    // writes through (its adapters are the node:fs and in-memory file systems).
    pattern:
      /from\s+["']\.\.\/(host|adapters|runtime|http|net|cli|client|ports\/(?!clock|random|file-system|log-store))/,
  },
];

/** Lines of `source` that break a rule, as "rule: line". Comments and strings are skipped. */
export function violations(source: string): string[] {
  const found: string[] = [];
  const lines = source.split("\n");
  lines.forEach((line, i) => {
    // Import lines keep their module strings (the import rules read them); elsewhere strings
    // and comments are blanked so that prose about Date or await does not count.
    const isImport = /^\s*(import|export)\b|^\s*}\s*from\b/.test(line);
    let code = /^\s*(\*|\/\*)/.test(line) ? "" : line.replace(/\/\/.*$/, "");
    if (!isImport) {
      code = code.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`/g, '""');
    }
    for (const rule of rules) {
      if (rule.pattern.test(code)) found.push(`${rule.name} at line ${i + 1}: ${line.trim()}`);
    }
  });
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith(".ts") && !d.name.endsWith(".test.ts"))
    .map((d) => join(d.parentPath, d.name));
}

test("core modules use no clock, timer, randomness, runtime global, await or outside import", () => {
  const leaks: string[] = [];
  for (const dir of coreDirs) {
    for (const file of sourceFiles(join(root, dir))) {
      for (const v of violations(readFileSync(file, "utf8"))) {
        leaks.push(`${relative(root, file)}: ${v}`);
      }
    }
  }
  expect(leaks).toEqual([]);
});

test("the purity check catches each kind of leak", () => {
  expect(violations("const t = Date.now();")).toHaveLength(1);
  expect(violations("const t = performance.now();")).toHaveLength(1);
  expect(violations("setTimeout(() => {}, 1);")).toHaveLength(1);
  expect(violations("const r = Math.random();")).toHaveLength(1);
  expect(violations("Bun.write('x', 'y');")).toHaveLength(1);
  expect(violations("if (process.env.X) {}")).toHaveLength(1);
  expect(violations("async function f() { await g(); }")).toHaveLength(1);
  expect(violations('import { x } from "node:fs";')).toHaveLength(1);
  expect(violations('import { NodeHost } from "../host/node-host.ts";')).toHaveLength(1);
  expect(violations("// Date.now() in a comment is fine")).toEqual([]);
  expect(violations('const s = "await the answer";')).toEqual([]);
  expect(violations('import type { Clock } from "../ports/clock.ts";')).toEqual([]);
});

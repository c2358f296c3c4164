import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildInfo, revision, version, versionLine } from "./version.ts";

test("the version is package.json's, and build info names the runtime it runs on", () => {
  const packageJson = JSON.parse(readFileSync(join(import.meta.dir, "../package.json"), "utf8"));
  expect(version).toBe(packageJson.version);
  expect(version).toMatch(/^\d+\.\d+\.\d+$/);
  // Run from a checkout: only compile/build.ts defines the revision.
  expect(revision).toBe("unknown");
  expect(buildInfo()).toEqual({
    version,
    revision: "unknown",
    runtime: "bun",
    runtimeVersion: Bun.version,
  });
});

test("the version line reads as a person expects", () => {
  const info = {
    version: "1.2.3",
    revision: "abc",
    runtime: "deno",
    runtimeVersion: "2.0.0",
  } as const;
  expect(versionLine(info)).toBe("kahuna 1.2.3 (revision abc, deno 2.0.0)");
});

/**
 * What build this is: the version from package.json (the one place it is written), the git
 * revision the executable was compiled from, and the runtime it runs on. `kahuna --version`
 * prints it, the API document names the version, and a build-info metric can label itself
 * with it.
 *
 * The revision is known only in an executable built by compile/build.ts, which defines
 * KAHUNA_REVISION; run from a checkout it is "unknown".
 */
import packageJson from "../package.json" with { type: "json" };

declare const KAHUNA_REVISION: string | undefined;

export const version: string = packageJson.version;

export const revision: string = typeof KAHUNA_REVISION === "string" && KAHUNA_REVISION !== ""
  ? KAHUNA_REVISION
  : "unknown";

export type BuildInfo = {
  readonly version: string;
  readonly revision: string;
  readonly runtime: "bun" | "deno" | "node" | "unknown";
  readonly runtimeVersion: string;
};

/** The version, revision and runtime, e.g. for a `kahuna_build_info` gauge's labels. */
export function buildInfo(): BuildInfo {
  const global = globalThis as {
    Bun?: { version: string };
    Deno?: { version: { deno: string } };
    process?: { versions?: { node?: string } };
  };
  if (global.Bun !== undefined) {
    return { version, revision, runtime: "bun", runtimeVersion: global.Bun.version };
  }
  if (global.Deno !== undefined) {
    return { version, revision, runtime: "deno", runtimeVersion: global.Deno.version.deno };
  }
  const node = global.process?.versions?.node;
  if (node !== undefined) return { version, revision, runtime: "node", runtimeVersion: node };
  return { version, revision, runtime: "unknown", runtimeVersion: "unknown" };
}

/** One line for `--version`: "kahuna 0.2.0 (revision 1a2b3c4, bun 1.4.5)". */
export function versionLine(info: BuildInfo = buildInfo()): string {
  return `kahuna ${info.version} (revision ${info.revision}, ${info.runtime} ${info.runtimeVersion})`;
}

/**
 * Runs the kahuna executable (src/main.ts under Bun) as a user would, for the CLI tests:
 * arguments, environment, stdin, and what came out. Every run is bounded by a timeout.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bunBin, denoBin, mainTs, repoRoot } from "../../helpers/server.ts";

export type RunResult = {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
};

export type RunOptions = {
  readonly env?: Record<string, string>;
  readonly stdin?: string;
  /** "kahuna-cli" runs a script of that name, so the executable sees the seed's name. */
  readonly as?: "kahuna" | "kahuna-cli";
  readonly timeoutMs?: number;
  /** Run src/main.ts under Deno instead of Bun. */
  readonly deno?: boolean;
};

let kahunaCliScript: string | undefined;

/** A script named kahuna-cli.ts that runs src/main.ts (a symlink would be resolved away). */
export function kahunaCliPath(): string {
  if (kahunaCliScript === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "kahuna-cli-"));
    kahunaCliScript = join(dir, "kahuna-cli.ts");
    writeFileSync(kahunaCliScript, `import ${JSON.stringify(mainTs)};\n`);
  }
  return kahunaCliScript;
}

export function commandLine(args: readonly string[], as: "kahuna" | "kahuna-cli" = "kahuna") {
  return [bunBin, as === "kahuna-cli" ? kahunaCliPath() : mainTs, ...args];
}

export async function run(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const command = options.deno === true
    ? [
      denoBin,
      "run",
      "--allow-all",
      options.as === "kahuna-cli" ? kahunaCliPath() : mainTs,
      ...args,
    ]
    : commandLine(args, options.as);
  const child = Bun.spawn(command, {
    cwd: repoRoot,
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, KAHUNA_SERVER: "", ...options.env },
    timeout: options.timeoutMs ?? 30_000,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, status] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { status, stdout, stderr };
}

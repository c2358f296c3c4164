/**
 * Builds the single executable `dist/kahuna` with `bun build --compile` (docs/architecture.md), and
 * `dist/kahuna-cli`, a link to it: invoked under that name it is the seed's CLI.
 * Usage: bun compile/build.ts [--outfile dist/kahuna]
 */
import { existsSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

const root = resolve(import.meta.dir, "..");
const { values } = parseArgs({ options: { outfile: { type: "string", default: "dist/kahuna" } } });
const outfile = resolve(root, values.outfile!);
mkdirSync(dirname(outfile), { recursive: true });

// The git revision goes into the executable for `kahuna --version` and build info
// (src/version.ts); outside a git checkout it stays "unknown".
const git = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: root });
const revision = git.exitCode === 0 ? git.stdout.toString().trim() : "";

const started = performance.now();
const build = Bun.spawnSync(
  [
    process.execPath,
    "build",
    "--compile",
    "--minify-syntax",
    "--define",
    `KAHUNA_REVISION=${JSON.stringify(revision)}`,
    join(root, "src/main.ts"),
    "--outfile",
    outfile,
    // Source maps inside the executable: a fatal error's stack names src/…/*.ts lines, not
    // offsets in the bundle (docs/operations.md, "Logs").
    "--sourcemap",
  ],
  { cwd: root, stdout: "inherit", stderr: "inherit" },
);
if (build.exitCode !== 0) {
  console.error(`bun build --compile failed with exit status ${build.exitCode}`);
  process.exit(1);
}
// The map is inside the executable too; the copy bun writes beside it is not needed.
rmSync(`${outfile}.map`, { force: true });
const cliLink = join(dirname(outfile), "kahuna-cli");
if (existsSync(cliLink)) rmSync(cliLink);
symlinkSync(basename(outfile), cliLink);
console.log(`built ${outfile} and ${cliLink} in ${Math.round(performance.now() - started)} ms`);

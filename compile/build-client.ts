/**
 * Builds the installable client package `kahuna-client` in dist/kahuna-client/: one ES module
 * (index.js, bundled from src/client/index.ts for Node 20+, Bun and Deno), its TypeScript
 * declarations (types/, emitted by tsc from the same sources), and a package.json written here
 * from the repository's (name, version, license) with no dependencies: the client needs
 * nothing at run time, and nothing of the server (Hono, SQLite, Raft) is reachable from it.
 * With --pack it also runs `npm pack`, leaving dist/kahuna-client-VERSION.tgz.
 *
 * Usage: bun compile/build-client.ts [--outdir dist/kahuna-client] [--pack]
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

const root = resolve(import.meta.dir, "..");
const { values } = parseArgs({
  options: {
    outdir: { type: "string", default: "dist/kahuna-client" },
    pack: { type: "boolean", default: false },
  },
});
const outdir = resolve(root, values.outdir!);
const started = performance.now();

function fail(message: string): never {
  console.error(`building the client failed: ${message}`);
  process.exit(1);
}

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });

const result = await Bun.build({
  entrypoints: [join(root, "src/client/index.ts")],
  outdir,
  target: "node",
  format: "esm",
  naming: "index.js",
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  fail("see the bundler's messages above");
}
const bundle = readFileSync(join(outdir, "index.js"), "utf8");
// The only imports a bundle may keep are node:net and node:tls (the binary transport, plain and
// over TLS), which Node, Bun and Deno all provide; anything else would be a dependency the
// package does not declare.
const allowedImports = ["node:net", "node:tls"];
const imports = [...bundle.matchAll(/^import .* from "([^"]+)";$/gm)].map((match) => match[1]);
if (imports.some((specifier) => !allowedImports.includes(specifier ?? ""))) {
  fail(
    `the bundle imports ${imports.join(", ")}; only ${allowedImports.join(" and ")} are allowed`,
  );
}

// Declarations, one .d.ts per source file under types/ (mirroring src/), from tsc itself.
const tsc = Bun.spawnSync(
  [
    join(root, "node_modules/.bin/tsc"),
    "-p",
    join(root, "compile/tsconfig.client-types.json"),
    "--outDir",
    join(outdir, "types"),
  ],
  { cwd: root, stdout: "inherit", stderr: "inherit" },
);
if (tsc.exitCode !== 0) fail(`tsc exited with status ${tsc.exitCode}`);

const repo = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  version: string;
  license: string;
};
const manifest = {
  name: "kahuna-client",
  version: repo.version,
  description: "Client for kahuna, a distributed lock server: leases with fencing tokens, " +
    "over REST or kahuna's binary protocol. ESM with types, no dependencies; Node 20+, Bun, Deno.",
  license: repo.license,
  type: "module",
  exports: {
    ".": { types: "./types/client/index.d.ts", default: "./index.js" },
    "./package.json": "./package.json",
  },
  main: "./index.js",
  types: "./types/client/index.d.ts",
  files: ["index.js", "types", "README.md", "LICENSE", "CHANGELOG.md"],
  engines: { node: ">=20" },
  sideEffects: false,
  keywords: ["lock", "distributed-lock", "lease", "fencing-token", "raft", "kahuna"],
};
writeFileSync(join(outdir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
copyFileSync(join(root, "compile/client-package/README.md"), join(outdir, "README.md"));
copyFileSync(join(root, "LICENSE"), join(outdir, "LICENSE"));
copyFileSync(join(root, "CHANGELOG.md"), join(outdir, "CHANGELOG.md"));

let built = outdir;
if (values.pack) {
  const destination = dirname(outdir);
  const pack = Bun.spawnSync(
    ["npm", "pack", "--silent", "--pack-destination", destination],
    { cwd: outdir, stderr: "inherit" },
  );
  if (pack.exitCode !== 0) fail(`npm pack exited with status ${pack.exitCode}`);
  built = join(destination, pack.stdout.toString().trim());
}
console.log(`built ${built} in ${Math.round(performance.now() - started)} ms`);

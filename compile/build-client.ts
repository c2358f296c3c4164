/**
 * Builds the client library for Node (which cannot run .ts): `dist/client/index.js`, one ESM
 * file, target node, from src/client/index.ts. Bun and Deno import the .ts sources directly.
 * Usage: bun compile/build-client.ts [--outdir dist/client]
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";

const root = resolve(import.meta.dir, "..");
const { values } = parseArgs({ options: { outdir: { type: "string", default: "dist/client" } } });
const outdir = resolve(root, values.outdir!);

const started = performance.now();
const result = await Bun.build({
  entrypoints: [resolve(root, "src/client/index.ts")],
  outdir,
  target: "node",
  format: "esm",
  naming: "index.js",
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  console.error("building the client failed; see the messages above");
  process.exit(1);
}
const outputs = result.outputs.map((output) => output.path).join(", ");
console.log(`built ${outputs} in ${Math.round(performance.now() - started)} ms`);

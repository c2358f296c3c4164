/**
 * Starts a local cluster of kahuna nodes on 127.0.0.1 in one command, for trying clusters out:
 *
 *   npm run cluster              # 3 nodes: HTTP on 2070, 2170, 2270; data in ./data/cluster
 *   bun scripts/local-cluster.ts --nodes 5 --data-dir /tmp/k
 *
 * Node i (from 1) serves HTTP on 2070 + 100·(i−1), peers on 2071 + 100·(i−1), and the binary
 * protocol on 2072 + 100·(i−1). Each node's log lines are prefixed with its id. Ctrl-C stops
 * every node cleanly.
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "3" },
    "data-dir": { type: "string", default: "data/cluster" },
    partitions: { type: "string", default: "16" },
  },
});
const nodes = Number(values.nodes);
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) {
  console.error(`--nodes must be an integer from 1 to 9, got ${values.nodes}`);
  process.exit(2);
}
const root = resolve(import.meta.dir, "..");
const dataDir = resolve(values["data-dir"]!);
const port = (i: number, base: number) => base + 100 * (i - 1);
const initialCluster = Array.from(
  { length: nodes },
  (_, k) => `${k + 1}=127.0.0.1:${port(k + 1, 2071)}`,
)
  .join(",");

const children = Array.from({ length: nodes }, (_, k) => {
  const id = k + 1;
  const child = Bun.spawn([
    process.execPath,
    join(root, "src/main.ts"),
    "serve",
    "--node-id",
    String(id),
    "--http-port",
    String(port(id, 2070)),
    "--peer-port",
    String(port(id, 2071)),
    "--binary-port",
    String(port(id, 2072)),
    "--data-dir",
    join(dataDir, `n${id}`),
    "--initial-cluster",
    initialCluster,
    "--partitions",
    values.partitions!,
  ], { stdout: "inherit", stderr: "inherit" });
  console.log(`node ${id}: http://127.0.0.1:${port(id, 2070)}  (pid ${child.pid})`);
  return child;
});

const stop = () => {
  for (const child of children) child.kill("SIGTERM");
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
const codes = await Promise.all(children.map((child) => child.exited));
process.exit(codes.some((code) => code !== 0 && code !== 143 && code !== 130) ? 1 : 0);

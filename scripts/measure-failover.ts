/**
 * Measures failover on a real 3-node cluster on 127.0.0.1: for each trial, kill -9 the
 * leader of a partition that holds a persistent lock, and time until a surviving node answers
 * a linearizable get-info for it (the new leader serves). Then restart the node and wait
 * until the cluster is healthy again. Prints each trial and the median / p90 / max.
 *
 *   bun scripts/measure-failover.ts --trials 10 [--nodes 3] [--partitions 16]
 */
import { parseArgs } from "node:util";
import { groupOf } from "../src/multiraft/partition.ts";
import { TestCluster } from "../test/helpers/cluster.ts";

const { values } = parseArgs({
  options: {
    trials: { type: "string", default: "10" },
    nodes: { type: "string", default: "3" },
    partitions: { type: "string", default: "16" },
  },
});
const trials = Number(values.trials);
const partitions = Number(values.partitions);
const cluster = await TestCluster.start(Number(values.nodes), { partitions });

async function post(url: string, path: string, body: object): Promise<number> {
  try {
    const response = await fetch(`${url}/v1/locks/${path}`, {
      method: "POST",
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(2_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

const results: number[] = [];
try {
  for (let trial = 0; trial < trials; trial++) {
    const resource = `failover/${trial}`;
    const urls = cluster.nodes.map((n) => n.url);
    while (await post(urls[0]!, "try-lock", { resource, owner: "o", expiresMs: 600_000 }) !== 200) {
      await Bun.sleep(20);
    }
    const status = await cluster.status(cluster.nodes[0]!.id);
    const leader = status.partitions[groupOf(resource, partitions)]!.leader;
    const survivor = cluster.nodes.find((n) => n.id !== leader)!;
    await cluster.kill(leader);
    const killedAt = performance.now();
    while (await post(survivor.url, "get-info", { resource }) !== 200) await Bun.sleep(5);
    const ms = performance.now() - killedAt;
    results.push(ms);
    console.log(
      `trial ${trial + 1}: leader ${leader} killed; new leader served after ${ms.toFixed(0)} ms`,
    );
    await cluster.startNode(leader);
    await cluster.waitHealthy();
    await Bun.sleep(3_000); // let leadership move back to the preferred nodes
  }
} finally {
  await cluster.stop();
}
const sorted = [...results].sort((a, b) => a - b);
const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
console.log(
  `failover over ${results.length} trials: median ${at(0.5).toFixed(0)} ms, ` +
    `p90 ${at(0.9).toFixed(0)} ms, max ${sorted[sorted.length - 1]!.toFixed(0)} ms`,
);

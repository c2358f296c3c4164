/**
 * The binary client sends each request straight to its partition's leader once it has asked
 * the servers where the leaders are (route requests): on a settled 3-node cluster, no request
 * is forwarded between nodes; and after the leader of a partition is killed the client finds
 * the new one. `kahuna bench` routes the same way unless told to spread its clients.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { runBenchCommand } from "../../src/bench/command.ts";
import type { BenchResult } from "../../src/bench/runner.ts";
import { KahunaClient } from "../../src/client/index.ts";
import { TestCluster } from "../helpers/cluster.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start(3, { partitions: 8 });
}, 60_000);
afterAll(async () => await cluster?.stop());

async function forwardedTotal(c: TestCluster): Promise<number> {
  let total = 0;
  for (const node of c.nodes) {
    if (node.process === undefined) continue;
    const text = await (await fetch(`${node.url}/metrics`)).text();
    total += Number(/^kahuna_requests_forwarded_total (\d+)$/m.exec(text)?.[1] ?? 0);
  }
  return total;
}

async function benchForwards(routing: "leader" | "spread"): Promise<number> {
  const servers = cluster.nodes.map((n) => `127.0.0.1:${n.process!.binaryPort}`).join(",");
  const before = await forwardedTotal(cluster);
  const out: string[] = [];
  const args = ["--server", servers, "--routing", routing, "--concurrency", "8"];
  args.push("--duration", "500ms", "--warmup", "0", "--json", "--quiet");
  const status = await runBenchCommand(args, { out: (l) => out.push(l), err: () => {} });
  expect(status).toBe(0);
  const result = JSON.parse(out[0]!) as BenchResult;
  expect(result.errors).toBe(0);
  expect(result.ops).toBeGreaterThan(0);
  return await forwardedTotal(cluster) - before;
}

test(
  "kahuna bench sends each request to its leader; --routing spread lets nodes forward",
  async () => {
    expect(await benchForwards("leader")).toBe(0);
    expect(await benchForwards("spread")).toBeGreaterThan(0);
  },
  60_000,
);

test("requests go straight to their partition's leader, before and after a failover", async () => {
  const c = cluster;
  const servers = c.nodes.map((n) => `127.0.0.1:${n.process!.binaryPort}`);
  const client = new KahunaClient({ servers, transport: "binary" });
  try {
    await client.tryLock("warm-up", "o", 60_000);
    await Bun.sleep(200); // the route map arrives in the background
    const before = await forwardedTotal(c);
    for (let i = 0; i < 64; i++) {
      expect((await client.tryLock(`routed/${i}`, "o", 60_000)).locked).toBe(true);
    }
    expect(await forwardedTotal(c) - before).toBe(0);

    await c.kill("1");
    const owner = "o";
    for (let i = 0; i < 64; i++) {
      const info = await client.get(`routed/${i}`);
      expect(info).toMatchObject({ owner, fencingToken: 0 });
    }
    await Bun.sleep(1_200); // past the refresh interval: the map shows the new leaders
    await client.tryLock("warm-up-2", "o", 60_000);
    await Bun.sleep(200);
    const after = await forwardedTotal(c);
    for (let i = 0; i < 64; i++) expect((await client.get(`routed/${i}`))?.owner).toBe(owner);
    expect(await forwardedTotal(c) - after).toBe(0);
  } finally {
    client.close();
  }
}, 120_000);

/**
 * The binary client sends each request straight to its partition's leader once it has asked
 * the servers where the leaders are (route requests): on a settled 3-node cluster, no request
 * is forwarded between nodes; and after the leader of a partition is killed the client finds
 * the new one.
 */
import { afterAll, expect, test } from "bun:test";
import { KahunaClient } from "../../src/client/index.ts";
import { TestCluster } from "../helpers/cluster.ts";

let cluster: TestCluster | undefined;
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

test("requests go straight to their partition's leader, before and after a failover", async () => {
  cluster = await TestCluster.start(3, { partitions: 8 });
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

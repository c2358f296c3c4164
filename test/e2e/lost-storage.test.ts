/**
 * A node whose data directory is lost (docs/reliability.md, "A node that lost its storage"),
 * on a real 3-node cluster under load: killed with -9, its directory removed, started again
 * empty. Its peers know it by its old store id, so it recovers every partition, takes no part
 * in elections until re-seeded, then serves; every acknowledged persistent lock is there.
 */
import { rmSync } from "node:fs";
import { afterEach, expect, test } from "bun:test";
import { KahunaClient } from "../../src/client/index.ts";
import { TestCluster } from "../helpers/cluster.ts";

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

type Partition = { group: number; role: string; recovering?: boolean; applied: number };
async function partitions(url: string): Promise<Partition[]> {
  const response = await fetch(`${url}/v1/cluster`, { signal: AbortSignal.timeout(5_000) });
  return ((await response.json()) as { partitions: Partition[] }).partitions;
}

test(
  "a follower whose data directory is wiped under load is re-seeded and loses nothing",
  async () => {
    cluster = await TestCluster.start(3, { partitions: 4 });
    const [one, two, victim] = cluster.nodes;
    const client = new KahunaClient({ servers: [one!.url, two!.url], timeoutMs: 5_000 });
    const acknowledged = new Map<string, number>();
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 5_000; i++) {
        const resource = `jobs/${i}`;
        try {
          const result = await client.tryLock(resource, `w${i}`, 600_000);
          if (result.locked) acknowledged.set(resource, result.fencingToken);
        } catch {
          // Unknown outcome during the churn: not acknowledged, so not checked.
        }
      }
    })();
    await Bun.sleep(500);
    await cluster.kill(victim!.id);
    rmSync(victim!.dataDir, { recursive: true, force: true });
    await cluster.startNode(victim!.id);

    // It recovers every partition, and while it does it leads none.
    let sawRecovering = false;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const view = await partitions(victim!.url).catch(() => [] as Partition[]);
      const recovering = view.filter((p) => p.recovering === true);
      if (recovering.length > 0) sawRecovering = true;
      for (const p of recovering) expect(p.role).not.toBe("leader");
      if (sawRecovering && view.length === 4 && recovering.length === 0) break;
      if (Date.now() > deadline) throw new Error(`still recovering: ${JSON.stringify(view)}`);
      await Bun.sleep(100);
    }
    // Some more load after the recovery (at most 20 s of it), then the checks.
    const more = Date.now() + 20_000;
    while (acknowledged.size < 100 && Date.now() < more) await Bun.sleep(50);
    writing = false;
    await writer;
    expect(acknowledged.size).toBeGreaterThanOrEqual(100);

    // Every acknowledged lock answers through the re-seeded node, with its token.
    const viaVictim = new KahunaClient({ servers: [victim!.url], timeoutMs: 5_000 });
    for (const [resource, token] of acknowledged) {
      const info = await viaVictim.get(resource);
      expect({ resource, token: info?.fencingToken }).toEqual({ resource, token });
    }
    // It votes again: with node one down, two and the re-seeded node elect leaders.
    await cluster.kill(one!.id);
    await cluster.waitHealthy([two!.id, victim!.id], 30_000);
    const [first] = acknowledged;
    expect((await viaVictim.get(first![0]))?.fencingToken).toBe(first![1]);
  },
  180_000,
);

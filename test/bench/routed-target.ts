/**
 * An experiment, not a product client: the binary protocol with each request sent straight to
 * its partition's leader, to measure what the forwarding hop costs. A normal client sends a
 * request to any node, and a node that does not lead the partition forwards it (DESIGN.md §4):
 * with 3 nodes, 2 requests in 3 take the extra hop.
 *
 * The product client cannot do this yet: it would need each node's binary address and the
 * leader of every partition from the binary protocol itself. Here the script that started the
 * cluster knows the addresses, and the leaders come from GET /v1/cluster.
 */
import type { BenchClient, BenchTarget } from "../../src/bench/target.ts";
import { BinaryConnection } from "../../src/client/binary-connection.ts";
import type { LockRequest, LockResponse } from "../../src/locks/types.ts";
import { ResponseType } from "../../src/locks/types.ts";
import { groupOf } from "../../src/multiraft/partition.ts";

export type RoutedNode = { readonly id: string; readonly url: string; readonly binary: string };

export async function routedBinaryTarget(
  nodes: readonly RoutedNode[],
  timeoutMs: number,
): Promise<BenchTarget> {
  const connections = new Map<string, BinaryConnection[]>();
  for (const node of nodes) {
    const [host, port] = node.binary.split(":");
    const pool = [];
    for (let i = 0; i < 2; i++) {
      pool.push(await BinaryConnection.open({ host: host!, port: Number(port) }, timeoutMs));
    }
    connections.set(node.id, pool);
  }
  let leaders: string[] = [];
  let refreshing: Promise<void> | undefined;
  const refresh = () => {
    refreshing ??= (async () => {
      const cluster = await (await fetch(`${nodes[0]!.url}/v1/cluster`)).json() as {
        partitions: { group: number; leader: string }[];
      };
      leaders = cluster.partitions.sort((a, b) => a.group - b.group).map((p) => p.leader);
    })().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };
  await refresh();
  const client = (worker: number): BenchClient => ({
    async execute(request: LockRequest): Promise<LockResponse> {
      const group = groupOf(request.resource, leaders.length);
      const pool = connections.get(leaders[group]!) ?? connections.get(nodes[0]!.id)!;
      const response = await pool[worker % pool.length]!.execute(request);
      if (response.type === ResponseType.MustRetry) void refresh();
      return response;
    },
  });
  return {
    name: "binary, leader-routed",
    client,
    close: async () => {
      for (const pool of connections.values()) for (const connection of pool) connection.close();
    },
  };
}

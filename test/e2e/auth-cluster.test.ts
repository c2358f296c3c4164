/**
 * Auth in a cluster (docs/security.md): a request is authorised on the node the client talked
 * to, and a node that forwards it to its partition's leader sends no token (peers trust each
 * other's judgement; mutual TLS is what makes peers trustworthy). So a client with a token
 * reaches every lock it may through any node, over REST and the binary protocol with route
 * requests, and is refused, by any node, every lock it may not.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { KahunaClient, KahunaError, KahunaErrorKind } from "../../src/client/index.ts";
import { ResponseType } from "../../src/locks/types.ts";
import { standardAuthFile, type Tokens } from "../helpers/auth.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { tempDir } from "../helpers/server.ts";

let dir = "";
let tokens: Tokens;
let cluster: TestCluster;

beforeAll(async () => {
  dir = tempDir("kahuna-auth-cluster-");
  const made = standardAuthFile(dir);
  tokens = made.tokens;
  cluster = await TestCluster.start(3, { partitions: 4, extraArgs: ["--auth-file", made.file] });
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

async function call(nodeUrl: string, path: string, body: unknown, token: string) {
  const response = await fetch(`${nodeUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() as Record<string, unknown> };
}

test("every node serves a token's locks, forwarding to leaders, and refuses the others", async () => {
  const status = await fetch(`${cluster.nodes[0]!.url}/v1/cluster`, {
    headers: { authorization: `Bearer ${tokens.ops}` },
  });
  const leaders = ((await status.json()) as { partitions: { leader: string }[] }).partitions
    .map((p) => p.leader);
  // With 4 partitions on 3 nodes, every node leads some and forwards the rest.
  expect(new Set(leaders).size).toBeGreaterThan(1);
  for (const node of cluster.nodes) {
    for (let i = 0; i < 8; i++) {
      const resource = `jobs/${node.id}/${i}`;
      const body = { resource, owner: `o${node.id}`, expiresMs: 30_000 };
      expect({ resource, ...(await call(node.url, "/v1/locks/try-lock", body, tokens.ci)) })
        .toEqual({ resource, status: 200, body: { type: ResponseType.Locked, fencingToken: 0 } });
      const outside = { ...body, resource: `orders/${node.id}/${i}` };
      expect(await call(node.url, "/v1/locks/try-lock", outside, tokens.ci)).toMatchObject({
        status: 403,
      });
      expect(await call(node.url, "/v1/locks/try-lock", body, `${tokens.ci}x`)).toMatchObject({
        status: 401,
      });
    }
  }
  // What one node granted, every other node shows to a reader, and no refused lock is held.
  for (const node of cluster.nodes) {
    for (const other of cluster.nodes) {
      const info = await call(node.url, "/v1/locks/get-info", {
        resource: `jobs/${other.id}/3`,
      }, tokens.ro);
      expect(info.body).toMatchObject({ type: ResponseType.Got, owner: `o${other.id}` });
      const refused = await call(node.url, "/v1/locks/get-info", {
        resource: `orders/${other.id}/3`,
      }, tokens.all);
      expect(refused.body).toMatchObject({ type: ResponseType.LockDoesNotExist });
    }
  }
});

test("the binary client with a token routes to leaders through every node", async () => {
  const servers = cluster.nodes.map((node) => {
    const port = node.process!.binaryPort;
    return `127.0.0.1:${port}`;
  });
  const client = new KahunaClient({ servers, transport: "binary", token: tokens.ci });
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) => client.tryLock(`jobs/binary/${i}`, "b", 30_000)),
  );
  expect(results.every((r) => r.locked)).toBe(true);
  let refused: unknown;
  await client.tryLock("orders/binary", "b", 30_000).catch((error) => (refused = error));
  expect(refused).toBeInstanceOf(KahunaError);
  expect((refused as KahunaError).kind).toBe(KahunaErrorKind.Forbidden);
  client.close();
});

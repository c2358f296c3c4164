/**
 * Issue 12 item 1: mutual TLS between nodes (--peer-tls-cert/--peer-tls-key/--peer-ca), with
 * real certificates (docs/security.md's commands) and real processes on 127.0.0.1. A 3-node
 * cluster takes locks and survives killing a leader, under Bun and under Deno; a peer with no
 * certificate, with one from another CA, or claiming another node's id is refused and counted
 * in /metrics; SIGHUP reloads a node's certificate while the cluster keeps running.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { encodeFrame } from "../../src/codec/frame.ts";
import { frameBytesMax } from "../../src/constants.ts";
import { KahunaClient } from "../../src/client/index.ts";
import { groupOf } from "../../src/multiraft/partition.ts";
import { encodePeerFrame } from "../../src/multiraft/peer-frame.ts";
import {
  addNodeCert,
  type Certs,
  makeCerts,
  runScript,
  securityDocBlocks,
  shownCertificate,
  waitFor,
} from "../helpers/certs.ts";
import { TestCluster } from "../helpers/cluster.ts";
import type { Runtime } from "../helpers/server.ts";

const partitions = 4;
let certs: Certs;

beforeAll(async () => {
  certs = await makeCerts(["1", "2", "3", "4"]);
}, 60_000);

afterAll(() => rmSync(certs.dir, { recursive: true, force: true }));

function peerTlsArgs(id: string): string[] {
  const node = certs.node(id);
  return [
    "--peer-tls-cert",
    node.certFile,
    "--peer-tls-key",
    node.keyFile,
    "--peer-ca",
    certs.caFile,
  ];
}

async function startTlsCluster(runtime: Runtime): Promise<TestCluster> {
  return await TestCluster.start(3, { partitions, runtime, nodeArgs: peerTlsArgs });
}

async function leaderOf(cluster: TestCluster, resource: string): Promise<string> {
  const group = groupOf(resource, partitions);
  for (let i = 0; i < 200; i++) {
    const alive = cluster.nodes.find((n) => n.process !== undefined)!;
    const leader = (await cluster.status(alive.id)).partitions[group]!.leader;
    if (leader !== "") return leader;
    await Bun.sleep(50);
  }
  throw new Error(`partition ${group} has no leader`);
}

async function refusedCount(url: string, reason: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) =>
    l.startsWith(`kahuna_peer_tls_refused_total{reason="${reason}"}`)
  );
  return Number(line?.split(" ")[1] ?? NaN);
}

for (const runtime of ["bun", "deno"] as const) {
  test(
    `a ${runtime} 3-node cluster over mutual TLS takes locks and survives killing a leader`,
    async () => {
      const cluster = await startTlsCluster(runtime);
      try {
        const client = new KahunaClient({ servers: cluster.nodes.map((n) => n.url) });
        const resource = `mtls/${runtime}`;
        const first = await client.tryLock(resource, "a", 60_000);
        expect(first.locked).toBe(true);
        const victim = await leaderOf(cluster, resource);
        await cluster.kill(victim);
        const survivors = new KahunaClient({
          servers: cluster.nodes.filter((n) => n.process !== undefined).map((n) => n.url),
        });
        expect((await survivors.get(resource))?.owner).toBe("a");
        expect((await survivors.tryLock(resource, "b", 60_000)).locked).toBe(false);
        expect(await survivors.unlock(resource, "a")).toBe(true);
        const next = await survivors.tryLock(resource, "b", 60_000);
        expect(next.locked).toBe(true);
        expect(next.fencingToken).toBeGreaterThan(first.fencingToken);
        expect(await refusedCount(cluster.nodes.find((n) => n.process)!.url, "identity")).toBe(0);
      } finally {
        await cluster.stop();
      }
    },
    120_000,
  );
}

test(
  "one set of files for both: --tls-cert/--tls-key with --peer-ca serve HTTPS and link peers",
  async () => {
    const cluster = await TestCluster.start(3, {
      partitions,
      ca: certs.ca,
      nodeArgs: (id) => [
        "--tls-cert",
        certs.node(id).certFile,
        "--tls-key",
        certs.node(id).keyFile,
        "--peer-ca",
        certs.caFile,
      ],
    });
    try {
      const client = new KahunaClient({ servers: cluster.nodes.map((n) => n.url), ca: certs.ca });
      expect((await client.tryLock("mtls/shared", "s", 30_000)).locked).toBe(true);
      const victim = await leaderOf(cluster, "mtls/shared");
      await cluster.kill(victim);
      expect((await client.get("mtls/shared"))?.owner).toBe("s");
    } finally {
      await cluster.stop();
    }
  },
  120_000,
);

describe("a node with --peer-ca refuses peers it cannot trust", () => {
  let cluster: TestCluster;
  let otherCa: string;

  beforeAll(async () => {
    cluster = await startTlsCluster("bun");
    // Another CA, with a certificate for node 2 that the cluster's CA did not sign.
    otherCa = join(certs.dir, "other-ca");
    mkdirSync(otherCa);
    await runScript(securityDocBlocks().ca, otherCa);
    await addNodeCert(otherCa, "2");
  }, 60_000);

  afterAll(async () => {
    await cluster.stop();
  });

  /** Dials node 1's peer port; resolves when the connection ends, however it ends. */
  function dialNode1(options: { cert?: string; key?: string; frameFrom?: string }) {
    return new Promise<void>((resolve) => {
      const socket = connect({
        host: "127.0.0.1",
        port: cluster.node("1").peerPort,
        ca: certs.ca,
        ...(options.cert === undefined ? {} : { cert: options.cert, key: options.key }),
      }, () => {
        const from = options.frameFrom ?? "2";
        const frame = encodePeerFrame({ from, envelopes: [], forwards: [], answers: [] });
        socket.write(encodeFrame(frame, frameBytesMax));
      });
      socket.on("data", () => {});
      socket.on("error", () => resolve());
      socket.on("close", () => resolve());
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 5_000);
    });
  }

  const read = (file: string) => Bun.file(file).text();

  test("no certificate, or one from another CA: the handshake fails, counted", async () => {
    const url = cluster.node("1").url;
    const before = await refusedCount(url, "handshake");
    await dialNode1({});
    await dialNode1({
      cert: await read(join(otherCa, "node2.crt")),
      key: await read(join(otherCa, "node2.key")),
    });
    for (let i = 0; i < 50 && (await refusedCount(url, "handshake")) < before + 2; i++) {
      await Bun.sleep(50);
    }
    expect(await refusedCount(url, "handshake")).toBe(before + 2);
  }, 30_000);

  test(
    "a certificate for node 4 claiming to be node 2: refused, counted, cluster unharmed",
    async () => {
      const url = cluster.node("1").url;
      const before = await refusedCount(url, "identity");
      const node4 = certs.node("4");
      await dialNode1({ cert: await read(node4.certFile), key: await read(node4.keyFile) });
      expect(await refusedCount(url, "identity")).toBe(before + 1);
      const client = new KahunaClient({ servers: [url] });
      expect((await client.tryLock("mtls/after-refusal", "o", 10_000)).locked).toBe(true);
    },
    30_000,
  );

  test(
    "SIGHUP: node 1 shows peers its renewed certificate, and the cluster keeps running",
    async () => {
      const node1 = cluster.node("1");
      const asNode3 = certs.node("3");
      const before = await shownCertificate(node1.peerPort, certs.ca, asNode3);
      await addNodeCert(certs.dir, "1");
      node1.process!.process.kill("SIGHUP");
      await waitFor(
        "the renewed peer certificate",
        async () => (await shownCertificate(node1.peerPort, certs.ca, asNode3)) !== before,
      );
      // The links open before the reload are still up, both ways.
      for (const node of cluster.nodes) {
        const text = await (await fetch(`${node.url}/metrics`)).text();
        const up = text.split("\n").filter((l) => l.startsWith("kahuna_peer_up{"));
        expect(up.map((l) => l.split(" ")[1])).toEqual(["1", "1"]);
      }
      // A restarted node dials node 1 afresh, sees the new certificate, and node 1 dials it
      // back with it: the cluster is whole again.
      await cluster.kill("2", "SIGTERM");
      await cluster.startNode("2");
      await cluster.waitHealthy();
      const client = new KahunaClient({ servers: [cluster.node("2").url] });
      for (let i = 0; i < 8; i++) {
        expect((await client.tryLock(`mtls/reload/${i}`, "o", 10_000)).locked).toBe(true);
      }
      expect(await refusedCount(node1.url, "identity")).toBe(1);
    },
    60_000,
  );
});

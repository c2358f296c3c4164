/**
 * A damaged log on a real disk (docs/reliability.md, "A damaged log"). A single node's log
 * with a bit flipped at random offsets of its segments, or a sealed segment cut short, is
 * refused at start: the node exits non-zero with one line naming the file and the offset
 * (and after each trial the byte is put back, and the node starts again on it). In a 3-node
 * cluster, a follower whose record of a lock is damaged is refused, `kahuna repair` drops
 * that partition, and the node starts, is re-seeded by the partition's leader, and serves the
 * lock taken before.
 *
 * The offsets come from a seeded generator: the seed is printed, and KAHUNA_TEST_SEED=N
 * replays a run.
 */
import { afterEach, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { groupOf } from "../../src/multiraft/partition.ts";
import { TestCluster } from "../helpers/cluster.ts";
import {
  bunBin,
  commandFor,
  freePort,
  mainTs,
  repoRoot,
  runCommand,
  type ServerProcess,
  startServer,
} from "../helpers/server.ts";
import { callLock } from "./rest-smoke.ts";

const servers: ServerProcess[] = [];
let cluster: TestCluster | undefined;
afterEach(async () => {
  for (const server of servers.splice(0)) await server.cleanup();
  await cluster?.stop();
  cluster = undefined;
});

/** mulberry32: small, and the same sequence for the same seed everywhere. */
function seeded(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * below);
  };
}

/** A start of `kahuna serve` with `args` that is expected to fail: its status and stderr. */
async function refusedStart(args: string[]): Promise<{ status: number; stderr: string }> {
  const child = Bun.spawn(commandFor("bun", ["serve", "--quiet", ...args]), {
    cwd: repoRoot,
    stdout: "ignore",
    stderr: "pipe",
    timeout: 20_000,
    killSignal: "SIGKILL",
  });
  const [status, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
  return { status, stderr };
}

function segments(dataDir: string): string[] {
  return readdirSync(join(dataDir, "log")).filter((name) => /^\d{20}\.log$/.test(name)).sort();
}

async function lock(url: string, resource: string, owner: string) {
  const body = { resource, owner, expiresMs: 600_000, durability: 1 };
  expect((await callLock(url, "/v1/locks/try-lock", body)).body).toMatchObject({ type: 0 });
}

async function holder(url: string, resource: string): Promise<unknown> {
  return (await callLock(url, "/v1/locks/get-info", { resource, durability: 1 })).body;
}

test(
  "a flipped bit anywhere in a segment, or a sealed segment cut short, stops the start",
  async () => {
    const seed = Number(process.env["KAHUNA_TEST_SEED"] ?? Date.now() % 1_000_000);
    console.log(`damaged-log: seed ${seed} (KAHUNA_TEST_SEED=${seed} replays it)`);
    const random = seeded(seed);
    // Two starts, so that the log has a sealed segment besides the newest.
    let server = await startServer();
    servers.push(server);
    for (let i = 0; i < 5; i++) await lock(server.url, `flip/${i}`, `owner-${i}`);
    await server.kill("SIGTERM");
    server = await server.restart();
    servers.push(server);
    for (let i = 5; i < 10; i++) await lock(server.url, `flip/${i}`, `owner-${i}`);
    await server.kill("SIGTERM");
    const { dataDir } = server;
    const names = segments(dataDir);
    expect(names.length).toBeGreaterThanOrEqual(2);
    const ports = [await freePort(), await freePort(), await freePort()];
    const args = [
      ...["--http-port", String(ports[0]), "--peer-port", String(ports[1])],
      ...["--binary-port", String(ports[2]), "--data-dir", dataDir],
    ];

    for (let trial = 0; trial < 30; trial++) {
      const name = names[random(names.length)]!;
      const path = join(dataDir, "log", name);
      const original = readFileSync(path);
      const offset = random(original.length);
      const bit = random(8);
      const damaged = Buffer.from(original);
      damaged[offset]! ^= 1 << bit;
      writeFileSync(path, damaged);
      try {
        const { status, stderr } = await refusedStart(args);
        const what = `seed ${seed}, trial ${trial}: bit ${bit} of byte ${offset} of ${name}`;
        expect({ what, status: status === 0 ? 0 : "non-zero" }).toEqual({
          what,
          status: "non-zero",
        });
        expect(stderr).toStartWith(
          `kahuna: the server could not start: the log in the data directory ${dataDir} is damaged: `,
        );
        expect({ what, stderr }).toMatchObject({ stderr: expect.stringContaining(name) });
        expect({ what, stderr }).toMatchObject({ stderr: expect.stringContaining("offset") });
        expect(stderr.trimEnd().split("\n").length).toBe(1);
      } finally {
        writeFileSync(path, original);
      }
    }

    // A sealed segment (any but the newest) cut short after its sync.
    const sealed = names[random(names.length - 1)]!;
    const path = join(dataDir, "log", sealed);
    const original = readFileSync(path);
    const cut = random(original.length);
    writeFileSync(path, original.subarray(0, cut));
    try {
      const { status, stderr } = await refusedStart(args);
      const what = `seed ${seed}: ${sealed} cut to ${cut} of ${original.length} bytes`;
      expect({ what, status: status === 0 ? 0 : "non-zero" }).toEqual({ what, status: "non-zero" });
      expect({ what, stderr }).toMatchObject({ stderr: expect.stringContaining(sealed) });
    } finally {
      writeFileSync(path, original);
    }

    // Every byte put back: the node starts, and its locks are all there.
    const again = await server.restart();
    servers.push(again);
    for (let i = 0; i < 10; i++) {
      expect(await holder(again.url, `flip/${i}`)).toMatchObject({ type: 4, owner: `owner-${i}` });
    }

    // A torn tail: the newest segment ends in the first 20 bytes of a record (its header and
    // the start of its payload), as a crash in the middle of an append leaves it. It is cut,
    // with a warning, and every lock is still there.
    await again.kill("SIGTERM");
    const newest = join(dataDir, "log", segments(dataDir).at(-1)!);
    const sound = readFileSync(newest);
    writeFileSync(newest, Buffer.concat([sound, sound.subarray(16, 36)]));
    const torn = await again.restart();
    servers.push(torn);
    for (let i = 0; i < 10; i++) {
      expect(await holder(torn.url, `flip/${i}`)).toMatchObject({ type: 4, owner: `owner-${i}` });
    }
    await torn.kill("SIGTERM");
    const log = await new Response(torn.process.stderr as ReadableStream).text();
    expect(log).toMatch(
      new RegExp(
        `WARN +\\[node 1\\] cut a torn tail of the log \\(the last write before a crash\\) ` +
          `event=logTornTail file=${basename(newest).replace(".", "\\.")} ` +
          `offset=${sound.length} bytes=20`,
      ),
    );
  },
  60_000,
);

type Partition = {
  group: number;
  leader: string;
  commit: number;
  applied: number;
  recovering?: true;
};
async function partitions(url: string): Promise<Partition[]> {
  const response = await fetch(`${url}/v1/cluster`, { signal: AbortSignal.timeout(5_000) });
  return ((await response.json()) as { partitions: Partition[] }).partitions;
}

test(
  "a follower's damaged record: refused, kahuna repair drops its partition, its leader re-seeds it",
  async () => {
    const groups = 4;
    cluster = await TestCluster.start(3, { partitions: groups });
    // A resource outside partition 0, so that the test does not depend on where the engine
    // keeps the node's own records (its first version kept them with partition 0).
    const resource = Array.from({ length: 100 }, (_, i) => `repair/needle-${i}`)
      .find((name) => groupOf(name, groups) !== 0)!;
    const group = groupOf(resource, groups);
    const [first] = cluster.nodes;
    await lock(first!.url, resource, "before-repair");
    for (let i = 0; i < 10; i++) await lock(first!.url, `repair/other-${i}`, `o${i}`);
    const view = await partitions(first!.url);
    const leader = view.find((p) => p.group === group)!.leader;
    const victim = cluster.nodes.find((node) => node.id !== leader)!;
    // The victim has the lock's entry on disk once it has applied the leader's commit.
    const committed = (await partitions(cluster.node(leader).url)).find((p) => p.group === group)!
      .commit;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
      const mine = (await partitions(victim.url)).find((p) => p.group === group)!;
      if (mine.applied >= committed) break;
      await Bun.sleep(50);
    }
    await cluster.kill(victim.id, "SIGTERM");

    // Flip a bit inside the record that holds the resource's name (an entry's payload).
    const needle = Buffer.from(resource);
    const hit = segments(victim.dataDir).map((name) => {
      const bytes = readFileSync(join(victim.dataDir, "log", name));
      return { name, bytes, at: bytes.indexOf(needle) };
    }).find((file) => file.at >= 0);
    expect(hit).toBeDefined();
    hit!.bytes[hit!.at + 2]! ^= 0x08;
    writeFileSync(join(victim.dataDir, "log", hit!.name), hit!.bytes);

    const initialCluster = cluster.nodes.map((n) => `${n.id}=127.0.0.1:${n.peerPort}`).join(",");
    const refused = await refusedStart([
      ...["--node-id", victim.id, "--initial-cluster", initialCluster],
      ...["--partitions", String(groups), "--http-port", String(victim.httpPort)],
      ...["--binary-port", String(await freePort()), "--data-dir", victim.dataDir],
    ]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(hit!.name);
    expect(refused.stderr).toContain(`(partition ${group})`);
    expect(refused.stderr).toContain(`Run \`kahuna repair --data-dir ${victim.dataDir}\``);

    const repair = await runCommand([bunBin, mainTs, "repair", "--data-dir", victim.dataDir]);
    expect(repair).toMatchObject({ status: 0, err: "" });
    expect(repair.out).toEqual([
      `repaired the log in ${victim.dataDir}: dropped the damaged log of partition ${group}, now ` +
      `recovering, under a new store id; when the node starts, its leader re-seeds it (the ` +
      `other partitions are as they were)`,
    ]);

    // Repair gave the node a new store id: its peers forget what they knew of its logs, and
    // the partition's leader, which had its acknowledgements of the dropped entries, probes it
    // afresh and re-seeds it.
    await cluster.startNode(victim.id);
    let last: Partition[] = [];
    for (const deadline = Date.now() + 30_000;;) {
      last = await partitions(victim.url).catch(() => []);
      const mine = last.find((p) => p.group === group);
      if (mine !== undefined && mine.recovering === undefined && mine.applied >= committed) break;
      if (Date.now() > deadline) throw new Error(`not re-seeded: ${JSON.stringify(last)}`);
      await Bun.sleep(100);
    }
    expect(await holder(victim.url, resource)).toMatchObject({ type: 4, owner: "before-repair" });
    await lock(victim.url, "repair/after", "after-repair");
    expect(await holder(first!.url, "repair/after")).toMatchObject({ owner: "after-repair" });
  },
  90_000,
);

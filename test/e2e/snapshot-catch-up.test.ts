/**
 * A partition too big for one peer frame catches a follower up (real processes, one
 * partition): its snapshot streams in chunks within the frame budget, so no node exits.
 *
 * 1. A follower is stopped (SIGSTOP) while the leader takes every lock and compacts its log
 *    past it many times; resumed, it catches up from a chunked snapshot.
 * 2. The follower is killed, more locks are taken (the log compacts past it again), the
 *    follower restarts and the leader is killed while the follower needs the snapshot: the
 *    new leader streams its own, and the follower catches up from it.
 * 3. No node exited on its own, and a sample of the locks answers through every node.
 *
 * The CI size (30,000 locks, a snapshot of 4 to 5 chunks) runs by default;
 * KAHUNA_SNAPSHOT_LOCKS=300000 runs the full size (a snapshot of about 40 chunks), reported in
 * docs/reliability.md.
 */
import { afterAll, expect, test } from "bun:test";
import { BinaryConnection } from "../../src/client/binary-connection.ts";
import { type LockRequest, type LockResponse, ResponseType } from "../../src/locks/types.ts";
import { TestCluster } from "../helpers/cluster.ts";

const locks = Number(process.env["KAHUNA_SNAPSHOT_LOCKS"] ?? 30_000);
const inFlight = 2_000;
const samplesPerNode = 300;

let cluster: TestCluster | undefined;
afterAll(async () => await cluster?.stop());

/** A 100-byte name, distinct per lock. */
const name = (i: number) => `snapshot/${String(i).padStart(9, "0")}/${"n".repeat(80)}`;

const take = (i: number): LockRequest => ({
  op: "tryLock",
  resource: name(i),
  owner: "loader",
  expiresMs: 3_600_000,
  durability: 1,
});

type Partition = {
  leader: string;
  role: string;
  commit: number;
  applied: number;
  snapshotReceiving?: { from: string; receivedBytes: number; totalBytes: number };
};

async function partition(id: string): Promise<Partition> {
  const status = await cluster!.status(id);
  return status.partitions[0] as unknown as Partition;
}

async function leaderId(): Promise<string> {
  for (let i = 0; i < 300; i++) {
    for (const node of cluster!.nodes) {
      if (node.process === undefined) continue;
      const p = await partition(node.id).catch(() => undefined);
      if (p?.role === "leader") return node.id;
    }
    await Bun.sleep(100);
  }
  throw new Error("no leader within 30 s");
}

async function connect(id: string): Promise<BinaryConnection> {
  const port = cluster!.node(id).process!.binaryPort;
  return await BinaryConnection.open({ host: "127.0.0.1", port }, 30_000);
}

/** Runs a request, retrying while the answer is MustRetry (a leader still starting). */
async function run(connection: BinaryConnection, request: LockRequest): Promise<LockResponse> {
  let answer = await connection.execute(request);
  for (let retry = 0; retry < 50 && answer.type === ResponseType.MustRetry; retry++) {
    await Bun.sleep(100);
    answer = await connection.execute(request);
  }
  return answer;
}

/** Takes locks [from, to) through the leader, `inFlight` at a time. */
async function load(via: string, from: number, to: number): Promise<void> {
  const connection = await connect(via);
  let next = from;
  const worker = async () => {
    while (next < to) {
      const i = next++;
      const answer = await run(connection, take(i));
      if (answer.type !== ResponseType.Locked) {
        throw new Error(`lock ${i}: ${JSON.stringify(answer)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  connection.close();
}

/** Waits until `follower` has applied what `leader` has committed. */
async function caughtUp(follower: string, leader: string, deadlineMs = 90_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  const target = (await partition(leader)).commit;
  let applied = 0;
  while (Date.now() < until) {
    applied = (await partition(follower).catch(() => undefined))?.applied ?? 0;
    if (applied >= target) return;
    await Bun.sleep(200);
  }
  throw new Error(`node ${follower} applied ${applied}, the leader committed ${target}`);
}

/** Polls until `follower` is receiving a snapshot from `leader`; its progress then. */
async function receiving(
  follower: string,
  leader: string,
): Promise<{ receivedBytes: number; totalBytes: number }> {
  for (let i = 0; i < 3_000; i++) {
    const progress = (await partition(follower).catch(() => undefined))?.snapshotReceiving;
    if (progress?.from === leader) return progress;
    await Bun.sleep(5);
  }
  throw new Error(`node ${follower} never received a snapshot from ${leader}`);
}

async function sample(via: string, count: number): Promise<void> {
  const connection = await connect(via);
  const answers = await Promise.all(
    Array.from(
      { length: samplesPerNode },
      (_, i) => run(connection, { op: "get", resource: name((i * 7_919) % count), durability: 1 }),
    ),
  );
  connection.close();
  for (const answer of answers) {
    expect(answer).toMatchObject({ type: ResponseType.Got, owner: "loader" });
  }
}

/** Phase times and snapshot sizes, printed for docs/reliability.md (measured, not asserted). */
let phaseStart = Date.now();
function note(what: string): void {
  console.log(`snapshot-catch-up (${locks} locks): ${what} in ${Date.now() - phaseStart} ms`);
  phaseStart = Date.now();
}

function running(id: string): boolean {
  return cluster!.node(id).process?.process.exitCode === null;
}

test(
  `a follower behind a compacted log of ${locks} locks catches up by chunked snapshot, also across a leader change`,
  async () => {
    cluster = await TestCluster.start(3, { partitions: 1 });
    const leader = await leaderId();
    const [follower, other] = cluster.nodes.map((n) => n.id).filter((id) => id !== leader) as [
      string,
      string,
    ];

    // 1. Stopped while the leader compacts past it many times, then resumed.
    cluster.node(follower).process!.process.kill("SIGSTOP");
    phaseStart = Date.now();
    await load(leader, 0, locks);
    note(`${locks} locks taken`);
    cluster.node(follower).process!.process.kill("SIGCONT");
    await caughtUp(follower, leader);
    note("the stopped follower caught up");

    // 2. Killed, the log compacts past it again, restarted; the leader dies during catch-up.
    await cluster.kill(follower);
    const more = Math.max(15_000, locks / 10);
    await load(leader, locks, locks + more);
    note(`${more} more locks taken`);
    await cluster.startNode(follower);
    // Freeze the follower as soon as it holds part of the leader's snapshot, kill the leader,
    // then let the follower run on with its transfer half done.
    const partial = await receiving(follower, leader);
    cluster.node(follower).process!.process.kill("SIGSTOP");
    expect(partial.receivedBytes).toBeLessThan(partial.totalBytes);
    note(
      `restarted follower held ${partial.receivedBytes} of ${partial.totalBytes} snapshot bytes`,
    );
    await cluster.kill(leader);
    cluster.node(follower).process!.process.kill("SIGCONT");
    const next = await leaderId();
    expect(next).toBe(other);
    await caughtUp(follower, other);
    note("the follower caught up from the new leader");
    await cluster.startNode(leader);
    await caughtUp(leader, other);
    note("the old leader, restarted, caught up");

    // 3. Nobody exited on its own; locks answer through every node.
    for (const node of cluster.nodes) expect(running(node.id)).toBe(true);
    for (const node of cluster.nodes) await sample(node.id, locks + more);
    note(`${samplesPerNode} gets through each node answered`);
    for (const node of cluster.nodes) expect(running(node.id)).toBe(true);
  },
  240_000,
);

/**
 * The host's own CPU per persistent op, without disks or sockets: three NodeHosts in this
 * process with in-memory log stores and an in-memory network (as src/host/cluster.test.ts),
 * `--inflight` TryLock+Unlock cycles in flight, each sent to its partition's leader. What a
 * real node spends beyond this goes to SQLite, sockets and the runtime (docs/performance.md).
 *
 *   bun test/bench/host-cpu.ts [--ops 100000] [--inflight 16]
 *   bun --cpu-prof --cpu-prof-dir=/tmp/prof test/bench/host-cpu.ts     (a profile of the host)
 *
 * Not a test.
 */
import { parseArgs } from "node:util";
import { MemoryLogStore } from "../../src/adapters/memory/memory-log-store.ts";
import { tickMs } from "../../src/constants.ts";
import { NodeHost } from "../../src/host/node-host.ts";
import { Durability, type LockRequest, ResponseType } from "../../src/locks/types.ts";
import { groupOf } from "../../src/multiraft/partition.ts";

const { values } = parseArgs({
  options: {
    ops: { type: "string", default: "100000" },
    inflight: { type: "string", default: "16" },
  },
});

const ids = ["a", "b", "c"];
const groups = 16;
let nowMs = 0;
let seed = 1;
let queue: { to: string; frame: Uint8Array }[] = [];
const hosts = new Map<string, NodeHost>();
for (const id of ids) {
  hosts.set(
    id,
    new NodeHost({
      nodeId: id,
      voters: ids,
      groups,
      logStore: new MemoryLogStore(),
      transport: { send: (to, frame) => queue.push({ to, frame }) },
      clock: { nowMs: () => nowMs, wallMs: () => nowMs },
      random: { int: (n) => (seed = (Math.imul(seed, 48271) + 11) >>> 0) % n },
    }),
  );
}

/** Delivers every frame in flight, flushes every host, and moves time on by 1 ms. */
function step(): void {
  const frames = queue;
  queue = [];
  for (const { to, frame } of frames) hosts.get(to)!.receive(frame);
  for (const host of hosts.values()) host.flush();
  nowMs += 1;
  if (nowMs % tickMs === 0) { for (const host of hosts.values()) host.tick(); }
}

for (let i = 0; i < 100_000 && ![...hosts.values()].every((h) => h.health().ok); i++) step();
const leaders = Array.from({ length: groups }, (_, group) => {
  for (const [id, host] of hosts) if (host.groupStatuses()[group]!.role === "leader") return id;
  throw new Error(`group ${group} has no leader`);
});

const ops = Number(values.ops);
const inflightMax = Number(values.inflight);
let inflight = 0;
let issued = 0;
let answered = 0;
let requests = 0;
const cpuBefore = process.cpuUsage();
const started = performance.now();
while (answered < ops) {
  while (inflight < inflightMax && issued < ops) {
    const resource = `bench/${issued % 10_000}`;
    const owner = `owner-${issued}`;
    const host = hosts.get(leaders[groupOf(resource, groups)]!)!;
    const request: LockRequest = {
      op: "tryLock",
      resource,
      owner,
      expiresMs: 10_000,
      durability: Durability.Persistent,
    };
    inflight += 1;
    issued += 1;
    requests += 1;
    host.submit(request, (response) => {
      answered += 1;
      if (response.type !== ResponseType.Locked) {
        inflight -= 1;
        return;
      }
      answered -= 1; // the cycle counts once, when its unlock is answered
      requests += 1;
      host.submit(
        { op: "unlock", resource, owner, durability: Durability.Persistent },
        () => {
          inflight -= 1;
          answered += 1;
        },
      );
    });
  }
  step();
}
const cpu = process.cpuUsage(cpuBefore);
const cpuMs = (cpu.user + cpu.system) / 1000;
console.log(
  `${ops} TryLock(+Unlock) cycles, ${requests} requests, ${inflightMax} in flight: ${
    (performance.now() - started).toFixed(0)
  } ms, CPU ${cpuMs.toFixed(0)} ms for three hosts, ${
    (cpuMs * 1000 / requests).toFixed(1)
  } us per request`,
);

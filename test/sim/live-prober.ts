/**
 * Liveness during partial faults, not only after healing. While a majority of the nodes is
 * up and connected both ways to each other (the healthy set: the largest such set, the
 * network calm, no node about to crash inside a disk write), whatever else is cut (a one-way
 * cut to or from a minority node, a node down), probes through the nodes of that set (a
 * persistent TryLock by the group's probe owner, then a persistent Get, in turn: a write that
 * must commit and a read that must pass ReadIndex) must get a definite answer in every group
 * within `livenessBoundMs`, and keep getting them: no stretch of that long without one while
 * the same set stays healthy. A change of the
 * set starts the clock again. The bound is ten election timeouts: enough for a leader outside
 * the set to step down (CheckQuorum), an election (PreVote), and a read past ReadIndex.
 */
import type { Prng } from "../../src/adapters/sim/prng.ts";
import { electionTicks, tickMs } from "../../src/constants.ts";
import { Durability, type LockOpRequest } from "../../src/locks/types.ts";
import type { OpRecord, Violation } from "../checkers/history.ts";
import { type ClientPort, clientTimeoutMs, type History } from "./workload.ts";

export const livenessBoundMs = 10 * electionTicks * tickMs;

/** The probe owner's lease: short, so an abandoned one does not outlive the run. */
const probeLeaseMs = 1_000;

type GroupProbe = {
  readonly group: number;
  readonly requests: readonly [LockOpRequest, LockOpRequest];
  sent: number;
  inFlight: { op: OpRecord; deadlineMs: number } | undefined;
  nextAtMs: number;
  /** The last definite answer to a probe sent while this healthy set held (or its start). */
  progressMs: number;
  reported: boolean;
};

export class LiveProber {
  readonly violations: Violation[] = [];
  /** Definite answers counted towards liveness, and windows of a healthy set begun. */
  answered = 0;
  windows = 0;
  /** The longest any group went without a definite answer while a healthy set held. */
  longestWaitMs = 0;
  private readonly probes: GroupProbe[];
  private healthyKey = "";
  private windowStartMs = 0;

  constructor(
    private readonly port: ClientPort,
    private readonly history: History,
    private readonly random: Prng,
    resourcePerGroup: readonly string[],
    private readonly explain: () => string,
  ) {
    const durability = Durability.Persistent;
    this.probes = resourcePerGroup.map((resource, group) => ({
      group,
      requests: [
        { op: "tryLock", resource, owner: `live-${group}`, expiresMs: probeLeaseMs, durability },
        { op: "get", resource, durability },
      ],
      sent: 0,
      inFlight: undefined,
      nextAtMs: 0,
      progressMs: 0,
      reported: false,
    }));
  }

  /** One step at `nowMs`; `healthy` is the healthy set, or undefined when there is none. */
  step(nowMs: number, healthy: readonly string[] | undefined): void {
    const key = healthy?.join(",") ?? "";
    if (key !== this.healthyKey) {
      this.healthyKey = key;
      this.windowStartMs = nowMs;
      if (key !== "") this.windows += 1;
      for (const probe of this.probes) {
        probe.progressMs = nowMs;
        probe.reported = false;
      }
    }
    if (healthy === undefined) return;
    for (const probe of this.probes) this.stepProbe(probe, nowMs, healthy);
  }

  private stepProbe(probe: GroupProbe, nowMs: number, healthy: readonly string[]): void {
    this.longestWaitMs = Math.max(this.longestWaitMs, nowMs - probe.progressMs);
    if (!probe.reported && nowMs - probe.progressMs > livenessBoundMs) {
      probe.reported = true;
      this.violations.push({
        checker: "liveness under faults",
        key: `group ${probe.group}`,
        message: `group ${probe.group} gave no definite answer through the healthy nodes ` +
          `${healthy.map((id) => `n${id}`).join(", ")} (healthy since ${this.windowStartMs} ms) ` +
          `from ${probe.progressMs} ms to ${nowMs} ms; ${this.explain()}`,
        atMs: nowMs,
        ops: [],
      });
    }
    if (probe.inFlight !== undefined) {
      if (nowMs < probe.inFlight.deadlineMs) return;
      probe.inFlight = undefined; // no answer: unknown, try again
    }
    if (nowMs < probe.nextAtMs) return;
    const node = this.random.pick(healthy);
    const request = probe.requests[probe.sent++ % 2]!;
    const op = this.history.begin(`live${probe.group}`, request, node, nowMs, nowMs);
    const key = this.healthyKey;
    probe.inFlight = { op, deadlineMs: nowMs + clientTimeoutMs };
    this.port.send(node, request, (response, atMs) => {
      if (probe.inFlight?.op !== op) return;
      probe.inFlight = undefined;
      this.history.finish(op, response, atMs);
      const definite = op.outcome === "ok";
      if (definite && key === this.healthyKey && op.sendMs >= this.windowStartMs) {
        probe.progressMs = Math.max(probe.progressMs, atMs);
        this.answered += 1;
      }
      probe.nextAtMs = atMs +
        (definite ? this.random.between(50, 200) : this.random.between(5, 50));
    });
  }
}

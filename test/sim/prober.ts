/**
 * After healing: liveness and durability probes. For every probe resource (the hot ones and
 * one per group), a persistent TryLock with a fresh owner and a long lease, retried until it
 * gets a definite answer (Locked or Busy): that needs a leader that commits in every group.
 * Then a persistent Get of each, which must agree with the history (the checkers read
 * `finalChecks`). Probes go into the same history as the workload, so every checker judges
 * them too.
 */
import type { Prng } from "../../src/adapters/sim/prng.ts";
import { Durability, type LockRequest } from "../../src/locks/types.ts";
import type { ReadBack } from "../checkers/durability.ts";
import type { OpRecord } from "../checkers/history.ts";
import { type ClientPort, clientTimeoutMs, type History } from "./workload.ts";

export const probeLeaseMs = 600_000;

type Probe = {
  readonly resource: string;
  readonly owner: string;
  stage: "lock" | "get" | "done";
  inFlight: OpRecord | undefined;
  deadlineMs: number;
  nextAtMs: number;
  firstSendMs: number;
  lock: OpRecord | undefined;
  get: OpRecord | undefined;
};

export class Prober {
  private readonly probes: Probe[];

  constructor(
    private readonly port: ClientPort,
    private readonly history: History,
    private readonly random: Prng,
    resources: readonly string[],
  ) {
    this.probes = resources.map((resource) => ({
      resource,
      owner: `probe-${random.hex(8)}`,
      stage: "lock",
      inFlight: undefined,
      deadlineMs: 0,
      nextAtMs: 0,
      firstSendMs: -1,
      lock: undefined,
      get: undefined,
    }));
  }

  done(): boolean {
    return this.probes.every((p) => p.stage === "done");
  }

  describePending(): string {
    return this.probes.filter((p) => p.stage !== "done").map((p) => `${p.resource} (${p.stage})`)
      .join(", ");
  }

  finalChecks(): ReadBack[] {
    return this.probes.flatMap((p) => p.lock && p.get ? [{ lock: p.lock, get: p.get }] : []);
  }

  step(nowMs: number): void {
    for (const probe of this.probes) this.stepProbe(probe, nowMs);
  }

  private stepProbe(probe: Probe, nowMs: number): void {
    if (probe.stage === "done") return;
    if (probe.inFlight !== undefined) {
      if (nowMs < probe.deadlineMs) return;
      probe.inFlight = undefined;
    }
    if (nowMs < probe.nextAtMs) return;
    const { resource, owner } = probe;
    const durability = Durability.Persistent;
    const request: LockRequest = probe.stage === "lock"
      ? { op: "tryLock", resource, owner, expiresMs: probeLeaseMs, durability }
      : { op: "get", resource, durability };
    if (probe.firstSendMs < 0) probe.firstSendMs = nowMs;
    const node = this.random.pick(this.port.nodes());
    const op = this.history.begin("probe", request, node, nowMs, probe.firstSendMs);
    probe.inFlight = op;
    probe.deadlineMs = nowMs + clientTimeoutMs;
    this.port.send(node, request, (response, atMs) => {
      if (probe.inFlight !== op) return;
      probe.inFlight = undefined;
      this.history.finish(op, response, atMs);
      if (op.outcome !== "ok") {
        probe.nextAtMs = atMs + this.random.between(20, 100);
        return;
      }
      if (probe.stage === "lock") {
        probe.lock = op;
        probe.stage = "get";
        probe.firstSendMs = -1;
      } else {
        probe.get = op;
        probe.stage = "done";
      }
    });
  }
}

/**
 * Watchers for the simulator (docs/spec.md §2.6): each follows one hot lock with watch long
 * polls, sent to a random node and retried from the same cursor on MustRetry, no answer or an
 * unreachable node, as the client library does. What they saw is checked against the clients'
 * history (test/checkers/watch.ts).
 */
import type { Prng } from "../../src/adapters/sim/prng.ts";
import { type Durability, type LockResponse, ResponseType } from "../../src/locks/types.ts";
import type { SeenChange, WatchLog } from "../checkers/watch.ts";
import { type ClientPort, clientTimeoutMs } from "./workload.ts";

export class SimWatcher {
  readonly log: WatchLog;
  private cursor: string | undefined;
  private inFlight: { deadlineMs: number; id: number } | undefined;
  private nextAtMs = 0;
  private nextId = 0;
  private stopped = false;

  constructor(
    name: string,
    private readonly random: Prng,
    private readonly port: ClientPort,
    resource: string,
    durability: Durability,
  ) {
    this.log = { watcher: name, resource, durability, seen: [] };
  }

  stop(): void {
    this.stopped = true;
  }

  step(nowMs: number): void {
    if (this.inFlight !== undefined && nowMs < this.inFlight.deadlineMs) return;
    if (this.inFlight !== undefined) {
      this.inFlight = undefined;
      this.nextAtMs = nowMs + this.random.between(1, 50);
    }
    if (this.stopped || nowMs < this.nextAtMs) return;
    const waitMs = this.cursor === undefined ? 0 : this.random.between(100, 2_000);
    const { resource, durability } = this.log;
    const request = {
      op: "watch",
      resource,
      durability,
      ...(this.cursor === undefined ? {} : { after: this.cursor }),
      ...(waitMs === 0 ? {} : { waitMs }),
    } as const;
    const id = this.nextId++;
    this.inFlight = { deadlineMs: nowMs + clientTimeoutMs + waitMs, id };
    const node = this.random.pick(this.port.nodes());
    this.port.send(node, request, (response, atMs) => this.onAnswer(id, response, atMs));
  }

  private onAnswer(id: number, response: LockResponse | "unreachable", nowMs: number): void {
    if (this.inFlight?.id !== id) return; // timed out already
    this.inFlight = undefined;
    if (response === "unreachable" || response.type !== ResponseType.Watched) {
      this.nextAtMs = nowMs + this.random.between(5, 100);
      return;
    }
    const watch = response.watch;
    if (watch === undefined) return;
    for (const event of watch.events) {
      const seen: SeenChange = {
        event,
        missed: watch.missed && event.kind === "state",
        atMs: nowMs,
      };
      this.log.seen.push(seen);
    }
    this.cursor = watch.cursor;
  }
}

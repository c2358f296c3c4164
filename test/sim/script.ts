/**
 * A scripted cluster for regression tests: real NodeHosts on simulated disks and clocks, and
 * a network the test drives by hand. Frames go out with no delay and no loss unless the test
 * holds them (a predicate per frame); held frames stay in flight, in send order, until the
 * test delivers, duplicates or drops them. Nothing is drawn from a run's seed: clocks run at
 * true rate from fixed origins, a crash loses every unsynced write, and each node's Raft
 * randomness is its own fixed stream, so a scenario reproduces its bug class by its steps.
 */
import { Prng } from "../../src/adapters/sim/prng.ts";
import { SimClock } from "../../src/adapters/sim/sim-clock.ts";
import { SimDisk } from "../../src/adapters/sim/sim-disk.ts";
import { tickMs } from "../../src/constants.ts";
import { NodeHost } from "../../src/host/node-host.ts";
import type { LockRequest, LockResponse } from "../../src/locks/types.ts";
import { decodePeerFrame, type PeerFrame } from "../../src/multiraft/peer-frame.ts";

export type Frame = { readonly from: string; readonly to: string; readonly bytes: Uint8Array };

/** A crash that keeps none of the unsynced writes (the worst a crash may do to an honest disk). */
class KeepNothing extends Prng {
  override int(_n: number): number {
    return 0;
  }
}

type ScriptedNode = {
  readonly id: string;
  readonly disk: SimDisk;
  host: NodeHost | undefined;
  clock: SimClock;
  nextTickMs: number;
  starts: number;
};

export class ScriptedCluster {
  nowMs = 0;
  readonly ids: string[];
  /** Frames held back by `hold`, in send order. */
  held: Frame[] = [];
  private readonly nodes = new Map<string, ScriptedNode>();
  private queue: Frame[] = [];
  private holdIf: (frame: Frame) => boolean = () => false;

  constructor(nodes: number, readonly groups = 1) {
    this.ids = Array.from({ length: nodes }, (_, i) => String(i + 1));
    for (const id of this.ids) {
      const node: ScriptedNode = {
        id,
        disk: new SimDisk({ random: new Prng(Number(id)) }),
        host: undefined,
        clock: new SimClock(0, 0, 0),
        nextTickMs: 0,
        starts: 0,
      };
      this.nodes.set(id, node);
      this.start(node);
    }
  }

  /** From now on, frames for which `predicate` holds stay in flight (in `held`). */
  hold(predicate: (frame: Frame) => boolean): void {
    this.holdIf = predicate;
  }

  /** Delivers a frame now (again, if it was delivered before), and flushes the receiver. */
  deliver(frame: Frame): void {
    const node = this.nodes.get(frame.to)!;
    if (node.host === undefined) return;
    node.host.receive(frame.bytes);
    this.flush(node);
  }

  /** Takes the held frames that match out of `held`, in send order. */
  take(predicate: (frame: Frame) => boolean): Frame[] {
    const taken = this.held.filter(predicate);
    this.held = this.held.filter((f) => !predicate(f));
    return taken;
  }

  /** Runs `ms` of true time: each ms, frames in flight arrive, nodes tick and flush. */
  run(ms: number): void {
    for (let i = 0; i < ms; i++) this.step();
  }

  /** Runs until `done` holds, at most `msMax` of true time; returns whether it did. */
  runUntil(done: () => boolean, msMax = 5_000): boolean {
    for (let i = 0; i < msMax && !done(); i++) this.step();
    return done();
  }

  leaderOf(group = 0): string | undefined {
    for (const node of this.nodes.values()) {
      const status = node.host?.groupStatuses().find((s) => s.group === group);
      if (status?.role === "leader") return node.id;
    }
    return undefined;
  }

  /** Whether `id` knows `leader` leads `group` (so it forwards to it). */
  knowsLeader(id: string, leader: string, group = 0): boolean {
    const status = this.nodes.get(id)!.host?.groupStatuses().find((s) => s.group === group);
    return status?.leader === leader;
  }

  /** Submits a client request at `id`; its answers (a correct host gives one) collect in the list. */
  submit(id: string, request: LockRequest): LockResponse[] {
    const answers: LockResponse[] = [];
    const node = this.nodes.get(id)!;
    node.host!.submit(request, (response) => answers.push(response));
    this.flush(node);
    return answers;
  }

  /** The process dies: its host is gone, and so is every unsynced write. */
  crash(id: string): void {
    const node = this.nodes.get(id)!;
    node.host = undefined;
    node.disk.crash(new KeepNothing(0));
  }

  /** A new process on the same disk, with a clock of a new origin. */
  restart(id: string): void {
    const node = this.nodes.get(id)!;
    node.clock = new SimClock(this.nowMs, 1_000_000 * node.starts, 0);
    this.start(node);
  }

  private start(node: ScriptedNode): void {
    const id = node.id;
    node.starts += 1;
    node.host = new NodeHost({
      nodeId: id,
      voters: this.ids,
      groups: this.groups,
      logStore: node.disk,
      transport: { send: (to, bytes) => this.queue.push({ from: id, to, bytes }) },
      clock: node.clock,
      random: new Prng(Number(id) * 1_000 + node.starts),
    });
    node.nextTickMs = node.clock.readingMs() + tickMs;
    this.flush(node);
  }

  private step(): void {
    this.nowMs += 1;
    const arriving = this.queue;
    this.queue = [];
    for (const frame of arriving) {
      if (this.holdIf(frame)) this.held.push(frame);
      else this.nodes.get(frame.to)!.host?.receive(frame.bytes);
    }
    for (const node of this.nodes.values()) {
      if (node.host === undefined) continue;
      node.clock.advanceTo(this.nowMs);
      while (node.clock.readingMs() >= node.nextTickMs) {
        node.host.tick();
        node.nextTickMs += tickMs;
      }
      this.flush(node);
    }
  }

  private flush(node: ScriptedNode): void {
    for (let round = 0; round < 16 && node.host !== undefined; round++) {
      if (node.host.flush() !== true) break;
    }
  }
}

/** The frame decoded (for predicates on what it carries). */
export function peerFrame(frame: Frame, groups = 1): PeerFrame {
  const decoded = decodePeerFrame(frame.bytes, groups);
  if ("error" in decoded) throw new Error(`a host sent a bad frame: ${decoded.error}`);
  return decoded;
}

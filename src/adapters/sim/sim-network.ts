/**
 * The simulated network between nodes. A frame sent at true time t is delivered at t + delay,
 * where the delay is random (so frames reorder), may be long (a slow link), and the frame may
 * be lost or duplicated. Links can be cut one way or both ways; a cut drops what is sent
 * across it (and what is already in flight, when it arrives). Frames to a node that is down
 * are dropped when they arrive.
 *
 * A duplicated frame is duplicated whole, forwarded client requests and answers included
 * (the host runs a duplicated forward once). `forwardsOnce` keeps those out of the copy, as
 * TCP would, which never delivers one write twice.
 *
 * Broken modes, for checker tests only: `misdeliver` moves Raft envelopes to another group,
 * `corruptTerm` raises the term carried by an entry. A correct node cannot detect either, so
 * the checkers must.
 *
 * Every frame goes through the real length-prefix framing (src/codec/frame.ts) with the
 * runtime's limit, as the TCP transport sends it: `send` encodes it (a payload over the limit
 * fails the same assertion that kills a real node), and each link's FrameReader takes it
 * apart on arrival (a frame it refuses is handed on as an error, as a real reader closes the
 * connection).
 *
 * Deterministic: every choice comes from the Prng given at construction; the queue is ordered
 * by (delivery time, send sequence).
 */
import { assert } from "../../assert.ts";
import { encodeFrame, FrameReader } from "../../codec/frame.ts";
import { frameBytesMax as runtimeFrameBytesMax } from "../../constants.ts";
import { decodePeerFrame, encodePeerFrame, type Envelope } from "../../multiraft/peer-frame.ts";
import type { NodeId } from "../../raft/types.ts";
import type { Prng } from "./prng.ts";

export type NetworkFaults = {
  /** Probability that a frame is lost. */
  lossRate: number;
  /** Probability that a frame is delivered twice. */
  duplicateRate: number;
  /** Probability that a frame takes a long path (up to `slowDelayMsMax`). */
  slowRate: number;
  delayMsMin: number;
  delayMsMax: number;
  slowDelayMsMax: number;
};

export type NetworkBreakage = {
  readonly misdeliver?: boolean;
  readonly corruptTerm?: boolean;
  /** A duplicated frame repeats only its Raft messages (TCP-like delivery of forwards). */
  readonly forwardsOnce?: boolean;
};

export const calmNetwork: NetworkFaults = {
  lossRate: 0,
  duplicateRate: 0,
  slowRate: 0,
  delayMsMin: 1,
  delayMsMax: 3,
  slowDelayMsMax: 3,
};

export type Delivery = { readonly from: NodeId; readonly to: NodeId; readonly frame: Uint8Array };

/** What arrived on a link: a frame's payload, or the receiving reader's error. */
export type Arrival = Delivery | {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly error: string;
};

export type NetworkStats = {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  cut: number;
  corrupted: number;
};

export class SimNetwork {
  faults: NetworkFaults = { ...calmNetwork };
  readonly stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    lost: 0,
    duplicated: 0,
    cut: 0,
    corrupted: 0,
  };
  private readonly cuts = new Set<string>();
  private readonly queue = new Map<number, Delivery[]>();
  private readonly readers = new Map<string, FrameReader>();
  private inFlight = 0;

  constructor(
    private readonly random: Prng,
    private readonly groups: number,
    private readonly breakage: NetworkBreakage = {},
    /** The framing limit of both ends of every link (the runtime's unless a test lowers it). */
    readonly frameBytesMax = runtimeFrameBytesMax,
  ) {}

  /** Stops frames from `from` to `to` (one way). */
  cut(from: NodeId, to: NodeId): void {
    this.cuts.add(`${from}>${to}`);
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cuts.has(`${from}>${to}`);
  }

  healAll(): void {
    this.cuts.clear();
  }

  cutCount(): number {
    return this.cuts.size;
  }

  /** The cut links, as "from>to", sorted (for reports). */
  cutLinks(): string[] {
    return [...this.cuts].sort();
  }

  /** Whether frames go out with no loss, duplication or slow path (the calm network). */
  isCalm(): boolean {
    const f = this.faults;
    return f.lossRate === 0 && f.duplicateRate === 0 && f.slowRate === 0 &&
      f.delayMsMax <= calmNetwork.delayMsMax;
  }

  /** Sends one peer frame; throws, as the runtime's encoder does, when it exceeds the limit. */
  send(from: NodeId, to: NodeId, frame: Uint8Array, nowMs: number): void {
    assert(from !== to, "a node does not send frames to itself");
    encodeFrame(frame, this.frameBytesMax); // the sender's check, before anything is sent
    this.stats.sent += 1;
    if (this.isCut(from, to)) {
      this.stats.cut += 1;
      return;
    }
    if (this.random.chance(this.faults.lossRate)) {
      this.stats.lost += 1;
      return;
    }
    const copies = this.random.chance(this.faults.duplicateRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated += 1;
    for (let i = 0; i < copies; i++) {
      const copy = i === 0 || !this.breakage.forwardsOnce ? frame : raftOnly(frame, this.groups);
      if (copy === undefined) continue;
      const bytes = encodeFrame(this.breakFrame(copy), this.frameBytesMax);
      this.enqueue(nowMs + this.delayMs(), { from, to, frame: bytes });
    }
  }

  /**
   * Frames due at `nowMs`, in send order, read by their link's FrameReader; frames crossing a
   * link cut since are dropped.
   */
  due(nowMs: number): Arrival[] {
    const bucket = this.queue.get(nowMs);
    if (bucket === undefined) return [];
    this.queue.delete(nowMs);
    this.inFlight -= bucket.length;
    const out: Arrival[] = [];
    for (const d of bucket) {
      if (this.isCut(d.from, d.to)) {
        this.stats.cut += 1;
        continue;
      }
      this.stats.delivered += 1;
      const read = this.readerFor(d.from, d.to).push(d.frame);
      if ("error" in read) {
        // A real reader closes the connection: whatever it held is gone with it.
        this.readers.delete(`${d.from}>${d.to}`);
        out.push({ from: d.from, to: d.to, error: read.error });
        continue;
      }
      for (const frame of read) out.push({ from: d.from, to: d.to, frame });
    }
    return out;
  }

  private readerFor(from: NodeId, to: NodeId): FrameReader {
    const key = `${from}>${to}`;
    let reader = this.readers.get(key);
    if (reader === undefined) this.readers.set(key, reader = new FrameReader(this.frameBytesMax));
    return reader;
  }

  pendingFrames(): number {
    return this.inFlight;
  }

  private enqueue(atMs: number, delivery: Delivery): void {
    const bucket = this.queue.get(atMs);
    if (bucket === undefined) this.queue.set(atMs, [delivery]);
    else bucket.push(delivery);
    this.inFlight += 1;
  }

  private delayMs(): number {
    const f = this.faults;
    if (this.random.chance(f.slowRate)) return this.random.between(f.delayMsMin, f.slowDelayMsMax);
    return this.random.between(f.delayMsMin, f.delayMsMax);
  }

  private breakFrame(frame: Uint8Array): Uint8Array {
    if (!this.breakage.misdeliver && !this.breakage.corruptTerm) return frame;
    const decoded = decodePeerFrame(frame, this.groups);
    if ("error" in decoded || !this.random.chance(0.2)) return frame;
    const envelopes = decoded.envelopes.map((e): Envelope => {
      if (this.breakage.misdeliver && this.groups > 1) {
        return {
          group: (e.group + 1 + this.random.int(this.groups - 1)) % this.groups,
          message: e.message,
        };
      }
      if (this.breakage.corruptTerm && e.message.entries.length > 0) {
        const entries = e.message.entries.map((x, i) => (i === 0 ? { ...x, term: x.term + 1 } : x));
        return { group: e.group, message: { ...e.message, entries } };
      }
      return e;
    });
    this.stats.corrupted += 1;
    return encodePeerFrame({ ...decoded, envelopes });
  }
}

/** The frame without forwarded requests and answers; undefined when nothing is left. */
function raftOnly(frame: Uint8Array, groups: number): Uint8Array | undefined {
  const decoded = decodePeerFrame(frame, groups);
  if ("error" in decoded) return frame;
  if (decoded.forwards.length === 0 && decoded.answers.length === 0) return frame;
  if (decoded.envelopes.length === 0) return undefined;
  return encodePeerFrame({ ...decoded, forwards: [], answers: [] });
}

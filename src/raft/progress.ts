/**
 * What a leader knows about one follower's log (etcd's tracker.Progress), and the flow
 * control that bounds in-flight append messages to it.
 *
 * - probe: we do not know where the follower's log matches; send one append at a time and
 *   wait for its answer (or a heartbeat answer) before the next.
 * - replicate: the follower is in sync; pipeline appends optimistically, at most
 *   `inflightMessagesMax` unacknowledged at once and, like etcd's MaxInflightBytes, at most
 *   `inflightBytesMax` bytes of entries (a message is sent while fewer are out, so one
 *   larger message may still go).
 * - snapshot: a snapshot is on its way; send nothing until the host reports the outcome.
 *
 * Invariants: match < next; match never goes back while this node leads.
 */
import { assert } from "../assert.ts";

export const ProgressState = {
  Probe: "probe",
  Replicate: "replicate",
  Snapshot: "snapshot",
} as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

/**
 * The last index and entry bytes of each unacknowledged append, oldest first (a bounded
 * FIFO, etcd's tracker.Inflights): full once `countMax` appends or `bytesMax` bytes are out.
 */
export class Inflights {
  private readonly appends: { readonly index: number; readonly bytes: number }[] = [];
  private bytesOut = 0;

  constructor(readonly countMax: number, readonly bytesMax: number) {
    assert(countMax >= 1, "at least one append may be in flight");
    assert(bytesMax >= 1, "at least one byte may be in flight");
  }

  get count(): number {
    return this.appends.length;
  }

  get bytes(): number {
    return this.bytesOut;
  }

  full(): boolean {
    return this.appends.length >= this.countMax || this.bytesOut >= this.bytesMax;
  }

  add(lastIndex: number, bytes: number): void {
    assert(!this.full(), "add to full inflights");
    const previous = this.appends[this.appends.length - 1];
    assert(previous === undefined || lastIndex > previous.index, "in-flight appends are in order");
    this.appends.push({ index: lastIndex, bytes });
    this.bytesOut += bytes;
  }

  /** Frees every append whose last index is at or below `index` (they are acknowledged). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.appends.length && this.appends[n]!.index <= index) {
      this.bytesOut -= this.appends[n]!.bytes;
      n++;
    }
    this.appends.splice(0, n);
  }

  freeFirstOne(): void {
    const first = this.appends.shift();
    if (first !== undefined) this.bytesOut -= first.bytes;
  }

  reset(): void {
    this.appends.length = 0;
    this.bytesOut = 0;
  }
}

export class Progress {
  state: ProgressState = ProgressState.Probe;
  /** In probe state: an append is out and we wait for an answer before sending another. */
  probeSent = false;
  pendingSnapshot = 0;
  /** Ticks spent in snapshot state, so a lost snapshot is retried. */
  snapshotElapsedTicks = 0;
  /** Heard from since the last CheckQuorum (Raft thesis §6.2). */
  recentActive = false;
  readonly inflights: Inflights;

  constructor(
    public match: number,
    public next: number,
    inflightMessagesMax: number,
    inflightBytesMax: number,
  ) {
    assert(match < next, "match is below next");
    this.inflights = new Inflights(inflightMessagesMax, inflightBytesMax);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotElapsedTicks = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, probe from after it: the follower has at least that much.
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** An acknowledgement of `index`; false if it is stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** Pipelining: assume the append up to `lastIndex` will succeed. */
  optimisticUpdate(lastIndex: number): void {
    this.next = lastIndex + 1;
  }

  /**
   * A rejection of the append at `rejected`; `hint` is where the follower suggests probing.
   * False if the rejection is stale (Raft §5.3: decrement next and retry).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }
}

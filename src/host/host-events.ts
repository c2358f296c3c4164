/**
 * What the host tells the runtime about, as it happens: the events an operator wants in the
 * log (docs/operations.md). The host stays synchronous and does no I/O: it calls the runtime's
 * callback with a plain value, and the runtime decides what to write and where. Events are
 * rare (a role change, a snapshot), never one per request.
 */
import type { NodeId } from "../raft/types.ts";

export type HostEvent =
  /** This node became the partition's leader. */
  | { readonly kind: "electionWon"; readonly group: number; readonly term: number }
  /** This node stood for election (or pre-vote) and is a follower again, without winning. */
  | {
    readonly kind: "electionLost";
    readonly group: number;
    readonly term: number;
    readonly stage: "preVote" | "vote";
    /** The leader it follows now, "" if none is known yet. */
    readonly leader: NodeId;
  }
  /** The leader this node knows for the partition changed; "" means none is known. */
  | {
    readonly kind: "leaderChanged";
    readonly group: number;
    readonly term: number;
    readonly leader: NodeId;
    readonly previous: NodeId;
  }
  /** Raft asked to send a snapshot to a follower too far behind; it streams in chunks. */
  | {
    readonly kind: "snapshotSending";
    readonly group: number;
    readonly to: NodeId;
    readonly index: number;
    readonly bytes: number;
  }
  /** A follower acknowledged every byte of a snapshot this node streamed to it. */
  | {
    readonly kind: "snapshotSent";
    readonly group: number;
    readonly to: NodeId;
    readonly index: number;
  }
  /** A whole, readable snapshot arrived from the leader and goes to Raft. */
  | {
    readonly kind: "snapshotReceived";
    readonly group: number;
    readonly from: NodeId;
    readonly index: number;
    readonly bytes: number;
  }
  /** This node snapshotted a partition's lock table and compacted the log behind it. */
  | { readonly kind: "snapshotTaken"; readonly group: number; readonly index: number };

export type HostEvents = (event: HostEvent) => void;

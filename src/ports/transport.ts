/**
 * Sending frames to peers. Fire and forget: Raft tolerates loss, so a send to an unreachable
 * peer is dropped (and reported to Raft by the host), never queued without bound.
 */
import type { NodeId } from "../raft/types.ts";

export type Transport = {
  send(to: NodeId, frame: Uint8Array): void;
};

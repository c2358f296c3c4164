/**
 * Writes the host's events (host-events.ts) to the node's log: the runtime's side of the
 * host's event port. Every entry names the partition and term as fields, so a log collector
 * can follow one partition; the message says what happened in words.
 */
import { unreachable } from "../assert.ts";
import type { HostEvent } from "../host/host-events.ts";
import type { Logger } from "./logger.ts";

export function logHostEvent(log: Logger, event: HostEvent): void {
  switch (event.kind) {
    case "electionWon":
      log.info("won the election", {
        event: event.kind,
        partition: event.group,
        term: event.term,
      });
      return;
    case "electionLost":
      log.info(event.stage === "vote" ? "lost the election" : "lost the pre-vote", {
        event: event.kind,
        partition: event.group,
        term: event.term,
        stage: event.stage,
        leader: event.leader === "" ? undefined : event.leader,
      });
      return;
    case "leaderChanged":
      if (event.leader === "") {
        log.warn("partition has no leader", {
          event: event.kind,
          partition: event.group,
          term: event.term,
          previous: event.previous,
        });
      } else {
        log.info("partition has a new leader", {
          event: event.kind,
          partition: event.group,
          term: event.term,
          leader: event.leader,
          previous: event.previous === "" ? undefined : event.previous,
        });
      }
      return;
    case "snapshotSending":
      log.info("sending a snapshot", {
        event: event.kind,
        partition: event.group,
        peer: event.to,
        index: event.index,
        bytes: event.bytes,
      });
      return;
    case "snapshotSent":
      log.info("snapshot sent", {
        event: event.kind,
        partition: event.group,
        peer: event.to,
        index: event.index,
      });
      return;
    case "snapshotReceived":
      log.info("snapshot received", {
        event: event.kind,
        partition: event.group,
        peer: event.from,
        index: event.index,
        bytes: event.bytes,
      });
      return;
    case "snapshotTaken":
      log.debug("took a snapshot", {
        event: event.kind,
        partition: event.group,
        index: event.index,
      });
      return;
    default:
      return unreachable(event);
  }
}

/**
 * Raft-level checkers over what the simulator observes of real NodeHosts:
 * - election safety: at most one leader per group per term (Raft §5.2);
 * - one vote per term: no node grants votes to two candidates in one term of a group, across
 *   its restarts and lost disks (what a node that lost its storage must not do);
 * - log matching over every node's *durable* log: two logs with an entry of the same index
 *   and term agree on every entry up to it (Raft §5.3);
 * - state machine safety: what each node applies, in order, is a prefix of one history per
 *   group (Raft §5.4.3), and snapshots taken at the same index are the same bytes.
 */
import type { SimDisk } from "../../src/adapters/sim/sim-disk.ts";
import { decodePeerFrame } from "../../src/multiraft/peer-frame.ts";
import { MessageType } from "../../src/raft/types.ts";
import type { Violation } from "../checkers/history.ts";
import { hashBytes } from "./trace.ts";

export class VoteCheck {
  private readonly votes = new Map<string, string>();
  readonly violations: Violation[] = [];

  /** A frame `voter` sent `to`: its granted votes are for `to`. */
  observe(voter: string, to: string, frame: Uint8Array, groups: number, atMs: number): void {
    // Votes travel in small frames (a leader's appends go in frames of their own): a cheap
    // filter, so the simulator does not decode every frame twice.
    if (frame.length > 64 * 1024) return;
    const decoded = decodePeerFrame(frame, groups);
    if ("error" in decoded) return;
    for (const { group, message } of decoded.envelopes) {
      if (message.type !== MessageType.VoteResp || message.reject) continue;
      const key = `${voter}/${group}/${message.term}`;
      const known = this.votes.get(key);
      if (known === undefined) this.votes.set(key, to);
      else if (known !== to && this.violations.length < 10) {
        this.violations.push({
          checker: "one vote per term",
          key: `group ${group}`,
          message: `n${voter} voted for n${known} and n${to} in term ${message.term} of group ` +
            `${group}`,
          atMs,
          ops: [],
        });
      }
    }
  }
}

export class LeaderCheck {
  private readonly leaders = new Map<string, string>();
  readonly violations: Violation[] = [];
  /** Per group, the true times at which a leader of a new term was first seen, ascending. */
  readonly changesMs = new Map<number, number[]>();
  terms = 0;

  observe(node: string, group: number, term: number, atMs: number): void {
    const key = `${group}/${term}`;
    const known = this.leaders.get(key);
    if (known === undefined) {
      this.leaders.set(key, node);
      this.terms += 1;
      const changes = this.changesMs.get(group);
      if (changes === undefined) this.changesMs.set(group, [atMs]);
      else changes.push(atMs);
    } else if (known !== node) {
      this.violations.push({
        checker: "election safety",
        key: `group ${group}`,
        message: `group ${group} term ${term} has two leaders: n${known} and n${node}`,
        atMs,
        ops: [],
      });
    }
  }
}

type AppliedEntry = { readonly term: number; readonly hash: number };

export class AppliedCheck {
  /** Per group: index → the entry some node applied there first. */
  private readonly history = new Map<number, Map<number, AppliedEntry>>();
  /** Per group: snapshot index → data hash. */
  private readonly snapshots = new Map<number, Map<number, number>>();
  /** Per node and group: the applied index last seen. */
  private readonly cursors = new Map<string, number>();
  readonly violations: Violation[] = [];
  applied = 0;

  /** A node (re)started: its state machine begins at `applied` (its snapshot). */
  reset(node: string, group: number, applied: number): void {
    this.cursors.set(`${node}/${group}`, applied);
  }

  observe(node: string, group: number, applied: number, disk: SimDisk, atMs: number): void {
    const key = `${node}/${group}`;
    const cursor = this.cursors.get(key) ?? 0;
    if (applied < cursor) {
      this.fail(
        `n${node} group ${group} applied index went back from ${cursor} to ${applied}`,
        atMs,
      );
    }
    if (applied <= cursor) return;
    this.cursors.set(key, applied);
    const snapshot = disk.visibleSnapshot(group);
    const snapshotIndex = snapshot?.metadata.index ?? 0;
    if (snapshot !== undefined && snapshotIndex > cursor) {
      this.observeSnapshot(group, snapshot.metadata.index, snapshot.data, atMs);
    }
    let history = this.history.get(group);
    if (history === undefined) this.history.set(group, history = new Map());
    for (let index = cursor + 1; index <= applied; index++) {
      const entry = disk.visibleEntry(group, index);
      if (entry === undefined && index <= snapshotIndex) continue; // it came in the snapshot
      if (entry === undefined) {
        this.fail(
          `n${node} group ${group} applied index ${index}, which its disk does not hold`,
          atMs,
        );
        return;
      }
      this.applied += 1;
      const seen: AppliedEntry = { term: entry.term, hash: hashBytes(entry.data) };
      const first = history.get(index);
      if (first === undefined) history.set(index, seen);
      else if (first.term !== seen.term || first.hash !== seen.hash) {
        this.fail(
          `n${node} group ${group} applied a different entry at index ${index} ` +
            `(term ${seen.term}) than another node (term ${first.term})`,
          atMs,
        );
        return;
      }
    }
  }

  private observeSnapshot(group: number, index: number, data: Uint8Array, atMs: number): void {
    let byIndex = this.snapshots.get(group);
    if (byIndex === undefined) this.snapshots.set(group, byIndex = new Map());
    const hash = hashBytes(data);
    const known = byIndex.get(index);
    if (known === undefined) byIndex.set(index, hash);
    else if (known !== hash) {
      this.fail(`group ${group} has two different snapshots at index ${index}`, atMs);
    }
  }

  private fail(message: string, atMs: number): void {
    if (this.violations.length < 20) {
      this.violations.push({ checker: "state machine safety", key: "", message, atMs, ops: [] });
    }
  }
}

/** Log matching over the durable logs of every pair of nodes, for every group. */
export function checkLogMatching(
  disks: ReadonlyMap<string, SimDisk>,
  groups: number,
  atMs: number,
): Violation[] {
  const violations: Violation[] = [];
  const nodes: string[] = [];
  for (const node of [...disks.keys()].sort()) {
    // What a crash now would leave must reopen: the engine replays it as a restart would.
    try {
      disks.get(node)!.durableGroup(0);
      nodes.push(node);
    } catch (error) {
      violations.push({
        checker: "durable storage",
        key: `n${node}`,
        message: `n${node}'s disk would not reopen after a crash now: ${String(error)}`,
        atMs,
        ops: [],
      });
    }
  }
  for (let group = 0; group < groups; group++) {
    const logs = nodes.map((node) => ({
      node,
      entries: disks.get(node)!.durableGroup(group).entries,
    }));
    for (let i = 0; i < logs.length; i++) {
      for (let j = i + 1; j < logs.length; j++) {
        const problem = comparePair(logs[i]!.entries, logs[j]!.entries);
        if (problem !== undefined) {
          violations.push({
            checker: "log matching",
            key: `group ${group}`,
            message: `group ${group}, n${logs[i]!.node} vs n${logs[j]!.node}: ${problem}`,
            atMs,
            ops: [],
          });
        }
      }
    }
  }
  return violations;
}

type LogEntry = { readonly term: number; readonly index: number; readonly data: Uint8Array };

function comparePair(a: readonly LogEntry[], b: readonly LogEntry[]): string | undefined {
  const aFirst = a[0]?.index ?? 1;
  const bFirst = b[0]?.index ?? 1;
  const lo = Math.max(aFirst, bFirst);
  const hi = Math.min(aFirst + a.length - 1, bFirst + b.length - 1);
  // The highest common index where the terms agree: everything below must agree too.
  let match = -1;
  for (let index = hi; index >= lo; index--) {
    if (a[index - aFirst]!.term === b[index - bFirst]!.term) {
      match = index;
      break;
    }
  }
  for (let index = lo; index <= match; index++) {
    const x = a[index - aFirst]!;
    const y = b[index - bFirst]!;
    if (x.index !== index || y.index !== index) return `log is not contiguous at index ${index}`;
    if (x.term !== y.term || hashBytes(x.data) !== hashBytes(y.data)) {
      return `entries at index ${index} differ (terms ${x.term}/${y.term}) below the matching ` +
        `entry at index ${match}`;
    }
  }
  return undefined;
}

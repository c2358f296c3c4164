/**
 * Every limit in one place. Relationships between them are asserted at load,
 * so a bad edit fails at start-up, not in production.
 */
import { assert } from "./assert.ts";

// Lock inputs (docs/spec.md §2).
export const resourceBytesMax = 512;
export const ownerBytesMax = 256;
/** A lock's value (what a leader proclaims, docs/spec.md §2.1): 1 to 256 UTF-8 bytes. */
export const valueBytesMax = 256;
export const expiresMsMin = 1;
export const expiresMsMax = 2_147_483_647;

// HTTP.
export const httpPortDefault = 2070;
export const peerPortDefault = 2071;
export const binaryPortDefault = 2072;
export const httpBodyBytesMax = 16 * 1024;

// CLI client commands: the default and the largest --timeout (one whole command, retries
// included). A few seconds: long enough for a leader election, short enough for a person.
export const cliTimeoutMsDefault = 5_000;
export const cliTimeoutMsMax = 600_000;

// Framing (peer and client binary protocol): 4-byte length prefix, then msgpack. A reader
// refuses a longer frame.
export const frameBytesMax = 16 * 1024 * 1024;

// Raft timing, in ticks of tickMs.
export const tickMs = 50;
export const heartbeatTicks = 1;
export const electionTicks = 10;

// Raft flow control.
export const entriesPerMessageMax = 512;
export const inflightMessagesMax = 256;
// Bytes of entries in unacknowledged appends to one follower of one group (etcd raft's
// MaxInflightBytes): a follower that returns after an outage gets its backlog this much at a
// time, not every group's whole pipeline in one flush.
export const inflightBytesMax = 2 * 1024 * 1024;
export const pendingProposalsMax = 100_000;
/**
 * Fair waiting (docs/spec.md §2.5): the longest `waitMs` a TryLock may ask for, and how many
 * waiters one resource's queue and one node's queues together may hold (more: MustRetry).
 */
export const waitMsMax = 300_000;
export const waitersPerResourceMax = 1_000;
export const waitersPerNodeMax = 10_000;
/**
 * Shared locks (docs/spec.md §2.8): the largest `limit` a shared TryLock may ask for, which is
 * also the limit of a shared TryLock that names none (readers of a read-write lock).
 */
export const sharedLimitMax = 1_000;
/**
 * Watches (docs/spec.md §2.6): the leader keeps the last `watchHistoryMax` changes of each
 * watched lock, for `watchIdleMs` after its last watch request ended (so a watcher's next
 * request finds what changed in between); at most `watchedLocksPerNodeMax` locks are watched
 * and `watchPollsPerNodeMax` watch requests wait on one node, `watchPollsPerResourceMax` on
 * one lock (more: MustRetry).
 */
export const watchHistoryMax = 64;
/**
 * Every replica keeps the last `watchRecentChangesMax` persistent changes of each partition, of
 * every lock, so that a new leader (or a leader that forgot an idle watch) can still answer a
 * watcher from its cursor.
 */
export const watchRecentChangesMax = 4096;
export const watchIdleMs = 30_000;
export const watchedLocksPerNodeMax = 10_000;
export const watchPollsPerNodeMax = 10_000;
export const watchPollsPerResourceMax = 1_000;
/** A watch cursor's length bound, in characters ("<token>.<phase>"). */
export const watchCursorCharsMax = 20;

// Multi-Raft.
export const partitionsDefault = 16;
export const partitionsMax = 1024;

// Snapshots: take one every this many applied entries, keep this many entries behind it.
export const snapshotEntries = 10_000;
export const compactionLagEntries = 1_000;

// Leases (docs/spec.md §2.3): clock rates agree within this bound (parts per million).
export const clockDriftPpmMax = 10_000;

// Ephemeral fencing tokens come from ranges reserved through Raft (src/locks/lock-machine.ts):
// each leaderStart reserves a block above every token any earlier leader could use, and a
// leader reserves further blocks as it needs them. A block wasted per leader change leaves
// 2^53 / 2^20 = 2^33 leader changes per partition before tokens leave the safe integers.
export const ephemeralTokenBlock = 2 ** 20;

// How far ahead of a grant the leader publishes its ephemeral horizon at once (SPEC §2.2).
export const ephemeralHorizonStepMs = 2_000;

assert(resourceBytesMax > 0 && ownerBytesMax > 0, "name bounds must be positive");
assert(cliTimeoutMsDefault > 0 && cliTimeoutMsDefault <= cliTimeoutMsMax, "CLI timeout bounds");
assert(expiresMsMin >= 1 && expiresMsMax === 2 ** 31 - 1, "expiresMs is an int32 range");
assert(heartbeatTicks < electionTicks, "heartbeats must come well within an election timeout");
assert(httpBodyBytesMax > resourceBytesMax * 4 + ownerBytesMax * 4, "a body must fit its fields");
assert(compactionLagEntries < snapshotEntries, "compaction keeps fewer entries than a snapshot");

// Raft core (src/raft): bytes of entries in one append message (at least one entry is always
// sent), committed entries handed to the host in one Ready, ReadIndex requests waiting for the
// leader's first commit in its term, and the length of a node id on the wire.
export const entriesBytesPerMessageMax = 1024 * 1024;
export const committedEntriesPerReadyMax = 4096;
export const readsPendingMax = 10_000;
export const nodeIdBytesMax = 256;

assert(entriesBytesPerMessageMax < frameBytesMax, "one append message fits in a frame");
assert(inflightBytesMax >= entriesBytesPerMessageMax, "a full append message may be in flight");

// Host: how long a client waits on a proposal or a ReadIndex read, in ticks.
export const proposalTimeoutTicks = 100;
export const readTimeoutTicks = 40;
// How many Ready rounds one flush may run before yielding to the event loop.
export const flushRoundsMax = 64;

assert(readTimeoutTicks > electionTicks, "a read waits longer than one election timeout");
assert(proposalTimeoutTicks > 2 * electionTicks, "a proposal outlives a leader election");

// Lock state machine (src/locks, src/codec/lock-command.ts). A lock command's encoded size is
// bounded by its two names plus a few numbers and headers; a sweep command (the names of
// released or expired records to remove) by sweepCommandBytesMax, which bounds every entry.
export const lockCommandBytesMax = 1536;
export const sweepCommandBytesMax = 64 * 1024;
export const entryDataBytesMax = sweepCommandBytesMax;
// Snapshot format of the lock state machine. Restore reads this one and version 1 (before
// lock records were swept and ephemeral tokens reserved), which it converts.
export const lockSnapshotVersion = 2;

// Sweeping (SPEC: records of released or expired locks may be removed after a grace period).
// The default grace, the longest one a flag may set, how many records a leader looks at per
// tick of each group (one sweep entry in flight per group at a time).
export const sweepGraceMsDefault = 60 * 60 * 1000;
export const sweepGraceMsMax = 365 * 24 * 60 * 60 * 1000;
export const sweepScanPerTick = 1024;
// A partition whose last snapshot held at least this many records takes a new one early once
// sweeps have removed more than half of them (src/host/group-host.ts, wantsSnapshot).
export const sweptSnapshotRecordsMin = 1_000;

assert(
  lockCommandBytesMax >= resourceBytesMax + ownerBytesMax + 64,
  "a lock command with the longest names must fit its byte bound",
);
assert(
  sweepCommandBytesMax >= lockCommandBytesMax + resourceBytesMax + 64,
  "a sweep command fits at least one name of the longest kind",
);

// Voters of one Raft group as a decoded snapshot may list them (docs/architecture.md: up to 5 today).
export const votersMax = 64;

// Runtime: bytes a socket may queue before its peer counts as stalled and is dropped.
export const socketBufferedBytesMax = 64 * 1024 * 1024;
assert(socketBufferedBytesMax >= 2 * frameBytesMax, "a socket can queue at least two frames");

// Runtime: after a certificate reload, the HTTPS port listens again once the old listener let
// go of it; tries, and the pause between them (2 s in all, then the node stops).
export const tlsRebindAttemptsMax = 200;
export const tlsRebindPauseMs = 10;
assert(tlsRebindAttemptsMax * tlsRebindPauseMs <= 5_000, "a reload re-listens within 5 s");

// A leader that has heard nothing about a snapshot it sent for this many election timeouts
// (the host did not report it, the message was lost) probes the follower again.
export const snapshotRetryElections = 4;

// Leader balance: how often a leader checks (ticks), and how long the preferred node must
// have been heard from without a gap before it gets its groups back.
export const balanceTicks = 20;
export const balanceStableTicks = 2 * electionTicks;
// After a transfer that did not happen, the next try waits twice as many balance rounds as
// the last, at most this many (balanceTicks * 64: about a minute).
export const balanceBackoffMax = 64;

// A node recovering from lost storage votes again only after this long (it may have voted in
// an election still under way when it lost its disk; every election timeout is below 2x).
export const recoveryWaitTicks = 3 * electionTicks;
assert(balanceStableTicks > electionTicks, "a returning node is stable for an election timeout");

// Forwarded requests a leader remembers (with their answers) to run a duplicate only once.
export const forwardsRememberedMax = 100_000;

// Peer frames the host builds (src/multiraft/frame-builder.ts): each stays within this many
// bytes; what does not fit goes in the next frame of the same flush. One Raft message always
// fits: an append carries at most entriesBytesPerMessageMax of entries plus one entry (a lock
// command), a snapshot travels in chunks of snapshotChunkBytes, and everything else is small.
export const peerFrameBytesMax = 4 * 1024 * 1024;
// Bytes a message or item may take beyond the data it carries (ids, numbers, headers): the
// frame builder's upper bound for one entry, and for a message or chunk without its payload.
export const peerEntryOverheadBytes = 24;
export const peerItemOverheadBytes = 64 * 1024;
// Snapshots stream in chunks (src/host/snapshot-transfer.ts): a leader keeps at most
// snapshotChunksInflightMax chunks unacknowledged per follower and group, resends from the
// last acknowledged offset after snapshotChunkRetryTicks without progress, and gives a
// transfer up after snapshotTransferIdleTicks without an acknowledgement. A receiver keeps one
// snapshot in progress per group, refuses one larger than snapshotBytesMax, and holds at most
// snapshotBytesMax of chunks in progress over all groups.
export const snapshotChunkBytes = 1024 * 1024;
export const snapshotChunksInflightMax = 2;
export const snapshotChunkRetryTicks = 2 * electionTicks;
export const snapshotTransferIdleTicks = 20 * electionTicks;
export const snapshotBytesMax = 1024 * 1024 * 1024;

assert(peerFrameBytesMax <= frameBytesMax, "a peer frame is never refused by a peer's reader");
assert(
  entriesBytesPerMessageMax + entryDataBytesMax +
      (entriesPerMessageMax + 1) * peerEntryOverheadBytes + peerItemOverheadBytes <=
    peerFrameBytesMax,
  "the largest append message fits in one peer frame",
);
assert(
  snapshotChunkBytes + peerItemOverheadBytes <= peerFrameBytesMax,
  "a snapshot chunk fits in one peer frame",
);
assert(
  snapshotChunkRetryTicks < snapshotTransferIdleTicks,
  "a transfer is retried before given up",
);
assert(snapshotBytesMax >= snapshotChunkBytes, "a snapshot may span at least one chunk");
assert(
  peerItemOverheadBytes >= (votersMax + 2) * (nodeIdBytesMax + 8) + 1024,
  "a message's ids, voters and numbers fit its overhead bound",
);
assert(
  partitionsDefault * (inflightBytesMax + snapshotChunksInflightMax * snapshotChunkBytes) <=
    socketBufferedBytesMax,
  "a peer catching up in every group of a default node does not overflow its socket",
);

/**
 * The longest client token a node reads (REST's Authorization header, the binary protocol's
 * auth item): the tokens `kahuna auth add` makes are 50 characters (docs/security.md).
 */
export const tokenCharsMax = 1024;

/**
 * Clients one auth file may list: more than any deployment needs, and few enough that comparing
 * a presented token's digest with every client's (in constant time) stays cheap per request.
 */
export const authClientsMax = 1_000;

// Log engine storage (src/storage, src/ports/file-system.ts; the engine replacing SQLite). A
// record's payload bound: one follower append (entriesBytesPerMessageMax of entries plus the
// one entry always sent, with their per-entry overhead) fits one record. A reader refuses a
// longer record as corrupt, so lowering this bound makes logs written before unreadable: raise
// it freely, lower it only with a segment format version. File names in the log directory are
// at most fileNameCharsMax characters (segments are named by number: 20 digits and a suffix).
export const recordPayloadBytesMax = 4 * 1024 * 1024;
// The log engine begins a new segment file once the current one would grow past
// logSegmentBytesTarget, and relocates the live entries holding the oldest segment once more
// than logSegmentsRetainedMax are kept: so a node's log takes about their product on disk,
// plus the live entries. A smaller target means more checkpoints; a larger one, longer opens.
export const logSegmentBytesTarget = 32 * 1024 * 1024;
export const logSegmentsRetainedMax = 8;
export const fileNameCharsMax = 64;

assert(
  recordPayloadBytesMax >=
    entriesBytesPerMessageMax + entryDataBytesMax +
      (entriesPerMessageMax + 1) * peerEntryOverheadBytes,
  "one follower append fits in one log record",
);
assert(recordPayloadBytesMax < 2 ** 31, "a record's length fits its u32 field with room to spare");
assert(logSegmentBytesTarget >= 2 * recordPayloadBytesMax, "a segment holds a few whole records");

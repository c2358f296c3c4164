/**
 * The lock state machine's whole state as bytes (a Raft snapshot's data), and back.
 *
 * Wire form (msgpack): [version, appliedIndex, baseTerm, lastNowMs, ephemeralEpoch, horizonMs,
 * [[resource, owner, fencingToken, leaseEndMs], ...]] with resources in ascending UTF-16 order,
 * so equal states give equal bytes. Decoding validates everything (it reads from disk or from
 * a peer) and never throws.
 */
import { decodeRawStrings, ownerError, resourceError, utf8Field } from "../codec/lock-command.ts";
import { encodeMsgpack } from "../codec/msgpack.ts";
import { ephemeralEpochMax, lockSnapshotVersion } from "../constants.ts";
import type { LockRecord } from "./lock-rules.ts";

export type MachineState = {
  appliedIndex: number;
  /** Term of the leader whose clock the lease ends and the horizon are expressed on. */
  baseTerm: number;
  /** Latest clock reading applied in the current base. */
  lastNowMs: number;
  /** -1 until the first leaderStart. */
  ephemeralEpoch: number;
  horizonMs: number;
  readonly records: Map<string, LockRecord>;
};

export function encodeSnapshot(state: MachineState): Uint8Array {
  const names = [...state.records.keys()].sort();
  const records = names.map((name) => {
    const r = state.records.get(name);
    return r === undefined ? [] : [name, r.owner, r.fencingToken, r.leaseEndMs];
  });
  return encodeMsgpack([
    lockSnapshotVersion,
    state.appliedIndex,
    state.baseTerm,
    state.lastNowMs,
    state.ephemeralEpoch,
    state.horizonMs,
    records,
  ]);
}

export function decodeSnapshot(data: Uint8Array): MachineState | { error: string } {
  const value = decodeRawStrings(data);
  if (value.error !== undefined) return { error: `lock snapshot: ${value.error}` };
  const v = value.decoded;
  if (!Array.isArray(v) || v.length !== 7) {
    return { error: "lock snapshot must be a 7-element array" };
  }
  if (v[0] !== lockSnapshotVersion) {
    return { error: `lock snapshot version ${String(v[0])} is not ${lockSnapshotVersion}` };
  }
  const [, appliedIndex, baseTerm, lastNowMs, ephemeralEpoch, horizonMs, list] = v;
  const header = headerError(appliedIndex, baseTerm, lastNowMs, ephemeralEpoch, horizonMs);
  if (header !== undefined) return { error: `lock snapshot: ${header}` };
  if (!Array.isArray(list)) return { error: "lock snapshot: records must be an array" };
  const records = new Map<string, LockRecord>();
  let previous: string | undefined;
  for (let i = 0; i < list.length; i++) {
    const entry = recordFromWire(list[i]);
    if ("error" in entry) return { error: `lock snapshot: record ${i}: ${entry.error}` };
    if (previous !== undefined && !(previous < entry.name)) {
      return { error: `lock snapshot: record ${i}: resources must be unique and sorted` };
    }
    previous = entry.name;
    records.set(entry.name, entry.record);
  }
  return { appliedIndex, baseTerm, lastNowMs, ephemeralEpoch, horizonMs, records };
}

function headerError(
  appliedIndex: unknown,
  baseTerm: unknown,
  lastNowMs: unknown,
  ephemeralEpoch: unknown,
  horizonMs: unknown,
): string | undefined {
  if (!isCount(appliedIndex)) return "appliedIndex must be a non-negative integer";
  if (!isCount(baseTerm)) return "baseTerm must be a non-negative integer";
  if (!isTime(lastNowMs) || lastNowMs < 0) return "lastNowMs must be a non-negative time";
  const epochOk = typeof ephemeralEpoch === "number" && Number.isInteger(ephemeralEpoch) &&
    ephemeralEpoch >= -1 && ephemeralEpoch < ephemeralEpochMax;
  if (!epochOk) return `ephemeralEpoch must be an integer from -1 to ${ephemeralEpochMax - 1}`;
  if (!isTime(horizonMs)) return "horizonMs must be a finite time";
  return undefined;
}

function recordFromWire(
  value: unknown,
): { name: string; record: LockRecord } | { error: string } {
  if (!Array.isArray(value) || value.length !== 4) return { error: "must be a 4-element array" };
  const name = utf8Field(value[0]);
  const owner = utf8Field(value[1]);
  const [, , fencingToken, leaseEndMs] = value;
  if (name === undefined) return { error: "resource is not a UTF-8 string" };
  if (owner === undefined) return { error: "owner is not a UTF-8 string" };
  const problem = resourceError(name) ?? (owner === "" ? undefined : ownerError(owner));
  if (problem !== undefined) return { error: problem };
  if (!isCount(fencingToken)) return { error: "fencingToken must be a non-negative integer" };
  if (!isTime(leaseEndMs)) return { error: "leaseEndMs must be a finite time" };
  if (owner === "" && leaseEndMs !== 0) return { error: "an unlocked record has leaseEndMs 0" };
  return { name, record: { owner, fencingToken, leaseEndMs } };
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** Lease ends may be negative: an expired lease rebased onto a clock that started at 0. */
function isTime(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) &&
    Math.abs(value) <= Number.MAX_SAFE_INTEGER;
}

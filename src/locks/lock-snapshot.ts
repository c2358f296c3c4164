/**
 * The lock state machine's whole state as bytes (a Raft snapshot's data), and back.
 *
 * Wire form (msgpack), version 2:
 *   [2, appliedIndex, baseTerm, lastNowMs, horizonMs, ephemeralFrom, ephemeralThrough,
 *    tokenFloor, [[resource, owner, fencingToken, leaseEndMs], ...]]
 * where a record with a published value is [resource, owner, fencingToken, leaseEndMs, value,
 * valueSeq] (written by versions that know values; older ones refuse it, naming the record),
 * and a shared record (docs/spec.md §2.8) is [resource, "", fencingToken, leaseEndMs, null, 0,
 * [[owner, fencingToken, leaseEndMs, limit, value or null, valueSeq], ...]] with its holders
 * in grant order (written by versions that know shared locks), with resources in ascending
 * UTF-16 order, so equal states give equal bytes. An unlocked
 * record (owner "") keeps in leaseEndMs the time it was unlocked.
 *
 * Version 1, written before records were swept and ephemeral tokens reserved, is read too:
 *   [1, appliedIndex, baseTerm, lastNowMs, ephemeralEpoch, horizonMs, records]
 * Its epoch e granted tokens e * 2^32 + count, so the converted state has reserved every
 * token through (e + 1) * 2^32 - 1 and the next leader starts above them; its unlocked records
 * (leaseEndMs 0) count as unlocked at lastNowMs, so their grace starts at the conversion.
 *
 * Decoding validates everything (it reads from disk or from a peer) and never throws.
 */
import {
  decodeRawStrings,
  limitError,
  ownerError,
  resourceError,
  utf8Field,
  valueError,
} from "../codec/lock-command.ts";
import { encodeMsgpack } from "../codec/msgpack.ts";
import { lockSnapshotVersion, sharedLimitMax } from "../constants.ts";
import { type Holder, type LockRecord, sharedRecord } from "./lock-rules.ts";

export type MachineState = {
  appliedIndex: number;
  /** Term of the leader whose clock the lease ends and the horizon are expressed on. */
  baseTerm: number;
  /** Latest clock reading applied in the current base. */
  lastNowMs: number;
  horizonMs: number;
  /** The first ephemeral token of the latest leaderStart's range. */
  ephemeralFrom: number;
  /** The highest ephemeral token any leader may grant (-1 before the first leaderStart). */
  ephemeralThrough: number;
  /** The first token of a persistent resource with no record: above every removed token. */
  tokenFloor: number;
  readonly records: Map<string, LockRecord>;
};

/** Tokens of version 1's epochs: epoch * 2^32 + count. */
const v1CountMax = 2 ** 32;
const v1EpochMax = 2 ** 20;

export function encodeSnapshot(state: MachineState): Uint8Array {
  const names = [...state.records.keys()].sort();
  const records = names.map((name) => {
    const r = state.records.get(name);
    if (r === undefined) return [];
    const plain = [name, r.owner, r.fencingToken, r.leaseEndMs];
    if (r.holders !== undefined) {
      const holders = r.holders.map((h) => [
        h.owner,
        h.fencingToken,
        h.leaseEndMs,
        h.limit,
        h.value ?? null,
        h.valueSeq ?? 0,
      ]);
      return [...plain, null, 0, holders];
    }
    return r.value === undefined && (r.valueSeq ?? 0) === 0
      ? plain
      : [...plain, r.value ?? null, r.valueSeq ?? 0];
  });
  return encodeMsgpack([
    lockSnapshotVersion,
    state.appliedIndex,
    state.baseTerm,
    state.lastNowMs,
    state.horizonMs,
    state.ephemeralFrom,
    state.ephemeralThrough,
    state.tokenFloor,
    records,
  ]);
}

export function decodeSnapshot(data: Uint8Array): MachineState | { error: string } {
  const value = decodeRawStrings(data);
  if (value.error !== undefined) return { error: `lock snapshot: ${value.error}` };
  const v = value.decoded;
  if (!Array.isArray(v)) return { error: "lock snapshot must be an array" };
  if (v[0] === 1) return decodeVersion1(v);
  if (v[0] !== lockSnapshotVersion) {
    return { error: `lock snapshot version ${String(v[0])} is not 1 or ${lockSnapshotVersion}` };
  }
  if (v.length !== 9) return { error: "lock snapshot must be a 9-element array" };
  const [
    ,
    appliedIndex,
    baseTerm,
    lastNowMs,
    horizonMs,
    ephemeralFrom,
    ephemeralThrough,
    tokenFloor,
    list,
  ] = v;
  const header = clockError(appliedIndex, baseTerm, lastNowMs, horizonMs) ??
    tokensError(ephemeralFrom, ephemeralThrough, tokenFloor);
  if (header !== undefined) return { error: `lock snapshot: ${header}` };
  const records = decodeRecords(list, (r) => r);
  if ("error" in records) return records;
  return {
    appliedIndex,
    baseTerm,
    lastNowMs,
    horizonMs,
    ephemeralFrom,
    ephemeralThrough,
    tokenFloor,
    records,
  } as MachineState;
}

function decodeVersion1(v: unknown[]): MachineState | { error: string } {
  if (v.length !== 7) return { error: "lock snapshot version 1 must be a 7-element array" };
  const [, appliedIndex, baseTerm, lastNowMs, epoch, horizonMs, list] = v;
  const header = clockError(appliedIndex, baseTerm, lastNowMs, horizonMs);
  if (header !== undefined) return { error: `lock snapshot: ${header}` };
  const epochOk = typeof epoch === "number" && Number.isInteger(epoch) && epoch >= -1 &&
    epoch < v1EpochMax;
  if (!epochOk) {
    return {
      error: `lock snapshot: ephemeralEpoch must be an integer from -1 to ${v1EpochMax - 1}`,
    };
  }
  const now = lastNowMs as number;
  const records = decodeRecords(list, (r) => {
    if (r.owner !== "") return r;
    return r.leaseEndMs === 0 ? { ...r, leaseEndMs: now } : "an unlocked record has leaseEndMs 0";
  });
  if ("error" in records) return records;
  return {
    appliedIndex: appliedIndex as number,
    baseTerm: baseTerm as number,
    lastNowMs: now,
    horizonMs: horizonMs as number,
    ephemeralFrom: Math.max(0, epoch) * v1CountMax,
    ephemeralThrough: (epoch + 1) * v1CountMax - 1,
    tokenFloor: 0,
    records,
  };
}

function decodeRecords(
  list: unknown,
  convert: (record: LockRecord) => LockRecord | string,
): Map<string, LockRecord> | { error: string } {
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
    const record = convert(entry.record);
    if (typeof record === "string") return { error: `lock snapshot: record ${i}: ${record}` };
    records.set(entry.name, record);
  }
  return records;
}

function clockError(
  appliedIndex: unknown,
  baseTerm: unknown,
  lastNowMs: unknown,
  horizonMs: unknown,
): string | undefined {
  if (!isCount(appliedIndex)) return "appliedIndex must be a non-negative integer";
  if (!isCount(baseTerm)) return "baseTerm must be a non-negative integer";
  if (!isTime(lastNowMs) || lastNowMs < 0) return "lastNowMs must be a non-negative time";
  if (!isTime(horizonMs)) return "horizonMs must be a finite time";
  return undefined;
}

function tokensError(from: unknown, through: unknown, floor: unknown): string | undefined {
  if (!isCount(from)) return "ephemeralFrom must be a non-negative integer";
  const throughOk = typeof through === "number" && Number.isSafeInteger(through) &&
    through >= from - 1;
  if (!throughOk) return "ephemeralThrough must be an integer from ephemeralFrom - 1 up";
  if (!isCount(floor)) return "tokenFloor must be a non-negative integer";
  return undefined;
}

function recordFromWire(
  value: unknown,
): { name: string; record: LockRecord } | { error: string } {
  if (!Array.isArray(value) || value.length < 4 || value.length > 7 || value.length === 5) {
    return { error: "must be a 4-element array (6 with a value, 7 when shared)" };
  }
  const name = utf8Field(value[0]);
  const owner = utf8Field(value[1]);
  const [, , fencingToken, leaseEndMs, rawValue, valueSeq] = value;
  if (name === undefined) return { error: "resource is not a UTF-8 string" };
  if (owner === undefined) return { error: "owner is not a UTF-8 string" };
  const problem = resourceError(name) ?? (owner === "" ? undefined : ownerError(owner));
  if (problem !== undefined) return { error: problem };
  if (!isCount(fencingToken)) return { error: "fencingToken must be a non-negative integer" };
  if (!isTime(leaseEndMs)) return { error: "leaseEndMs must be a finite time" };
  if (value.length === 4) return { name, record: { owner, fencingToken, leaseEndMs } };
  if (value.length === 7) {
    if (owner !== "" || rawValue !== null || valueSeq !== 0) {
      return { error: 'a shared record has owner "", value null and valueSeq 0' };
    }
    const holders = holdersFromWire(value[6], fencingToken);
    if ("error" in holders) return holders;
    const record = sharedRecord(fencingToken, holders);
    if (record.leaseEndMs !== leaseEndMs) {
      return { error: "a shared record's leaseEndMs must be its holders' latest" };
    }
    return { name, record };
  }
  const published = rawValue === null ? undefined : utf8Field(rawValue);
  if (rawValue !== null && published === undefined) {
    return { error: "value is not a UTF-8 string" };
  }
  const valueProblem = published === undefined ? undefined : valueError(published);
  if (valueProblem !== undefined) return { error: valueProblem };
  if (!isCount(valueSeq)) return { error: "valueSeq must be a non-negative integer" };
  return {
    name,
    record: {
      owner,
      fencingToken,
      leaseEndMs,
      ...(published === undefined ? {} : { value: published }),
      ...(valueSeq === 0 ? {} : { valueSeq }),
    },
  };
}

/** A shared record's holders: 1..sharedLimitMax, owners unique, tokens ascending to `last`. */
function holdersFromWire(list: unknown, last: number): Holder[] | { error: string } {
  if (!Array.isArray(list) || list.length === 0 || list.length > sharedLimitMax) {
    return { error: `holders must be an array of 1 to ${sharedLimitMax}` };
  }
  const holders: Holder[] = [];
  const owners = new Set<string>();
  let previous = -1;
  for (let i = 0; i < list.length; i++) {
    const h = holderFromWire(list[i]);
    if (typeof h === "string") return { error: `holder ${i}: ${h}` };
    if (owners.has(h.owner)) return { error: `holder ${i}: owners must be unique` };
    if (h.fencingToken <= previous || h.fencingToken > last) {
      return { error: `holder ${i}: tokens must ascend, up to the record's ${last}` };
    }
    owners.add(h.owner);
    previous = h.fencingToken;
    holders.push(h);
  }
  return holders;
}

function holderFromWire(value: unknown): Holder | string {
  if (!Array.isArray(value) || value.length !== 6) return "must be a 6-element array";
  const owner = utf8Field(value[0]);
  const [, fencingToken, leaseEndMs, limit, rawValue, valueSeq] = value;
  if (owner === undefined) return "owner is not a UTF-8 string";
  const problem = ownerError(owner);
  if (problem !== undefined) return problem;
  if (!isCount(fencingToken)) return "fencingToken must be a non-negative integer";
  if (!isTime(leaseEndMs)) return "leaseEndMs must be a finite time";
  const limitProblem = limitError("tryLock", limit);
  if (limitProblem !== undefined) return limitProblem;
  const published = rawValue === null ? undefined : utf8Field(rawValue);
  if (rawValue !== null && published === undefined) return "value is not a UTF-8 string";
  const valueProblem = published === undefined ? undefined : valueError(published);
  if (valueProblem !== undefined) return valueProblem;
  if (!isCount(valueSeq)) return "valueSeq must be a non-negative integer";
  return {
    owner,
    fencingToken,
    leaseEndMs,
    limit: limit as number,
    ...(published === undefined ? {} : { value: published }),
    ...(valueSeq === 0 ? {} : { valueSeq }),
  };
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** Lease ends may be negative: an expired lease rebased onto a clock that started at 0. */
function isTime(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) &&
    Math.abs(value) <= Number.MAX_SAFE_INTEGER;
}

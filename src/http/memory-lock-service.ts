/**
 * An in-memory LockService with the lock rules of docs/spec.md §2.1 and §2.8 (the same
 * lock-rules.ts the host judges by), for tests of the HTTP layer over real sockets (Bun.serve
 * in-process) without a Raft node. It is a test twin, not the product: no replication, no
 * durability, no waiting in line, one clock. The real service is the host's.
 */
import { unreachable } from "../assert.ts";
import * as rules from "../locks/lock-rules.ts";
import { ResponseType } from "../locks/types.ts";
import type { LockRequest, LockResponse, LockService } from "../locks/types.ts";

export class MemoryLockService implements LockService {
  readonly #records = new Map<string, rules.LockRecord>();
  readonly #nowMs: () => number;

  constructor(nowMs: () => number) {
    this.#nowMs = nowMs;
  }

  execute(request: LockRequest): Promise<LockResponse> {
    return Promise.resolve(this.apply(request));
  }

  apply(request: LockRequest): LockResponse {
    const key = `${request.durability}/${request.resource}`;
    const record = this.#records.get(key);
    const nowMs = this.#nowMs();
    let outcome: rules.Outcome;
    switch (request.op) {
      case "tryLock": {
        const { owner, expiresMs, value, limit } = request;
        outcome = rules.tryLock(record, owner, expiresMs, nowMs, 0, value, limit);
        break;
      }
      case "extend":
        outcome = rules.extend(record, request.owner, request.expiresMs, nowMs, request.value);
        break;
      case "unlock":
        outcome = rules.unlock(record, request.owner, nowMs);
        break;
      case "get":
        return wholeMs(rules.get(record, nowMs));
      case "watch":
        return watchNow(record, nowMs, request.after !== undefined);
      default:
        return unreachable(request);
    }
    if (outcome.record !== undefined) this.#records.set(key, outcome.record);
    return outcome.response;
  }
}

/** Leases in whole milliseconds, at least 1 while held, as the host answers them. */
function wholeMs(response: LockResponse): LockResponse {
  if (response.expiresMs === undefined) return response;
  const whole = (ms: number) => Math.max(1, Math.floor(ms));
  return {
    ...response,
    expiresMs: whole(response.expiresMs),
    ...(response.holders === undefined
      ? {}
      : { holders: response.holders.map((h) => ({ ...h, expiresMs: whole(h.expiresMs) })) }),
  };
}

/** The lock's state now, at once: no history and no waiting in this twin. */
function watchNow(record: rules.LockRecord | undefined, nowMs: number, after: boolean) {
  if (rules.isHeldShared(record, nowMs)) {
    return {
      type: ResponseType.InvalidInput,
      fencingToken: 0,
      error: "resource: watch follows exclusive locks, and this one is held shared",
    };
  }
  const held = rules.isHeld(record, nowMs);
  const token = record?.fencingToken ?? 0;
  const cursor = record === undefined ? "0.0" : `${token}.${held ? 1 : 2}`;
  const event = held && record !== undefined
    ? { kind: "state", cursor, owner: record.owner, fencingToken: token, expiresMs: 1 } as const
    : { kind: "state", cursor, owner: "", fencingToken: token } as const;
  return {
    type: ResponseType.Watched,
    fencingToken: 0,
    watch: { cursor, missed: after, events: [event] },
  };
}

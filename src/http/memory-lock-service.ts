/**
 * An in-memory LockService with the rules of docs/spec.md §2.1, for tests of the HTTP layer over
 * real sockets (Bun.serve in-process) without a Raft node. It is a test twin, not the product:
 * no replication, no durability, one clock. The real service is the host's.
 */
import { unreachable } from "../assert.ts";
import { ResponseType } from "../locks/types.ts";
import type { LockRequest, LockResponse, LockService } from "../locks/types.ts";

type Entry = { owner: string; fencingToken: number; untilMs: number; unlocked: boolean };

export class MemoryLockService implements LockService {
  readonly #entries = new Map<string, Entry>();
  readonly #nowMs: () => number;

  constructor(nowMs: () => number) {
    this.#nowMs = nowMs;
  }

  execute(request: LockRequest): Promise<LockResponse> {
    return Promise.resolve(this.apply(request));
  }

  apply(request: LockRequest): LockResponse {
    const key = `${request.durability}/${request.resource}`;
    const entry = this.#entries.get(key);
    const nowMs = this.#nowMs();
    const held = entry !== undefined && !entry.unlocked && entry.untilMs > nowMs;
    switch (request.op) {
      case "tryLock": {
        if (held && entry.owner === request.owner) {
          return { type: ResponseType.Locked, fencingToken: entry.fencingToken };
        }
        if (held) return { type: ResponseType.Busy, fencingToken: 0 };
        const fencingToken = entry === undefined ? 0 : entry.fencingToken + 1;
        const untilMs = nowMs + request.expiresMs;
        this.#entries.set(key, { owner: request.owner, fencingToken, untilMs, unlocked: false });
        return { type: ResponseType.Locked, fencingToken };
      }
      case "extend": {
        if (!held) return { type: ResponseType.LockDoesNotExist, fencingToken: 0 };
        if (entry.owner !== request.owner) {
          return { type: ResponseType.InvalidOwner, fencingToken: 0 };
        }
        entry.untilMs = nowMs + request.expiresMs;
        return { type: ResponseType.Extended, fencingToken: entry.fencingToken };
      }
      case "unlock": {
        if (entry === undefined || entry.unlocked) {
          return { type: ResponseType.LockDoesNotExist, fencingToken: 0 };
        }
        if (entry.owner !== request.owner) {
          return held
            ? { type: ResponseType.InvalidOwner, fencingToken: 0 }
            : { type: ResponseType.LockDoesNotExist, fencingToken: 0 };
        }
        entry.unlocked = true;
        return { type: ResponseType.Unlocked, fencingToken: entry.fencingToken };
      }
      case "get": {
        if (!held) return { type: ResponseType.LockDoesNotExist, fencingToken: 0 };
        return {
          type: ResponseType.Got,
          fencingToken: entry.fencingToken,
          owner: entry.owner,
          // Whole milliseconds, at least 1: the lease is still held.
          expiresMs: Math.max(1, Math.floor(entry.untilMs - nowMs)),
        };
      }
      case "watch": {
        // The lock's state now, at once: no history and no waiting in this twin.
        const token = entry?.fencingToken ?? 0;
        const cursor = entry === undefined ? "0.0" : `${token}.${held ? 1 : 2}`;
        const event = held
          ? {
            kind: "state",
            cursor,
            owner: entry.owner,
            fencingToken: token,
            expiresMs: 1,
          } as const
          : { kind: "state", cursor, owner: "", fencingToken: token } as const;
        return {
          type: ResponseType.Watched,
          fencingToken: 0,
          watch: { cursor, missed: request.after !== undefined, events: [event] },
        };
      }
      default:
        return unreachable(request);
    }
  }
}

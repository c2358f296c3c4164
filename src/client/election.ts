/**
 * Leader election on a lock (docs/client.md): a candidate campaigns by waiting in the lock's
 * line with its value; the lock's holder is the leader, its fencing token the term of office
 * (it only grows, so a write stamped with an old term can be refused), its published value
 * what observers see. Leadership lasts while the lease is kept alive; `lost` aborts before the
 * lease could have run out unrenewed, which is before any other candidate can be elected.
 */
import { Durability } from "../locks/types.ts";
import type { KahunaClient, LockChange } from "./client.ts";
import { KahunaError, KahunaErrorKind } from "./errors.ts";
import type { KahunaLock } from "./lock.ts";
import { randomOwner } from "./owner.ts";
import { untilAborted } from "./until-aborted.ts";
import { checkValue } from "./validate.ts";

export type CampaignOptions = {
  /** The term's lease, renewed every third of it while leading (default 10000 ms). */
  readonly expiresMs?: number;
  readonly durability?: Durability;
  /** How long to campaign before giving up (KahunaError "notAcquired"); default: no end. */
  readonly waitMs?: number;
  /** Stops the campaign (KahunaError "aborted"); a leadership it won meanwhile is resigned. */
  readonly signal?: AbortSignal;
};

/** Who leads, as observers see it. */
export type Leader = {
  readonly value: string;
  /** The leader's fencing token: higher for every new term. */
  readonly term: number;
  readonly owner: string;
};

const termMsDefault = 10_000;
/** The longest wait one request asks a server for; a longer campaign asks again. */
const waitPerRequestMs = 300_000;

export class Leadership {
  readonly name: string;
  readonly #lock: KahunaLock;
  readonly #client: KahunaClient;
  readonly #expiresMs: number;
  #value: string;

  constructor(
    client: KahunaClient,
    name: string,
    lock: KahunaLock,
    value: string,
    expiresMs: number,
  ) {
    this.#client = client;
    this.name = name;
    this.#lock = lock;
    this.#value = value;
    this.#expiresMs = expiresMs;
    lock.keepAlive();
  }

  /** The term of office: the lock's fencing token. Stamp writes with it. */
  get term(): number {
    return this.#lock.fencingToken;
  }

  get value(): string {
    return this.#value;
  }

  /** The candidate id this leadership holds the lock as. */
  get owner(): string {
    return this.#lock.owner;
  }

  /**
   * Aborts once this process can no longer count on leading: the lease could have run out
   * without a confirmed renewal, or a renewal was refused. Stop acting as leader then.
   */
  get lost(): AbortSignal {
    return this.#lock.lost;
  }

  /** Publishes a new value for this term (observers see "proclaimed"). */
  async proclaim(value: string): Promise<void> {
    checkValue(value);
    if (this.lost.aborted) throw lostError(this.name);
    const { owner, resource, durability } = this.#lock;
    const answer = await this.#client.extendDetail(
      resource,
      owner,
      this.#expiresMs,
      durability,
      value,
    );
    if (!answer.extended) throw lostError(this.name);
    this.#value = value;
  }

  /** Steps down: releases the lock, so the next candidate in line is elected at once. */
  async resign(): Promise<void> {
    await this.#lock.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#lock[Symbol.asyncDispose]();
  }
}

function lostError(name: string): KahunaError {
  return new KahunaError(
    KahunaErrorKind.Lost,
    `lost the leadership of ${JSON.stringify(name)}: its lease was not renewed in time`,
  );
}

/**
 * Campaigns for `name` with `value`: waits in the lock's line (first come, first elected) until
 * elected, `waitMs` passes, or `signal` aborts.
 */
export async function campaign(
  client: KahunaClient,
  name: string,
  value: string,
  options: CampaignOptions = {},
): Promise<Leadership> {
  checkValue(value);
  const expiresMs = options.expiresMs ?? termMsDefault;
  const durability = options.durability ?? Durability.Persistent;
  const owner = randomOwner();
  const endMs = performance.now() + (options.waitMs ?? Number.POSITIVE_INFINITY);
  const signal = options.signal;
  for (;;) {
    if (signal?.aborted === true) throw abortedError(name);
    const waitMs = Math.max(0, Math.min(waitPerRequestMs, Math.floor(endMs - performance.now())));
    const asking = client.getOrCreateLock(name, { expiresMs, waitMs, durability, owner, value });
    const lock = signal === undefined ? await asking : await untilAborted(asking, signal);
    if (lock === undefined) {
      // Aborted while waiting: a grant that comes anyway is handed on at once.
      asking.then((late) => late.release(), () => {});
      throw abortedError(name);
    }
    if (lock.isAcquired) return new Leadership(client, name, lock, value, expiresMs);
    if (performance.now() >= endMs - 1) {
      throw new KahunaError(
        KahunaErrorKind.NotAcquired,
        `not elected leader of ${JSON.stringify(name)} within ${options.waitMs} ms: ` +
          "another candidate leads",
      );
    }
  }
}

function abortedError(name: string): KahunaError {
  return new KahunaError(
    KahunaErrorKind.Aborted,
    `stopped campaigning for ${JSON.stringify(name)}`,
  );
}

/** The leader a watch event names: held states, acquisitions and proclamations have one. */
export function leaderOf(change: LockChange): Leader | null {
  const leads = change.kind === "acquired" || change.kind === "proclaimed" ||
    (change.kind === "state" && change.owner !== "");
  if (!leads) return null;
  return { value: change.value ?? "", term: change.fencingToken, owner: change.owner };
}

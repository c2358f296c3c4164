/**
 * A lock as its holder sees it. `isAcquired` is what this process knows: it turns false on
 * release and when an extend finds the lease lost, never back to true (take a new lock).
 * `lost` and `keepAlive` follow the lease (keep-alive.ts); a lease whose deadline passed leaves
 * `isAcquired` true, so release() still unlocks what the server may still hold for this owner.
 */
import type { Durability } from "../locks/types.ts";
import type { KahunaClient, LockInfo } from "./client.ts";
import { type LeaseGrant, LeaseKeeper } from "./keep-alive.ts";

export class KahunaLock {
  readonly resource: string;
  readonly owner: string;
  readonly durability: Durability;
  readonly #client: KahunaClient;
  #acquired: boolean;
  #fencingToken: number;
  readonly #lease: LeaseKeeper;

  constructor(
    client: KahunaClient,
    resource: string,
    owner: string,
    durability: Durability,
    acquired: boolean,
    fencingToken: number,
    /** When the granted request was sent and its lease; undefined when not acquired. */
    grant: LeaseGrant | undefined,
  ) {
    this.#client = client;
    this.resource = resource;
    this.owner = owner;
    this.durability = durability;
    this.#acquired = acquired;
    this.#fencingToken = fencingToken;
    this.#lease = new LeaseKeeper(resource, acquired ? grant : undefined, async (expiresMs) => {
      return await client.extendDetail(resource, owner, expiresMs, durability);
    });
  }

  get isAcquired(): boolean {
    return this.#acquired;
  }

  /** The token of this grant: pass it to the resource you protect. 0 when not acquired. */
  get fencingToken(): number {
    return this.#fencingToken;
  }

  /** Renews the lease for `expiresMs` from now; false when the lease was lost (or never held). */
  async tryExtend(expiresMs: number): Promise<boolean> {
    if (!this.#acquired) return false;
    const extended = await this.#lease.extend(expiresMs);
    if (!extended) this.#acquired = false;
    return extended;
  }

  /**
   * Aborted (reason: a KahunaError of kind "lost") once the lease can no longer be counted on:
   * an extend was answered "no", or the spec's deadline (sent-at of the last confirmed request
   * + expiresMs × 99%) passed with no renewal confirmed. Already aborted when not acquired.
   */
  get lost(): AbortSignal {
    return this.#lease.signal;
  }

  /** How much longer the lease can be counted on, in ms (0 once lost or not held). */
  get leaseLeftMs(): number {
    return this.#acquired ? this.#lease.leftMs : 0;
  }

  /** Renews the lease every third of it until release() or loss; returns `lost`. */
  keepAlive(): AbortSignal {
    return this.#acquired ? this.#lease.keepAlive() : this.#lease.signal;
  }

  /** The lock's current holder (maybe another owner), or null when nobody holds it. */
  async getInfo(): Promise<LockInfo | null> {
    return await this.#client.get(this.resource, this.durability);
  }

  /** Unlocks if this lock holds it; true when the server confirmed the unlock. */
  async release(): Promise<boolean> {
    this.#lease.stop();
    if (!this.#acquired) return false;
    const unlocked = await this.#client.unlock(this.resource, this.owner, this.durability);
    this.#acquired = false;
    return unlocked;
  }

  /**
   * `await using` calls this. It never throws: when no server can be reached the lease simply
   * runs out on its own, and throwing here would hide the error of the block that used it.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.release();
    } catch {
      this.#acquired = false;
    }
  }
}

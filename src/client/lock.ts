/**
 * A lock as its holder sees it. `isAcquired` is what this process knows: it turns false on
 * release and when an extend finds the lease lost, never back to true (take a new lock).
 */
import type { Durability } from "../locks/types.ts";
import type { KahunaClient, LockInfo } from "./client.ts";

export class KahunaLock {
  readonly resource: string;
  readonly owner: string;
  readonly durability: Durability;
  readonly #client: KahunaClient;
  #acquired: boolean;
  #fencingToken: number;

  constructor(
    client: KahunaClient,
    resource: string,
    owner: string,
    durability: Durability,
    acquired: boolean,
    fencingToken: number,
  ) {
    this.#client = client;
    this.resource = resource;
    this.owner = owner;
    this.durability = durability;
    this.#acquired = acquired;
    this.#fencingToken = fencingToken;
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
    const result = await this.#client.extend(this.resource, this.owner, expiresMs, this.durability);
    if (!result.extended) this.#acquired = false;
    return result.extended;
  }

  /** The lock's current holder (maybe another owner), or null when nobody holds it. */
  async getInfo(): Promise<LockInfo | null> {
    return await this.#client.get(this.resource, this.durability);
  }

  /** Unlocks if this lock holds it; true when the server confirmed the unlock. */
  async release(): Promise<boolean> {
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

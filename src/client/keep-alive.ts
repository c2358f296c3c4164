/**
 * The lease as its holder may count on it (docs/spec.md §2.3): a grant or an extend whose request
 * was sent at `sentAtMs` (performance.now(), taken just before the call and so before its first
 * attempt) holds the lock until at least `sentAtMs + expiresMs × (1 − drift)`, the deadline.
 * `lost` aborts when that deadline passes with no later renewal confirmed, or at once when an
 * extend is answered "not the owner" or "does not exist". `keepAlive` renews every third of the
 * lease, with the same expiresMs.
 *
 * Invariants:
 * - Extends run one at a time, so an answered extend was applied before the next was sent.
 * - The deadline moves only on a confirmed answer, to that call's sent-at plus the shortest
 *   lease any extend that might still be applied after it asked for: a call that threw (a
 *   timeout, no server) may have been applied, late, with its own expiresMs.
 * - `lost` never un-aborts; the timers stop on `stop()` (release) and on loss.
 */
import { clockDriftPpmMax } from "../constants.ts";
import { KahunaError, KahunaErrorKind } from "./errors.ts";

/** When the request that granted (or last extended) the lease was sent, and for how long. */
export type LeaseGrant = { readonly sentAtMs: number; readonly expiresMs: number };

/** An extend's outcome as the keeper needs it: a "no" says why. */
export type ExtendOutcome =
  | { readonly extended: true }
  | { readonly extended: false; readonly reason: "notOwner" | "doesNotExist" };

/** The fraction of a lease a holder may count on: 1 − 1% (SPEC §2.3). */
export const leaseTrustFraction = 1 - clockDriftPpmMax / 1_000_000;
/** Renew when this fraction of the lease has passed since the last confirmed request was sent. */
const renewFraction = 1 / 3;
/** After an extend that failed (no server answered), try again this soon (at most). */
const retryAfterFailureMs = 250;

export class LeaseKeeper {
  readonly #resource: string;
  readonly #extend: (expiresMs: number) => Promise<ExtendOutcome>;
  readonly #controller = new AbortController();
  /** When the last confirmed request (grant or extend) was sent, and the lease it asked for. */
  #confirmedSentAtMs: number;
  #expiresMs: number;
  #deadlineMs: number;
  /** The shortest expiresMs of every extend that threw: it may still be applied, late. */
  #unsureExpiresMsMin = Number.POSITIVE_INFINITY;
  /** Extends in order: each starts after the previous one settled. */
  #chain: Promise<unknown> = Promise.resolve();
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #renewTimer: ReturnType<typeof setTimeout> | undefined;
  #watching = false;
  #keepingAlive = false;
  #stopped = false;

  constructor(
    resource: string,
    grant: LeaseGrant | undefined,
    extend: (expiresMs: number) => Promise<ExtendOutcome>,
  ) {
    this.#resource = resource;
    this.#extend = extend;
    this.#confirmedSentAtMs = grant?.sentAtMs ?? 0;
    this.#expiresMs = grant?.expiresMs ?? 0;
    this.#deadlineMs = grant === undefined ? 0 : deadlineOf(grant.sentAtMs, grant.expiresMs);
    if (grant === undefined) {
      this.#lose(`the lock on ${JSON.stringify(resource)} was not acquired`, "notAcquired");
    }
  }

  /** Aborted once the lease can no longer be counted on; armed on first use. */
  get signal(): AbortSignal {
    this.#watch();
    return this.#controller.signal;
  }

  /** How much longer the lease can be counted on, in ms; 0 once lost or past the deadline. */
  get leftMs(): number {
    if (this.#controller.signal.aborted) return 0;
    return Math.max(0, this.#deadlineMs - performance.now());
  }

  /** Extends for `expiresMs` after the extends already under way; false when the lock is lost. */
  extend(expiresMs: number): Promise<boolean> {
    const next = this.#chain.then(() => this.#extendNow(expiresMs));
    this.#chain = next.catch(() => undefined);
    return next;
  }

  /** Renews every third of the lease until `stop()` or loss; the `lost` signal. */
  keepAlive(): AbortSignal {
    this.#watch();
    if (!this.#keepingAlive && !this.#stopped && !this.#controller.signal.aborted) {
      this.#keepingAlive = true;
      this.#scheduleRenewal(this.#renewAtMs());
    }
    return this.#controller.signal;
  }

  /** The holder let go (release): no more renewals or loss; `lost` stays as it is. */
  stop(): void {
    this.#stopped = true;
    this.#clearTimers();
  }

  async #extendNow(expiresMs: number): Promise<boolean> {
    const sentAtMs = performance.now();
    let outcome: ExtendOutcome;
    try {
      outcome = await this.#extend(expiresMs);
    } catch (error) {
      this.#unsureExpiresMsMin = Math.min(this.#unsureExpiresMsMin, expiresMs);
      throw error;
    }
    if (!outcome.extended) {
      const why = outcome.reason === "notOwner"
        ? "another owner holds it"
        : "nobody holds it any more (it ran out, or was unlocked)";
      this.#lose(`lost the lock on ${JSON.stringify(this.#resource)}: ${why}`, "lost");
      return false;
    }
    this.#confirmedSentAtMs = sentAtMs;
    this.#expiresMs = expiresMs;
    const trustedMs = Math.min(expiresMs, this.#unsureExpiresMsMin);
    this.#deadlineMs = deadlineOf(sentAtMs, trustedMs);
    if (this.#watching) this.#armDeadline();
    return true;
  }

  #watch(): void {
    if (this.#watching) return;
    this.#watching = true;
    this.#armDeadline();
  }

  #armDeadline(): void {
    if (this.#stopped || this.#controller.signal.aborted) return;
    clearTimeout(this.#deadlineTimer);
    const delayMs = this.#deadlineMs - performance.now();
    const expired = () =>
      this.#lose(
        `lost the lock on ${JSON.stringify(this.#resource)}: no renewal was confirmed before ` +
          `the lease could have run out`,
        "lost",
      );
    if (delayMs <= 0) expired();
    else this.#deadlineTimer = setTimeout(expired, delayMs);
  }

  /** A third of the lease after the last confirmed request was sent. */
  #renewAtMs(): number {
    return this.#confirmedSentAtMs + this.#renewEveryMs();
  }

  #scheduleRenewal(atMs: number): void {
    clearTimeout(this.#renewTimer);
    if (this.#stopped || this.#controller.signal.aborted) return;
    const delayMs = Math.max(0, atMs - performance.now());
    this.#renewTimer = setTimeout(() => void this.#renew(), delayMs);
  }

  async #renew(): Promise<void> {
    if (this.#stopped || this.#controller.signal.aborted) return;
    try {
      if (!(await this.extend(this.#expiresMs))) return;
      this.#scheduleRenewal(this.#renewAtMs());
    } catch (error) {
      if (!(error instanceof KahunaError)) throw error;
      // The client was shut down: nothing more can be sent. The deadline still fires `lost`.
      if (error.kind === KahunaErrorKind.Aborted) return;
      const retryMs = Math.min(retryAfterFailureMs, this.#renewEveryMs());
      this.#scheduleRenewal(performance.now() + retryMs);
    }
  }

  #renewEveryMs(): number {
    return this.#expiresMs * renewFraction;
  }

  #lose(message: string, kind: "lost" | "notAcquired"): void {
    if (this.#controller.signal.aborted) return;
    this.#clearTimers();
    const errorKind = kind === "lost" ? KahunaErrorKind.Lost : KahunaErrorKind.NotAcquired;
    this.#controller.abort(new KahunaError(errorKind, message));
  }

  #clearTimers(): void {
    clearTimeout(this.#deadlineTimer);
    clearTimeout(this.#renewTimer);
    this.#deadlineTimer = undefined;
    this.#renewTimer = undefined;
  }
}

function deadlineOf(sentAtMs: number, expiresMs: number): number {
  return sentAtMs + expiresMs * leaseTrustFraction;
}

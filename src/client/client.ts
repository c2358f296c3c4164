/**
 * KahunaClient: the library's entry point (docs/client.md). The low-level calls mirror the four
 * operations one to one; getOrCreateLock wraps them in a KahunaLock with waiting and
 * disposal. A definite "no" is a value; only invalid input and exhausted retries throw.
 */
import { sharedLimitMax } from "../constants.ts";
import { Durability, type LockHolder, ResponseType } from "../locks/types.ts";
import { KahunaError, KahunaErrorKind } from "./errors.ts";
import { BinaryFailover } from "./binary-failover.ts";
import { type Answer, Failover, sleep } from "./failover.ts";
import { KahunaLock } from "./lock.ts";
import { randomOwner } from "./owner.ts";
import { untilAborted } from "./until-aborted.ts";
import { withLock } from "./with-lock.ts";
import {
  campaign,
  type CampaignOptions,
  type Leader,
  leaderOf,
  type Leadership,
} from "./election.ts";
import {
  checkDurability,
  checkExpiresMs,
  checkMs,
  checkOwner,
  checkResource,
  checkValue,
} from "./validate.ts";

export type ClientOptions = {
  /**
   * Base URLs, e.g. "http://127.0.0.1:2070"; with `transport: "binary"`, host:port of each
   * server's binary port, e.g. "127.0.0.1:2072". Calls fail over between them.
   */
  readonly servers: readonly string[];
  /**
   * "rest" (default): JSON over HTTP with fetch. "binary": the client binary protocol over
   * one pipelined TCP connection per server (node:net), much cheaper per call; call
   * `close()` when done, or let the process end (idle connections do not hold it open).
   */
  readonly transport?: "rest" | "binary";
  /** Limit on one request (HTTP request or binary call), default 5000 ms. */
  readonly timeoutMs?: number;
  /** Attempts after the first, default 8. */
  readonly retries?: number;
  /** Limit on one call with all its retries, default 30000 ms. */
  readonly deadlineMs?: number;
  /**
   * Aborting it ends every call of this client with a KahunaError of kind Aborted: at once
   * over REST, after the request in flight over binary. No retry starts after it.
   */
  readonly signal?: AbortSignal;
  /**
   * PEM text of the CA that signed the servers' certificates (docs/security.md), for servers
   * started with --tls-cert: REST to https:// URLs trusts it (Bun, Deno; under Node set
   * NODE_EXTRA_CA_CERTS instead), and the binary transport then speaks TLS.
   */
  readonly ca?: string;
  /** The binary transport over TLS; default: when `ca` is given. REST follows the URL. */
  readonly tls?: boolean;
  /**
   * The client token (`kahuna_…`, from `kahuna auth add`) for servers started with
   * --auth-file (docs/security.md): REST sends it as `Authorization: Bearer`, the binary
   * transport in its handshake. Use it over TLS: on plain HTTP anyone on the path can read it.
   */
  readonly token?: string;
};

export type LockOptions = {
  /** Lease length: the lock is yours for this long unless extended. */
  readonly expiresMs: number;
  /**
   * Wait in the lock's line (first in, first out, on the server) until acquired or this much
   * time has passed; 0 (default) = one try, answered at once.
   */
  readonly waitMs?: number;
  readonly durability?: Durability;
  /** Default: 32 random hex characters. */
  readonly owner?: string;
  /** Published with the grant for others to read (get, watch): 1 to 256 UTF-8 bytes. */
  readonly value?: string;
} & ShareOptions;

/**
 * How a lock is shared (docs/client.md): `exclusive` (default) admits one holder; `shared`
 * admits up to `limit` holders at once (default and most 1000) and excludes exclusive ones: a
 * semaphore of `limit` permits, or the readers of a read-write lock whose writer is exclusive.
 * A `limit` alone means shared.
 */
export type ShareOptions = {
  readonly mode?: LockMode;
  readonly limit?: number;
};

export type LockMode = "exclusive" | "shared";

export type LockResult = { readonly locked: boolean; readonly fencingToken: number };
export type ExtendResult = { readonly extended: boolean; readonly fencingToken: number };
export type LockInfo = {
  readonly owner: string;
  readonly fencingToken: number;
  /** Remaining lease, in ms, as the server saw it when it answered. */
  readonly expiresMs: number;
  /** What the holder published, if anything. */
  readonly value?: string;
  /**
   * Only for a shared lock: every holder, oldest grant first (the newest is also the top-level
   * owner, token and lease), and the most holders it admits now.
   */
  readonly holders?: readonly LockHolder[];
  readonly limit?: number;
};

export type WatchOptions = {
  readonly durability?: Durability;
  /** Resume after this event's cursor (a LockChange's `cursor`); omitted, start with the state. */
  readonly after?: string;
  /** How long one request waits on the server for a change, default 25000 ms (1 to 300000). */
  readonly pollMs?: number;
  /**
   * Ends the watch: the iterator returns at once. Over REST the request in flight is cancelled;
   * over binary it ends on the server at its `pollMs`.
   */
  readonly signal?: AbortSignal;
};

/**
 * One event of a watched lock (docs/client.md): its state (first, and after a gap), or a change
 * of holder. Send `cursor` back as `after` to resume after it.
 */
export type LockChange = {
  readonly kind: "state" | "acquired" | "proclaimed" | "released" | "expired";
  /** The holder the change is about; for a state, the holder now ("" when free). */
  readonly owner: string;
  readonly fencingToken: number;
  /** Acquired: the lease granted. A held state: the lease left when the server answered. */
  readonly expiresMs?: number;
  /** Acquired, proclaimed, a held state: the holder's published value, if it has one. */
  readonly value?: string;
  readonly cursor: string;
  /** A state that stands for changes the server could not account for (a new leader, a gap). */
  readonly missed: boolean;
};

/** Why an unlock answered "no": the CLI prints it. */
export type UnlockResult =
  | { readonly unlocked: true; readonly fencingToken: number }
  | {
    readonly unlocked: false;
    readonly fencingToken: number;
    readonly reason: "notOwner" | "doesNotExist";
  };

/** Why an extend answered "no". */
export type ExtendDetail =
  | { readonly extended: true; readonly fencingToken: number }
  | {
    readonly extended: false;
    readonly fencingToken: number;
    readonly reason: "notOwner" | "doesNotExist";
  };

const timeoutMsDefault = 5_000;
const retriesDefault = 8;
const deadlineMsDefault = 30_000;
/** The longest wait one request asks a server for (its waitMs limit); longer waits re-ask. */
const waitMsPerRequestMax = 300_000;
/** A grant that came more than this share of its lease after its request is renewed at once. */
const renewAfterWaitShare = 0.1;
/** A server that answered Busy well before the wait was up is asked again after this pause. */
const earlyBusyPauseMs = 100;
const pollMsDefault = 25_000;

/** What KahunaClient sends its calls through: REST (failover.ts) or binary. */
type Transport = {
  readonly servers: readonly string[];
  call(
    path: string,
    body: Record<string, unknown>,
    waitUntilMs?: number,
    signal?: AbortSignal,
  ): Promise<Answer>;
};

export class KahunaClient {
  readonly #failover: Transport;
  readonly #binary: BinaryFailover | undefined;

  constructor(options: ClientOptions) {
    const servers = options.servers.map((server) => server.trim().replace(/\/+$/, ""))
      .filter((server) => server !== "");
    if (servers.length === 0) {
      throw new KahunaError(KahunaErrorKind.InvalidInput, "servers must list at least one URL");
    }
    const transport = options.transport ?? "rest";
    if (transport !== "rest" && transport !== "binary") {
      throw new KahunaError(
        KahunaErrorKind.InvalidInput,
        `transport must be "rest" or "binary", got ${JSON.stringify(transport)}`,
      );
    }
    if (transport === "rest") { for (const server of servers) checkUrl(server); }
    const timeoutMs = options.timeoutMs ?? timeoutMsDefault;
    const retries = options.retries ?? retriesDefault;
    const deadlineMs = options.deadlineMs ?? deadlineMsDefault;
    checkMs("timeoutMs", timeoutMs, 1);
    checkMs("retries", retries, 0);
    checkMs("deadlineMs", deadlineMs, 1);
    if (options.token !== undefined) checkToken(options.token);
    const failoverOptions = {
      servers,
      timeoutMs,
      retries,
      deadlineMs,
      signal: options.signal,
      tls: options.ca !== undefined || options.tls === true ? { ca: options.ca } : undefined,
      token: options.token,
    };
    this.#binary = transport === "binary" ? new BinaryFailover(failoverOptions) : undefined;
    this.#failover = this.#binary ?? new Failover(failoverOptions);
  }

  /** Closes the binary transport's connections (a no-op over REST); later calls reopen them. */
  close(): void {
    this.#binary?.close();
  }

  get servers(): readonly string[] {
    return this.#failover.servers;
  }

  /**
   * Tries to lock `resource`, waiting in its line on the server up to `waitMs` (no polling:
   * the server answers when the lock is granted, docs/client.md); the lock may come back not
   * acquired. After a leader change the request joins the new leader's line.
   */
  async getOrCreateLock(resource: string, options: LockOptions): Promise<KahunaLock> {
    const owner = options.owner ?? randomOwner();
    const durability = options.durability ?? Durability.Persistent;
    const waitMs = options.waitMs ?? 0;
    checkResource(resource);
    checkOwner(owner);
    checkExpiresMs(options.expiresMs);
    checkDurability(durability);
    checkMs("waitMs", waitMs, 0);
    if (options.value !== undefined) checkValue(options.value);
    const share = shareFields(options);
    const waitUntilMs = performance.now() + waitMs;
    for (;;) {
      const askedAtMs = performance.now();
      const untilMs = Math.min(waitUntilMs, askedAtMs + waitMsPerRequestMax);
      const body = {
        resource,
        owner,
        expiresMs: options.expiresMs,
        durability,
        ...(options.value === undefined ? {} : { value: options.value }),
        ...share,
      };
      const answer = await this.#failover.call(
        "/v1/locks/try-lock",
        body,
        waitMs > 0 ? untilMs : undefined,
      );
      expectType(answer.type, [ResponseType.Locked, ResponseType.Busy], "try-lock");
      if (answer.type === ResponseType.Locked) {
        const token = answer.fencingToken;
        // The lease counts from the send of the granted request (docs/spec.md §2.3). A grant
        // after a wait in line began its lease when it was granted, later: after a long wait
        // it is renewed at once, so that what this process counts on starts now (§2.5).
        let grant = { sentAtMs: askedAtMs, expiresMs: options.expiresMs };
        if (performance.now() - askedAtMs > options.expiresMs * renewAfterWaitShare) {
          const renewedAtMs = performance.now();
          const renewed = await this.extendDetail(resource, owner, options.expiresMs, durability);
          if (!renewed.extended) {
            return new KahunaLock(this, resource, owner, durability, false, 0, undefined);
          }
          grant = { sentAtMs: renewedAtMs, expiresMs: options.expiresMs };
        }
        return new KahunaLock(this, resource, owner, durability, true, token, grant);
      }
      const nowMs = performance.now();
      if (nowMs >= waitUntilMs - 1) {
        return new KahunaLock(this, resource, owner, durability, false, 0, undefined);
      }
      // Busy well before the wait was up (a server that does not queue): ask again, gently.
      if (nowMs < untilMs - earlyBusyPauseMs) {
        await sleep(Math.min(earlyBusyPauseMs, waitUntilMs - nowMs));
      }
    }
  }

  /**
   * Runs `work` holding the lock, renewed every third of the lease; `signal` (the lock's `lost`)
   * aborts before the lease could run out unrenewed. Releases when `work` ends, and returns its
   * value. Throws KahunaError "notAcquired" when another owner held the lock past `waitMs`.
   */
  async withLock<T>(
    resource: string,
    options: LockOptions,
    work: (lock: KahunaLock, signal: AbortSignal) => Promise<T> | T,
  ): Promise<T> {
    return await withLock(this, resource, options, work);
  }

  async tryLock(
    resource: string,
    owner: string,
    expiresMs: number,
    durability: Durability = Durability.Persistent,
    value?: string,
    share: ShareOptions = {},
  ): Promise<LockResult> {
    checkResource(resource);
    checkOwner(owner);
    checkExpiresMs(expiresMs);
    checkDurability(durability);
    if (value !== undefined) checkValue(value);
    const shared = shareFields(share);
    const answer = await this.#failover.call("/v1/locks/try-lock", {
      resource,
      owner,
      expiresMs,
      durability,
      ...(value === undefined ? {} : { value }),
      ...shared,
    });
    const locked = answer.type === ResponseType.Locked;
    expectType(answer.type, [ResponseType.Locked, ResponseType.Busy], "try-lock");
    return { locked, fencingToken: answer.fencingToken };
  }

  async unlock(
    resource: string,
    owner: string,
    durability: Durability = Durability.Persistent,
  ): Promise<boolean> {
    return (await this.unlockDetail(resource, owner, durability)).unlocked;
  }

  /**
   * Unlock, saying why not. After an attempt with an unknown outcome, a retry that finds the
   * lock gone counts as unlocked: the earlier attempt most likely did it, and either way the
   * owner no longer holds the lock.
   */
  async unlockDetail(
    resource: string,
    owner: string,
    durability: Durability = Durability.Persistent,
  ): Promise<UnlockResult> {
    checkResource(resource);
    checkOwner(owner);
    checkDurability(durability);
    const answer = await this.#failover.call("/v1/locks/try-unlock", {
      resource,
      owner,
      durability,
    });
    expectType(
      answer.type,
      [ResponseType.Unlocked, ResponseType.InvalidOwner, ResponseType.LockDoesNotExist],
      "try-unlock",
    );
    const fencingToken = answer.fencingToken;
    if (answer.type === ResponseType.Unlocked) return { unlocked: true, fencingToken };
    if (answer.type === ResponseType.LockDoesNotExist && answer.afterUnknownOutcome) {
      return { unlocked: true, fencingToken };
    }
    const reason = answer.type === ResponseType.InvalidOwner ? "notOwner" : "doesNotExist";
    return { unlocked: false, fencingToken, reason };
  }

  async extend(
    resource: string,
    owner: string,
    expiresMs: number,
    durability: Durability = Durability.Persistent,
  ): Promise<ExtendResult> {
    const detail = await this.extendDetail(resource, owner, expiresMs, durability);
    return { extended: detail.extended, fencingToken: detail.fencingToken };
  }

  /** Extend; with `value`, the holder publishes it in place of the one it had. */
  async extendDetail(
    resource: string,
    owner: string,
    expiresMs: number,
    durability: Durability = Durability.Persistent,
    value?: string,
  ): Promise<ExtendDetail> {
    checkResource(resource);
    checkOwner(owner);
    checkExpiresMs(expiresMs);
    checkDurability(durability);
    if (value !== undefined) checkValue(value);
    const answer = await this.#failover.call("/v1/locks/try-extend", {
      resource,
      owner,
      expiresMs,
      durability,
      ...(value === undefined ? {} : { value }),
    });
    expectType(
      answer.type,
      [ResponseType.Extended, ResponseType.InvalidOwner, ResponseType.LockDoesNotExist],
      "try-extend",
    );
    const fencingToken = answer.fencingToken;
    if (answer.type === ResponseType.Extended) return { extended: true, fencingToken };
    const reason = answer.type === ResponseType.InvalidOwner ? "notOwner" : "doesNotExist";
    return { extended: false, fencingToken, reason };
  }

  /**
   * The lock's changes of holder, as they happen (docs/client.md): first its state, then each
   * acquired, released and expired, in order, none lost while the iterator runs (each request
   * asks for the changes after the last one seen; across a leader change the server says when
   * it cannot account for them: a state with `missed`). Throws KahunaError when the servers
   * stay unreachable past the client's deadline; resume with the last `cursor` as `after`.
   */
  async *watch(resource: string, options: WatchOptions = {}): AsyncGenerator<LockChange> {
    const durability = options.durability ?? Durability.Persistent;
    const pollMs = options.pollMs ?? pollMsDefault;
    checkResource(resource);
    checkDurability(durability);
    checkMs("pollMs", pollMs, 1);
    if (pollMs > waitMsPerRequestMax) {
      throw new KahunaError(
        KahunaErrorKind.InvalidInput,
        `pollMs must be an integer from 1 to ${waitMsPerRequestMax}, got ${pollMs}`,
      );
    }
    let cursor = options.after;
    const signal = options.signal;
    while (signal?.aborted !== true) {
      const body = { resource, durability, ...(cursor === undefined ? {} : { after: cursor }) };
      const call = this.#failover.call(
        "/v1/locks/watch",
        body,
        cursor === undefined ? undefined : performance.now() + pollMs,
        signal,
      );
      const answer = signal === undefined ? await call : await untilAborted(call, signal);
      if (answer === undefined) return;
      expectType(answer.type, [ResponseType.Watched], "watch");
      const watch = answer.watch;
      if (watch === undefined) {
        throw new KahunaError(
          KahunaErrorKind.Unavailable,
          "the server's watch answer had no events",
        );
      }
      for (const event of watch.events) {
        yield { ...event, missed: watch.missed && event.kind === "state" };
      }
      cursor = watch.cursor;
    }
  }

  /**
   * Campaigns to lead `name` (docs/client.md): waits in the lock's line with `value` until
   * elected. The leadership's `term` is its fencing token, renewed while held; `lost` aborts
   * before another candidate could be elected; `resign()` hands over at once.
   */
  async campaign(name: string, value: string, options: CampaignOptions = {}): Promise<Leadership> {
    return await campaign(this, name, value, options);
  }

  /** Who leads `name` now (its value and term), or null when nobody does. */
  async leader(
    name: string,
    durability: Durability = Durability.Persistent,
  ): Promise<Leader | null> {
    const info = await this.get(name, durability);
    if (info === null) return null;
    return { value: info.value ?? "", term: info.fencingToken, owner: info.owner };
  }

  /**
   * The leaders of `name` as they change: first who leads now (or null), then each new
   * leader, each new value it proclaims, and null when it steps down or its term runs out.
   */
  async *observe(
    name: string,
    options: Omit<WatchOptions, "after"> = {},
  ): AsyncGenerator<Leader | null> {
    let last: Leader | null | undefined;
    for await (const change of this.watch(name, options)) {
      const leader = leaderOf(change);
      const same = last !== undefined &&
        (last === null
          ? leader === null
          : leader !== null && leader.term === last.term && leader.value === last.value);
      if (same) continue;
      last = leader;
      yield leader;
    }
  }

  /** The current holder, or null when the lock is free, unlocked or expired. */
  async get(
    resource: string,
    durability: Durability = Durability.Persistent,
  ): Promise<LockInfo | null> {
    checkResource(resource);
    checkDurability(durability);
    const answer = await this.#failover.call("/v1/locks/get-info", { resource, durability });
    expectType(answer.type, [ResponseType.Got, ResponseType.LockDoesNotExist], "get-info");
    if (answer.type !== ResponseType.Got || answer.owner === null) return null;
    return {
      owner: answer.owner,
      fencingToken: answer.fencingToken,
      expiresMs: answer.expiresMs,
      ...(answer.value === undefined ? {} : { value: answer.value }),
      ...(answer.holders === undefined ? {} : { holders: answer.holders, limit: answer.limit }),
    };
  }
}

/** The request fields of ShareOptions, checked: `{ limit }` for a shared lock, else none. */
function shareFields(options: ShareOptions): { limit?: number } {
  const { mode, limit } = options;
  if (mode !== undefined && mode !== "exclusive" && mode !== "shared") {
    throw new KahunaError(
      KahunaErrorKind.InvalidInput,
      `mode must be "exclusive" or "shared", got ${JSON.stringify(mode)}`,
    );
  }
  if (limit === undefined) return mode === "shared" ? { limit: sharedLimitMax } : {};
  if (!Number.isInteger(limit) || limit < 1 || limit > sharedLimitMax) {
    throw new KahunaError(
      KahunaErrorKind.InvalidInput,
      `limit must be an integer from 1 to ${sharedLimitMax}, got ${String(limit)}`,
    );
  }
  if (mode === "exclusive") {
    throw new KahunaError(
      KahunaErrorKind.InvalidInput,
      'limit is only for mode "shared" (a semaphore), got mode "exclusive"',
    );
  }
  return { limit };
}

/** A server answering a type the operation cannot produce is a broken server, not a "no". */
function expectType(type: number, allowed: readonly number[], operation: string): void {
  if (!allowed.includes(type)) {
    throw new KahunaError(
      KahunaErrorKind.Unavailable,
      `the server answered ${operation} with response type ${type}, which it never should; ` +
        `check that the servers run a matching kahuna version`,
    );
  }
}

/** A token goes into an HTTP header: printable ASCII without spaces, as `kahuna auth add` makes. */
function checkToken(token: unknown): void {
  if (typeof token !== "string" || !/^[\x21-\x7e]{1,1024}$/.test(token)) {
    throw new KahunaError(
      KahunaErrorKind.InvalidInput,
      `token must be the token kahuna auth add printed (1 to 1024 printable ASCII characters, ` +
        `no spaces), got ${
          typeof token === "string" ? `${token.length} characters` : typeof token
        }`,
    );
  }
}

function checkUrl(server: string): void {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new KahunaError(
      KahunaErrorKind.InvalidInput,
      `server must be a URL like http://127.0.0.1:2070, got ${JSON.stringify(server)}`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new KahunaError(
      KahunaErrorKind.InvalidInput,
      `server must be an http:// or https:// URL, got ${JSON.stringify(server)}`,
    );
  }
}

/**
 * The lock operations users see (docs/spec.md §2, §3). These types are shared by every way in:
 * REST, the binary protocol, the CLI, the client library and the host.
 */

export const Durability = { Ephemeral: 0, Persistent: 1 } as const;
export type Durability = (typeof Durability)[keyof typeof Durability];

/** Response codes, the same numbers as Kahuna's LockResponseType (docs/api.md). */
export const ResponseType = {
  Locked: 0,
  Busy: 1,
  Extended: 2,
  Unlocked: 3,
  Got: 4,
  /** The answer to a watch: the lock's changes since the watcher's cursor (§2.6). */
  Watched: 6,
  Errored: 99,
  InvalidInput: 100,
  MustRetry: 101,
  LockDoesNotExist: 102,
  InvalidOwner: 103,
  Indeterminate: 105,
  /** No token, or one the node's --auth-file does not know (HTTP 401; docs/security.md). */
  Unauthorized: 106,
  /** A known client asking beyond its permissions (HTTP 403). */
  Forbidden: 107,
} as const;
export type ResponseType = (typeof ResponseType)[keyof typeof ResponseType];

export type LockRequest =
  | {
    readonly op: "tryLock";
    readonly resource: string;
    readonly owner: string;
    readonly expiresMs: number;
    readonly durability: Durability;
    /** Set (1..waitMsMax) only when the request waits in line: docs/spec.md §2.5. */
    readonly waitMs?: number;
    /** Published with the grant (docs/spec.md §2.1); a retry by the holder keeps the first. */
    readonly value?: string;
    /**
     * Set (1..sharedLimitMax) for a shared grant that admits at most this many holders at once
     * (docs/spec.md §2.8); undefined for an exclusive one.
     */
    readonly limit?: number;
  }
  | {
    readonly op: "extend";
    readonly resource: string;
    readonly owner: string;
    readonly expiresMs: number;
    readonly durability: Durability;
    /** Replaces the published value; omitted, it stays. */
    readonly value?: string;
  }
  | {
    readonly op: "unlock";
    readonly resource: string;
    readonly owner: string;
    readonly durability: Durability;
  }
  | {
    readonly op: "get";
    readonly resource: string;
    readonly durability: Durability;
  }
  | {
    readonly op: "watch";
    readonly resource: string;
    readonly durability: Durability;
    /** The cursor of the last change the watcher has seen; omitted, the lock's state now. */
    readonly after?: string;
    /** Set (1..waitMsMax) only when the request waits for a change: docs/spec.md §2.6. */
    readonly waitMs?: number;
  };

export type LockOp = LockRequest["op"];

/** How long a request may wait for its answer: a waiting TryLock's or a watch's waitMs, or 0. */
export function waitMsOf(request: LockRequest): number {
  return request.op === "tryLock" || request.op === "watch" ? request.waitMs ?? 0 : 0;
}

/** The requests the lock rules judge: all but a watch. */
export type LockOpRequest = Exclude<LockRequest, { op: "watch" }>;
export type WatchRequest = Extract<LockRequest, { op: "watch" }>;

/**
 * The answer to one request. `owner` and `expiresMs` (remaining lease) are set only for
 * Got. `fencingToken` is 0 where docs/spec.md §2.1 says so.
 */
export type LockResponse = {
  readonly type: ResponseType;
  readonly fencingToken: number;
  readonly owner?: string;
  readonly expiresMs?: number;
  /** Only for errors (MustRetry, Errored, Unauthorized, …): a message a person reads. */
  readonly error?: string;
  /** Only for Watched. */
  readonly watch?: WatchAnswer;
  /** Only for Got: the holder's published value, when it has one. */
  readonly value?: string;
  /** Only for Got of a shared lock: every holder, in grant order (the newest is at the top). */
  readonly holders?: readonly LockHolder[];
  /** Only for Got of a shared lock: the most holders it admits now (the smallest limit). */
  readonly limit?: number;
};

/** One holder of a shared lock, as Get reports it. */
export type LockHolder = {
  readonly owner: string;
  readonly fencingToken: number;
  readonly expiresMs: number;
  readonly value?: string;
};

/**
 * What a watcher learns of one lock (docs/spec.md §2.6). A "state" event says what the lock
 * is now (held: its owner, token and lease left; free: owner "" and its last token): it comes
 * first when a watch starts without a cursor, and in place of the changes a watcher missed.
 * The others are changes of holder, in the order they happened, and "proclaimed": the holder
 * published a new value (an Extend with a different value).
 */
export type WatchEvent = {
  readonly kind: "state" | "acquired" | "proclaimed" | "released" | "expired";
  /** Where this event is in the lock's history; a watch resumes after it. */
  readonly cursor: string;
  /** The holder the change is about ("" for a free lock's state). */
  readonly owner: string;
  readonly fencingToken: number;
  /** For acquired, the lease granted; for a held state, the lease left. */
  readonly expiresMs?: number;
  /** The holder's published value (acquired, proclaimed, a held state), when it has one. */
  readonly value?: string;
};

export type WatchAnswer = {
  /** The cursor to send next: the last event's, or the request's own when nothing changed. */
  readonly cursor: string;
  /** True when changes after the request's cursor are unknown here: a state event says what is. */
  readonly missed: boolean;
  readonly events: readonly WatchEvent[];
};

/**
 * What every way in calls. The runtime implements it on top of the synchronous host; tests
 * may implement it in memory. It never rejects for an expected outcome: MustRetry,
 * Indeterminate and Errored are values.
 */
export type LockService = {
  /**
   * `signal` aborts a request that waits in line (its client went away): it leaves the queue
   * and the promise settles with MustRetry. Other requests ignore it.
   */
  execute(request: LockRequest, signal?: AbortSignal): Promise<LockResponse>;
};

/**
 * Turns a LockResponse into the HTTP status, headers and JSON body of docs/api.md. Every lock
 * outcome (0-4, 102, 103) is 200; the rest say what the client should do: 400 fix the input,
 * 401 send a valid token, 403 ask within the client's permissions, 503 retry (with
 * Retry-After), 504 retry with the same owner, 500 a bug.
 */
import { assert, unreachable } from "../assert.ts";
import { ResponseType } from "../locks/types.ts";
import type { LockOp, LockResponse } from "../locks/types.ts";

export type HttpAnswer = {
  readonly status: 200 | 400 | 401 | 403 | 404 | 405 | 413 | 500 | 503 | 504;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Readonly<Record<string, unknown>>;
};

/** Seconds a client should wait before retrying a MustRetry answer. */
export const retryAfterSeconds = 1;

/**
 * The HTTP status each response type is answered with. The app answers by it and the API
 * document (openapi.ts) lists it. InvalidInput is 400 here; the app also answers it with 404,
 * 405 and 413 for a path, method or body size that is wrong before any lock is looked at.
 */
export const httpStatusOf = {
  [ResponseType.Locked]: 200,
  [ResponseType.Busy]: 200,
  [ResponseType.Extended]: 200,
  [ResponseType.Unlocked]: 200,
  [ResponseType.Got]: 200,
  [ResponseType.Watched]: 200,
  [ResponseType.LockDoesNotExist]: 200,
  [ResponseType.InvalidOwner]: 200,
  [ResponseType.InvalidInput]: 400,
  [ResponseType.MustRetry]: 503,
  [ResponseType.Indeterminate]: 504,
  [ResponseType.Errored]: 500,
  [ResponseType.Unauthorized]: 401,
  [ResponseType.Forbidden]: 403,
} as const satisfies Record<ResponseType, HttpAnswer["status"]>;

export function lockAnswer(op: LockOp, response: LockResponse, wallMs: number): HttpAnswer {
  const type = response.type;
  switch (type) {
    case ResponseType.Locked:
    case ResponseType.Busy:
    case ResponseType.Extended:
    case ResponseType.Unlocked:
    case ResponseType.Got:
    case ResponseType.Watched:
    case ResponseType.LockDoesNotExist:
    case ResponseType.InvalidOwner:
      return { status: httpStatusOf[type], headers: {}, body: outcomeBody(op, response, wallMs) };
    case ResponseType.InvalidInput:
      return invalidInput(httpStatusOf[type], response.error ?? "invalid input");
    case ResponseType.MustRetry:
      return {
        status: httpStatusOf[type],
        headers: { "Retry-After": String(retryAfterSeconds) },
        body: {
          type,
          error: response.error ??
            "this lock's partition has no leader right now or the node is not ready; retry",
        },
      };
    case ResponseType.Indeterminate:
      return {
        status: httpStatusOf[type],
        headers: {},
        body: {
          type,
          error: response.error ??
            "the write was proposed but its outcome is unknown; retry with the same owner",
        },
      };
    case ResponseType.Errored:
      return errored(response.error ?? "internal error");
    case ResponseType.Unauthorized:
    case ResponseType.Forbidden:
      return refused(type, response.error ?? "not authorized");
    default:
      return unreachable(type);
  }
}

function outcomeBody(
  op: LockOp,
  response: LockResponse,
  wallMs: number,
): Record<string, unknown> {
  if (op === "watch") {
    const watch = response.watch;
    assert(watch !== undefined, "a Watched answer has its events");
    return { type: response.type, ...watch };
  }
  if (op !== "get") return { type: response.type, fencingToken: response.fencingToken };
  if (response.type !== ResponseType.Got) {
    return {
      type: response.type,
      owner: null,
      fencingToken: response.fencingToken,
      expiresMs: 0,
      expires: 0,
    };
  }
  const { owner, expiresMs } = response;
  assert(owner !== undefined && expiresMs !== undefined, "a Got answer has owner and expiresMs");
  return {
    type: response.type,
    owner,
    fencingToken: response.fencingToken,
    expiresMs,
    // The responding node's wall-clock estimate of the end, for display only (docs/api.md).
    expires: Math.round(wallMs + expiresMs),
    ...(response.value === undefined ? {} : { value: response.value }),
    ...(response.holders === undefined ? {} : { holders: response.holders, limit: response.limit }),
  };
}

export function invalidInput(status: 400 | 404 | 405 | 413, error: string): HttpAnswer {
  return { status, headers: {}, body: { type: ResponseType.InvalidInput, error } };
}

/** 401 (Unauthorized) or 403 (Forbidden) from --auth-file: `error` says what to do. */
export function refused(
  type: typeof ResponseType.Unauthorized | typeof ResponseType.Forbidden,
  error: string,
): HttpAnswer {
  // RFC 9110: a 401 names the scheme the client should use.
  const headers: Record<string, string> = type === ResponseType.Unauthorized
    ? { "WWW-Authenticate": 'Bearer realm="kahuna"' }
    : {};
  return { status: httpStatusOf[type], headers, body: { type, error } };
}

export function errored(error: string): HttpAnswer {
  return {
    status: httpStatusOf[ResponseType.Errored],
    headers: {},
    body: { type: ResponseType.Errored, error },
  };
}

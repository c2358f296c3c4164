/** Answers the host gives on its own, when a request cannot reach the lock state machine. */
import { type LockResponse, ResponseType } from "../locks/types.ts";

export type Reply = (response: LockResponse) => void;

export function mustRetry(error: string): LockResponse {
  return { type: ResponseType.MustRetry, fencingToken: 0, error };
}

export function indeterminate(error: string): LockResponse {
  return { type: ResponseType.Indeterminate, fencingToken: 0, error };
}

export function errored(error: string): LockResponse {
  return { type: ResponseType.Errored, fencingToken: 0, error };
}

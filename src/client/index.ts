/**
 * The kahuna client library (docs/client.md), published as the package kahuna-client
 * (compile/build-client.ts). Runs unmodified in Bun, Deno and Node 20: over REST it uses only
 * fetch, AbortSignal.timeout, crypto.getRandomValues and setTimeout; the binary transport
 * (`transport: "binary"`) adds node:net, which all three provide, and the msgpack codec.
 */
export { Durability } from "../locks/types.ts";
export type { LockHolder } from "../locks/types.ts";
export { KahunaClient } from "./client.ts";
export type {
  ClientOptions,
  ExtendDetail,
  ExtendResult,
  LockChange,
  LockInfo,
  LockMode,
  LockOptions,
  LockResult,
  ShareOptions,
  UnlockResult,
  WatchOptions,
} from "./client.ts";
export { KahunaError, KahunaErrorKind } from "./errors.ts";
export { KahunaLock } from "./lock.ts";
export { Leadership } from "./election.ts";
export type { CampaignOptions, Leader } from "./election.ts";
export { randomOwner } from "./owner.ts";

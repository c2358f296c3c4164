/**
 * etcd and Redis behind the benchmark's BenchTarget shape, each with its usual lock recipe,
 * so the same workload code (src/bench/runner.ts) drives kahuna and its peers alike:
 *
 * - etcd (its clientv3/concurrency recipe, over the gRPC-gateway's HTTP/JSON API with fetch):
 *   TryLock = lease grant with the TTL + a txn "put key=owner with the lease if the key's
 *   create_revision is 0, else read it"; the fencing token is the txn's revision. Busy also
 *   revokes the unused lease. Unlock = lease revoke, which deletes the key. Every write is
 *   committed by a majority and fsynced (etcd's default).
 * - Redis (the single-instance recipe): TryLock = SET key owner NX PX ms; Unlock = a Lua
 *   compare-and-delete by EVALSHA. Redis has no fencing token (0 here). Writes are in memory;
 *   the default config snapshots to disk now and then, never fsyncs per write.
 */
import type { BenchClient, BenchTarget } from "../../src/bench/target.ts";
import type { LockOpRequest, LockResponse } from "../../src/locks/types.ts";
import { ResponseType } from "../../src/locks/types.ts";
import { RespClient, RespError } from "./resp-client.ts";

const answer = (type: ResponseType, fencingToken = 0): LockResponse => ({ type, fencingToken });
const b64 = (text: string) => Buffer.from(text).toString("base64");

export function etcdTarget(endpoints: readonly string[], timeoutMs: number): BenchTarget {
  // Each worker runs one request at a time, so which lease backs which lock is per resource.
  const leases = new Map<string, { owner: string; lease: string }>();
  const post = async (
    endpoint: string,
    path: string,
    body: unknown,
  ): Promise<Record<string, unknown>> => {
    const response = await fetch(`${endpoint}${path}`, {
      method: "POST",
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const json = await response.json() as Record<string, unknown>;
    if (response.status !== 200) {
      throw new Error(`etcd ${path}: HTTP ${response.status} ${JSON.stringify(json)}`);
    }
    return json;
  };
  const client = (endpoint: string): BenchClient => ({
    async execute(request: LockOpRequest): Promise<LockResponse> {
      const key = b64(`lock/${request.resource}`);
      if (request.op === "tryLock") {
        const ttl = Math.max(1, Math.ceil(request.expiresMs / 1000));
        const grant = await post(endpoint, "/v3/lease/grant", { TTL: ttl });
        const lease = String(grant["ID"]);
        const txn = await post(endpoint, "/v3/kv/txn", {
          compare: [{ key, result: "EQUAL", target: "CREATE", create_revision: "0" }],
          success: [{ request_put: { key, value: b64(request.owner), lease } }],
          failure: [{ request_range: { key } }],
        });
        if (txn["succeeded"] === true) {
          leases.set(request.resource, { owner: request.owner, lease });
          const revision = Number((txn["header"] as Record<string, unknown>)["revision"]);
          return answer(ResponseType.Locked, revision);
        }
        await post(endpoint, "/v3/lease/revoke", { ID: lease });
        return answer(ResponseType.Busy);
      }
      if (request.op === "unlock") {
        const held = leases.get(request.resource);
        if (held === undefined || held.owner !== request.owner) {
          return answer(ResponseType.LockDoesNotExist);
        }
        leases.delete(request.resource);
        await post(endpoint, "/v3/lease/revoke", { ID: held.lease });
        return answer(ResponseType.Unlocked);
      }
      if (request.op === "get") {
        const range = await post(endpoint, "/v3/kv/range", { key });
        const kvs = range["kvs"] as { value: string; create_revision: string }[] | undefined;
        const kv = kvs?.[0];
        if (kv === undefined) return answer(ResponseType.LockDoesNotExist);
        return {
          type: ResponseType.Got,
          fencingToken: Number(kv.create_revision),
          owner: Buffer.from(kv.value, "base64").toString(),
        };
      }
      // Extend = keepalive of the lease; not part of the comparison's workload.
      throw new Error("the etcd target does not implement extend");
    },
  });
  const clients = endpoints.map(client);
  return {
    name: "etcd",
    client: (worker) => clients[worker % clients.length]!,
    close: async () => {},
  };
}

const unlockScript =
  'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end';

export async function redisTarget(
  host: string,
  port: number,
  connections: number,
): Promise<BenchTarget> {
  const pool: RespClient[] = [];
  for (let i = 0; i < connections; i++) pool.push(await RespClient.open(host, port));
  const sha = await pool[0]!.command("SCRIPT", "LOAD", unlockScript);
  if (typeof sha !== "string") throw new Error(`redis SCRIPT LOAD failed: ${JSON.stringify(sha)}`);
  const client = (redis: RespClient): BenchClient => ({
    async execute(request: LockOpRequest): Promise<LockResponse> {
      const key = `lock/${request.resource}`;
      if (request.op === "tryLock") {
        const reply = await redis.command("SET", key, request.owner, "NX", "PX", request.expiresMs);
        if (reply instanceof RespError) throw new Error(`redis: ${reply.message}`);
        return answer(reply === "OK" ? ResponseType.Locked : ResponseType.Busy);
      }
      if (request.op === "unlock") {
        const reply = await redis.command("EVALSHA", sha, 1, key, request.owner);
        if (reply instanceof RespError) throw new Error(`redis: ${reply.message}`);
        return answer(reply === 1 ? ResponseType.Unlocked : ResponseType.LockDoesNotExist);
      }
      if (request.op === "get") {
        const reply = await redis.command("GET", key);
        if (typeof reply !== "string") return answer(ResponseType.LockDoesNotExist);
        return { type: ResponseType.Got, fencingToken: 0, owner: reply };
      }
      const reply = await redis.command(
        "EVAL",
        'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end',
        1,
        key,
        request.owner,
        request.expiresMs,
      );
      return answer(reply === 1 ? ResponseType.Extended : ResponseType.InvalidOwner);
    },
  });
  const clients = pool.map(client);
  return {
    name: "redis",
    client: (worker) => clients[worker % clients.length]!,
    close: async () => {
      for (const redis of pool) redis.close();
    },
  };
}

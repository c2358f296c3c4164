/**
 * What a benchmark drives: something that answers lock requests. Kahuna over REST or over
 * the binary protocol here; the peer comparison (test/bench/peers.ts) adds etcd and Redis
 * behind the same shape, so every system runs the very same workload code.
 *
 * A target hands each worker a `BenchClient`; workers are spread round-robin over the
 * servers, so a cluster's nodes share the load (a node that does not lead a partition
 * forwards to the one that does, as it would for any client). Over the binary protocol the
 * requests go straight to their partition's leader instead, as KahunaClient sends them.
 */
import { assert } from "../assert.ts";
import { BinaryConnection, parseBinaryAddress } from "../client/binary-connection.ts";
import { leaderOf, mergeRoutes, type RouteMap } from "../client/routes.ts";
import { fetchOptionsForCa } from "../client/tls-fetch.ts";
import type { RouteInfo } from "../codec/lock-wire.ts";
import { type LockOpRequest, type LockResponse, ResponseType } from "../locks/types.ts";

export type BenchClient = {
  /** Resolves with the server's answer; rejects only when there is none (network, timeout). */
  execute(request: LockOpRequest): Promise<LockResponse>;
};

export type BenchTarget = {
  readonly name: string;
  client(worker: number): BenchClient;
  close(): Promise<void>;
};

/** A TryLock that waits in line is answered up to its waitMs later than others. */
function waitMsOf(request: LockOpRequest): number {
  return request.op === "tryLock" ? request.waitMs ?? 0 : 0; // the bench sends no watch
}

const restPaths: Readonly<Record<LockOpRequest["op"], string>> = {
  tryLock: "/v1/locks/try-lock",
  unlock: "/v1/locks/try-unlock",
  extend: "/v1/locks/try-extend",
  get: "/v1/locks/get-info",
};

/** What a secured server asks for: its CA (TLS) and a client token (--auth-file). */
export type Access = { readonly ca?: string | undefined; readonly token?: string | undefined };

/** REST with fetch (connections are kept alive and pooled by the runtime). */
export function restTarget(
  urls: readonly string[],
  timeoutMs: number,
  access: Access = {},
): BenchTarget {
  assert(urls.length > 0, "a target has at least one server");
  const tls = access.ca === undefined ? {} : fetchOptionsForCa(access.ca);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (access.token !== undefined) headers["authorization"] = `Bearer ${access.token}`;
  const clients = urls.map((url): BenchClient => ({
    async execute(request) {
      const { op, ...body } = request;
      const response = await fetch(`${url}${restPaths[op]}`, {
        ...tls,
        method: "POST",
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs + waitMsOf(request)),
      });
      const json = await response.json() as Record<string, unknown>;
      return {
        type: json["type"] as LockResponse["type"],
        fencingToken: (json["fencingToken"] as number | undefined) ?? 0,
        ...(typeof json["owner"] === "string" ? { owner: json["owner"] } : {}),
        ...(typeof json["expiresMs"] === "number" ? { expiresMs: json["expiresMs"] } : {}),
        ...(typeof json["error"] === "string" ? { error: json["error"] } : {}),
      };
    },
  }));
  return {
    name: "rest",
    client: (worker) => clients[worker % clients.length]!,
    close: async () => {},
  };
}

/**
 * The binary protocol: `connections` pipelined connections per server, opened up front.
 * Worker w has a home server (w mod n) and one of each server's connections. With `routing:
 * "leader"` (the default, as KahunaClient does it) each request goes to the server that leads
 * its partition, from the servers' route answers, asked again after a MustRetry; with
 * "spread", or while the leader is unknown, it goes to the worker's home server, which
 * forwards it when it does not lead the partition.
 */
export async function binaryTarget(
  addresses: readonly string[],
  options: { connections: number; timeoutMs: number; routing?: "leader" | "spread" } & Access,
): Promise<BenchTarget> {
  const tls = options.ca === undefined ? undefined : { ca: options.ca };
  assert(addresses.length > 0 && options.connections >= 1, "a target has servers and connections");
  const pools: BinaryConnection[][] = [];
  for (const text of addresses) {
    const address = parseBinaryAddress(text);
    if ("error" in address) throw new Error(address.error);
    const pool: BinaryConnection[] = [];
    for (let i = 0; i < options.connections; i++) {
      pool.push(await BinaryConnection.open(address, options.timeoutMs, tls, options.token));
    }
    pools.push(pool);
  }
  const routed = (options.routing ?? "leader") === "leader" && pools.length > 1;
  const serverOf = new Map<string, number>();
  let routes: RouteMap | undefined;
  let refreshing: Promise<void> | undefined;
  const refresh = () => {
    refreshing ??= Promise.allSettled(pools.map((pool) => pool[0]!.route())).then((answers) => {
      const infos: RouteInfo[] = [];
      answers.forEach((answer, index) => {
        if (answer.status !== "fulfilled") return;
        serverOf.set(answer.value.node, index);
        infos.push(answer.value);
      });
      routes = mergeRoutes(infos);
      refreshing = undefined;
    });
    return refreshing;
  };
  if (routed) await refresh();
  return {
    name: routed || pools.length === 1 ? "binary" : "binary, spread",
    client: (worker) => {
      const home = worker % pools.length;
      const slot = Math.floor(worker / pools.length) % options.connections;
      if (!routed) {
        const connection = pools[home]![slot]!;
        return { execute: (request) => connection.execute(request, waitMsOf(request)) };
      }
      return {
        async execute(request) {
          const leader = leaderOf(routes, request.resource);
          const server = leader === undefined ? home : serverOf.get(leader) ?? home;
          const response = await pools[server]![slot]!.execute(request, waitMsOf(request));
          if (response.type === ResponseType.MustRetry) void refresh();
          return response;
        },
      };
    },
    close: async () => {
      for (const connection of pools.flat()) connection.close();
    },
  };
}

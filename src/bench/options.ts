/**
 * `kahuna bench` flags: parsed into a BenchOptions, or a usage message that names the flag
 * and what it accepts. Nothing here touches the network.
 */
import { parseDurationMs } from "../cli/duration.ts";
import { parseFlags } from "../cli/flags.ts";
import type { FlagSpec } from "../cli/flags.ts";
import { parseBinaryAddress } from "../client/binary-connection.ts";
import { sharedLimitMax, tokenCharsMax } from "../constants.ts";
import { Durability } from "../locks/types.ts";
import { type BenchConfig, type WorkloadName, workloadNames } from "./runner.ts";

export type BenchOptions = BenchConfig & {
  readonly protocol: "rest" | "binary";
  /** REST: base URLs; binary: host:port. */
  readonly servers: readonly string[];
  /** Binary: pipelined connections per server. */
  readonly connections: number;
  /** Binary: each request to its partition's leader, or to the worker's own server. */
  readonly routing: "leader" | "spread";
  readonly timeoutMs: number;
  /** --ca FILE: the servers serve TLS (HTTPS, binary over TLS) with certificates it signed. */
  readonly caFile: string | undefined;
  /** --token T (or KAHUNA_TOKEN): the client token a server with --auth-file asks for. */
  readonly token: string | undefined;
  readonly json: boolean;
  /** No live progress line. */
  readonly quiet: boolean;
};

export type ParsedBench =
  | { readonly kind: "run"; readonly options: BenchOptions }
  | { readonly kind: "help" }
  | { readonly kind: "usage"; readonly message: string };

export const benchUsage = `usage: kahuna bench [WORKLOAD] [flags]
  Drives a kahuna server or cluster with concurrent clients and prints ops/s and latency.
  WORKLOAD (or --workload):
    lock-unlock   TryLock a random key, Unlock it (default)
    contended     the same on a few hot keys (keyspace 4 unless --keyspace; also for queue)
    extend        TryLock, 8 Extends, Unlock
    get           Gets on random keys, half of them held
    queue         TryLock with waitMs on a few hot keys (waits in the server's line),
                  Unlock at once; reports the hand-off time (release to next grant)
    queue-poll    the same, retrying a Busy TryLock every 100 ms instead of waiting
    semaphore     queue with shared TryLocks: each hot key admits --limit holders at
                  once, and a release hands its permit to the next waiter
  --durability persistent|ephemeral   (persistent)
  --concurrency N      clients, each with one request in flight (64)
  --duration D         measured time: 10s, 500ms, 1m (10s)
  --warmup D           time run before measuring (1s)
  --keyspace N         distinct lock names (10000; contended: 4)
  --lease-ms N         lease of every lock taken (10000)
  --limit N            semaphore: the most holders of one lock at once, 1 to ${sharedLimitMax} (2)
  --protocol rest|binary   (binary)
  --server S           server(s), comma-separated or repeated: for rest a URL
                       (http://127.0.0.1:2070), for binary host:port (127.0.0.1:2072)
  --connections N      binary: pipelined connections per server (2)
  --routing leader|spread   binary: send each request to its partition's leader, as
                       the client library does, or spread clients over the servers
                       and let them forward (leader)
  --timeout-ms N       limit on one request (5000)
  --ca FILE            trust this CA for servers started with --tls-cert: binary over TLS,
                       and https:// --server URLs for rest (or $KAHUNA_CA)
  --token T            the client token for servers started with --auth-file (or
                       $KAHUNA_TOKEN)
  --json               print the summary as one JSON object
  --quiet              no live progress line on stderr`;

const defaults = {
  rest: "http://127.0.0.1:2070",
  binary: "127.0.0.1:2072",
} as const;

const flags: FlagSpec = {
  workload: "string",
  durability: "string",
  concurrency: "string",
  duration: "string",
  warmup: "string",
  keyspace: "string",
  "lease-ms": "string",
  limit: "string",
  protocol: "string",
  server: "strings",
  connections: "string",
  routing: "string",
  "timeout-ms": "string",
  ca: "string",
  token: "string",
  json: "boolean",
  quiet: "boolean",
  help: "boolean",
};

const stringDefaults = {
  durability: "persistent",
  concurrency: "64",
  duration: "10s",
  warmup: "1s",
  "lease-ms": "10000",
  protocol: "binary",
  connections: "2",
  routing: "leader",
  "timeout-ms": "5000",
} as const;

type Values = { readonly [flag in keyof typeof stringDefaults]: string } & {
  readonly workload?: string;
  readonly keyspace?: string;
  readonly limit?: string;
  readonly server?: string[];
  readonly ca?: string;
  readonly token?: string;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly help: boolean;
};

export function parseBenchArgs(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): ParsedBench {
  const parsed = parseFlags(args, flags);
  if (typeof parsed === "string") return { kind: "usage", message: parsed };
  const values = {
    ...stringDefaults,
    ...Object.fromEntries(parsed.strings),
    server: parsed.lists.get("server")?.slice(),
    json: parsed.booleans.has("json"),
    quiet: parsed.booleans.has("quiet"),
    help: parsed.booleans.has("help"),
  } as Values;
  const positionals = parsed.positionals;
  if (values.help === true) return { kind: "help" };
  if (positionals.length > 1) return usage(`one workload at most, got ${positionals.join(" ")}`);
  const workload = positionals[0] ?? values.workload ?? "lock-unlock";
  if (!isWorkload(workload)) {
    return usage(
      `workload must be one of ${workloadNames.join(", ")}, got ${JSON.stringify(workload)}`,
    );
  }
  const durability = values.durability === "persistent"
    ? Durability.Persistent
    : values.durability === "ephemeral"
    ? Durability.Ephemeral
    : undefined;
  if (durability === undefined) {
    return usage(
      `--durability must be persistent or ephemeral, got ${JSON.stringify(values.durability)}`,
    );
  }
  const protocol = values.protocol;
  if (protocol !== "rest" && protocol !== "binary") {
    return usage(`--protocol must be rest or binary, got ${JSON.stringify(protocol)}`);
  }
  const routing = values.routing;
  if (routing !== "leader" && routing !== "spread") {
    return usage(`--routing must be leader or spread, got ${JSON.stringify(routing)}`);
  }
  const numbers = parseNumbers(values, workload);
  if (typeof numbers === "string") return usage(numbers);
  const limit = parseLimit(values.limit, workload);
  if (typeof limit === "string") return usage(limit);
  const servers = parseServers(values.server, protocol);
  if (typeof servers === "string") return usage(servers);
  const caFile = values.ca ?? nonEmpty(env["KAHUNA_CA"]);
  const token = values.token ?? nonEmpty(env["KAHUNA_TOKEN"]);
  if (token !== undefined && (token.length === 0 || token.length > tokenCharsMax)) {
    return usage(`--token must be 1 to ${tokenCharsMax} characters`);
  }
  return {
    kind: "run",
    options: {
      workload,
      durability,
      protocol,
      routing,
      servers,
      caFile,
      token,
      json: values.json,
      quiet: values.quiet,
      ...numbers,
      ...limit,
    },
  };
}

/** Workloads on a few hot keys: 4 unless --keyspace. */
const contendedWorkloads: ReadonlySet<WorkloadName> = new Set([
  "contended",
  "queue",
  "queue-poll",
  "semaphore",
]);

function parseNumbers(values: Values, workload: WorkloadName) {
  const numbers = {
    concurrency: integer("--concurrency", values.concurrency, 1, 100_000),
    keyspace: integer(
      "--keyspace",
      values.keyspace ?? (contendedWorkloads.has(workload) ? "4" : "10000"),
      1,
      100_000_000,
    ),
    leaseMs: integer("--lease-ms", values["lease-ms"], 1, 2_147_483_647),
    connections: integer("--connections", values.connections, 1, 1_024),
    timeoutMs: integer("--timeout-ms", values["timeout-ms"], 1, 600_000),
    durationMs: parseDurationMs("--duration", values.duration),
    warmupMs: parseDurationMs("--warmup", values.warmup),
  };
  for (const value of Object.values(numbers)) if (typeof value === "string") return value;
  const n = numbers as { [K in keyof typeof numbers]: number };
  if (n.durationMs < 1) return "--duration must be more than 0";
  return n;
}

/** --limit: semaphore's alone (2 unless given); the other workloads take exclusive locks. */
function parseLimit(text: string | undefined, workload: WorkloadName): { limit?: number } | string {
  if (workload !== "semaphore") {
    return text === undefined ? {} : `--limit is only for the semaphore workload, not ${workload}`;
  }
  const limit = integer("--limit", text ?? "2", 1, sharedLimitMax);
  return typeof limit === "string" ? limit : { limit };
}

function parseServers(flag: string[] | undefined, protocol: "rest" | "binary"): string[] | string {
  const servers = (flag ?? [defaults[protocol]]).flatMap((s) => s.split(",")).map((s) => s.trim())
    .filter((s) => s !== "");
  if (servers.length === 0) return "--server needs at least one server";
  for (const server of servers) {
    const problem = protocol === "binary" ? binaryProblem(server) : restProblem(server);
    if (problem !== undefined) return problem;
  }
  return servers;
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === "" ? undefined : text;
}

function usage(message: string): ParsedBench {
  return { kind: "usage", message };
}

function isWorkload(name: string): name is WorkloadName {
  return workloadNames.some((known) => known === name);
}

function integer(flag: string, text: string, min: number, max: number): number | string {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    return `${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`;
  }
  return value;
}

function binaryProblem(server: string): string | undefined {
  const address = parseBinaryAddress(server);
  if (!("error" in address)) return undefined;
  return `--server with --protocol binary: ${address.error}`;
}

function restProblem(server: string): string | undefined {
  try {
    const url = new URL(server);
    if (url.protocol === "http:" || url.protocol === "https:") return undefined;
  } catch {
    // Said below.
  }
  return `--server with --protocol rest must be a URL like http://127.0.0.1:2070, got ${
    JSON.stringify(server)
  }`;
}

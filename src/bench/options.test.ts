import { expect, test } from "bun:test";
import { Durability } from "../locks/types.ts";
import { parseBenchArgs } from "./options.ts";

test("with no flags the bench is 10 s of persistent lock-unlock by 64 binary clients on 2072", () => {
  expect(parseBenchArgs([])).toEqual({
    kind: "run",
    options: {
      workload: "lock-unlock",
      durability: Durability.Persistent,
      protocol: "binary",
      servers: ["127.0.0.1:2072"],
      concurrency: 64,
      durationMs: 10_000,
      warmupMs: 1_000,
      keyspace: 10_000,
      leaseMs: 10_000,
      connections: 2,
      routing: "leader",
      timeoutMs: 5_000,
      caFile: undefined,
      token: undefined,
      json: false,
      quiet: false,
    },
  });
});

test("--ca and --token, or KAHUNA_CA and KAHUNA_TOKEN, reach a secured server", () => {
  const flags = parseBenchArgs(["--ca", "ca.crt", "--token", "kahuna_x"]);
  expect(flags).toMatchObject({ kind: "run", options: { caFile: "ca.crt", token: "kahuna_x" } });
  const env = parseBenchArgs([], { KAHUNA_CA: "env.crt", KAHUNA_TOKEN: "kahuna_y" });
  expect(env).toMatchObject({ kind: "run", options: { caFile: "env.crt", token: "kahuna_y" } });
  const both = parseBenchArgs(["--token", "kahuna_z"], { KAHUNA_TOKEN: "kahuna_y" });
  expect(both).toMatchObject({ options: { token: "kahuna_z" } });
  expect(parseBenchArgs(["--token", "x".repeat(1025)])).toEqual({
    kind: "usage",
    message: "--token must be 1 to 1024 characters",
  });
});

test("flags set the workload, durability, protocol, servers and numbers", () => {
  const parsed = parseBenchArgs([
    "contended",
    "--durability",
    "ephemeral",
    "--protocol",
    "rest",
    "--server",
    "http://a:1,http://b:2",
    "--server",
    "http://c:3",
    "--concurrency",
    "8",
    "--duration",
    "500ms",
    "--warmup",
    "0",
    "--json",
  ]);
  expect(parsed.kind).toBe("run");
  if (parsed.kind !== "run") return;
  expect(parsed.options).toMatchObject({
    workload: "contended",
    durability: Durability.Ephemeral,
    protocol: "rest",
    servers: ["http://a:1", "http://b:2", "http://c:3"],
    concurrency: 8,
    durationMs: 500,
    warmupMs: 0,
    keyspace: 4,
    json: true,
  });
});

test("semaphore, by name or --workload, takes --limit (2 unless given) on 4 keys", () => {
  expect(parseBenchArgs(["semaphore"])).toMatchObject({
    kind: "run",
    options: { workload: "semaphore", keyspace: 4, limit: 2 },
  });
  expect(parseBenchArgs(["--workload", "semaphore", "--limit", "1000"])).toMatchObject({
    kind: "run",
    options: { workload: "semaphore", keyspace: 4, limit: 1_000 },
  });
  // The other workloads take exclusive locks: no limit at all.
  const queue = parseBenchArgs(["queue"]);
  expect(queue.kind === "run" && "limit" in queue.options).toBe(false);
});

test("a bad flag value is a usage message naming the flag", () => {
  const cases: [string[], RegExp][] = [
    [["sleep"], /workload must be one of lock-unlock, contended, extend, get/],
    [["--durability", "forever"], /--durability must be persistent or ephemeral/],
    [["--protocol", "udp"], /--protocol must be rest or binary/],
    [["--routing", "random"], /--routing must be leader or spread/],
    [["--concurrency", "0"], /--concurrency must be an integer from 1/],
    [["--duration", "ten"], /--duration must be a duration like 10s/],
    [["--duration", "0s"], /--duration must be more than 0/],
    [["--server", "http://127.0.0.1:2070"], /host:port/],
    [["--protocol", "rest", "--server", "127.0.0.1:2070"], /must be a URL/],
    [["--limit", "3"], /--limit is only for the semaphore workload, not lock-unlock/],
    [["queue", "--limit", "3"], /--limit is only for the semaphore workload, not queue/],
    [["semaphore", "--limit", "0"], /--limit must be an integer from 1 to 1000, got "0"/],
    [["semaphore", "--limit", "1001"], /--limit must be an integer from 1 to 1000/],
    [["--nope"], /nope/],
  ];
  for (const [args, message] of cases) {
    const parsed = parseBenchArgs(args);
    expect(parsed.kind).toBe("usage");
    if (parsed.kind === "usage") expect(parsed.message).toMatch(message);
  }
});

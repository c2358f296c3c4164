/**
 * The binary transport against a real `kahuna serve` process: one pipelined connection, many
 * calls in flight, answers matched by id; KahunaClient over it behaves as over REST.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createServer } from "node:net";
import { freePort, type ServerProcess, startServer } from "../../test/helpers/server.ts";
import { Durability, ResponseType } from "../locks/types.ts";
import {
  BinaryConnection,
  BinaryConnectionError,
  parseBinaryAddress,
} from "./binary-connection.ts";
import { KahunaClient } from "./client.ts";
import { KahunaError, KahunaErrorKind } from "./errors.ts";

let server: ServerProcess;
let address = "";

beforeAll(async () => {
  server = await startServer();
  address = `127.0.0.1:${server.binaryPort}`;
}, 60_000);

afterAll(async () => {
  await server?.cleanup();
});

function open(): Promise<BinaryConnection> {
  const parsed = parseBinaryAddress(address);
  if ("error" in parsed) throw new Error(parsed.error);
  return BinaryConnection.open(parsed, 5_000);
}

test("a binary address is host:port; anything else is refused with an example", () => {
  expect(parseBinaryAddress("127.0.0.1:2072")).toEqual({ host: "127.0.0.1", port: 2072 });
  expect(parseBinaryAddress("[::1]:9")).toEqual({ host: "::1", port: 9 });
  for (const bad of ["http://127.0.0.1:2070", "127.0.0.1", "host:0", "host:70000", ""]) {
    expect(parseBinaryAddress(bad)).toEqual({
      error: expect.stringContaining("like 127.0.0.1:2072"),
    });
  }
});

test("one connection carries a thousand calls in flight and matches every answer to its call", async () => {
  const connection = await open();
  const owner = "a".repeat(32);
  const count = 1000;
  const locks = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      connection.execute({
        op: "tryLock",
        resource: `bin/many/${i}`,
        owner,
        expiresMs: 60_000,
        durability: Durability.Ephemeral,
      })),
  );
  expect(locks.every((r) => r.type === ResponseType.Locked)).toBe(true);
  // Each get names its own resource: a mixed-up answer would show another resource's state.
  const gets = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      connection.execute({
        op: "get",
        resource: i % 2 === 0 ? `bin/many/${i}` : `bin/none/${i}`,
        durability: Durability.Ephemeral,
      })),
  );
  gets.forEach((answer, i) => {
    if (i % 2 === 0) expect(answer).toMatchObject({ type: ResponseType.Got, owner });
    else expect(answer.type).toBe(ResponseType.LockDoesNotExist);
  });
  expect(connection.pending).toBe(0);
  connection.close();
});

test("persistent calls on one connection get strictly increasing fencing tokens", async () => {
  const connection = await open();
  const tokens: number[] = [];
  for (let i = 0; i < 5; i++) {
    const owner = `owner-${i}`.padEnd(32, "0");
    const locked = await connection.execute({
      op: "tryLock",
      resource: "bin/tokens",
      owner,
      expiresMs: 60_000,
      durability: Durability.Persistent,
    });
    expect(locked.type).toBe(ResponseType.Locked);
    tokens.push(locked.fencingToken);
    const unlocked = await connection.execute({
      op: "unlock",
      resource: "bin/tokens",
      owner,
      durability: Durability.Persistent,
    });
    expect(unlocked.type).toBe(ResponseType.Unlocked);
  }
  for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
  connection.close();
});

test("an invalid request is answered InvalidInput for its own id only", async () => {
  const connection = await open();
  const [bad, good] = await Promise.all([
    connection.execute({ op: "get", resource: "", durability: Durability.Persistent }),
    connection.execute({ op: "get", resource: "bin/ok", durability: Durability.Persistent }),
  ]);
  expect(bad.type).toBe(ResponseType.InvalidInput);
  expect(bad.error).toContain("resource");
  expect(good.type).toBe(ResponseType.LockDoesNotExist);
  connection.close();
});

test("calls on a closed connection fail with a connection error, not a hang", async () => {
  const connection = await open();
  connection.close();
  const call = connection.execute({
    op: "get",
    resource: "bin/x",
    durability: Durability.Persistent,
  });
  await expect(call).rejects.toBeInstanceOf(BinaryConnectionError);
  expect(connection.isOpen).toBe(false);
});

test("a call the server never answers times out", async () => {
  // A listener that accepts and reads but never answers.
  const silent = createServer((socket) => socket.on("data", () => {}));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const port = (silent.address() as { port: number }).port;
  try {
    const connection = await BinaryConnection.open({ host: "127.0.0.1", port }, 200);
    const started = performance.now();
    const error = await connection.execute({ op: "get", resource: "r", durability: 1 }).catch((e) =>
      e
    );
    expect(error).toBeInstanceOf(BinaryConnectionError);
    expect((error as BinaryConnectionError).failure).toBe("timeout");
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    connection.close();
  } finally {
    silent.close();
  }
});

test("KahunaClient over the binary transport locks, extends, gets and unlocks", async () => {
  const client = new KahunaClient({ servers: [address], transport: "binary" });
  const owner = "b".repeat(32);
  expect(await client.tryLock("bin/client", owner, 10_000)).toEqual({
    locked: true,
    fencingToken: expect.any(Number),
  });
  expect((await client.tryLock("bin/client", "c".repeat(32), 10_000)).locked).toBe(false);
  expect((await client.extend("bin/client", owner, 20_000)).extended).toBe(true);
  const info = await client.get("bin/client");
  expect(info?.owner).toBe(owner);
  expect(info!.expiresMs).toBeGreaterThan(10_000);
  expect(await client.unlock("bin/client", owner)).toBe(true);
  expect(await client.get("bin/client")).toBeNull();
  expect(await client.unlock("bin/client", owner)).toBe(false);
  await using lock = await client.getOrCreateLock("bin/disposed", { expiresMs: 5_000 });
  expect(lock.isAcquired).toBe(true);
  client.close();
});

test("KahunaClient over binary fails over from a dead server to a live one", async () => {
  const dead = `127.0.0.1:${await freePort()}`;
  const client = new KahunaClient({ servers: [dead, address], transport: "binary", retries: 3 });
  const result = await client.tryLock("bin/failover", "d".repeat(32), 5_000, Durability.Ephemeral);
  expect(result.locked).toBe(true);
  client.close();
});

test("KahunaClient over binary with no server answering says so", async () => {
  const dead = `127.0.0.1:${await freePort()}`;
  const client = new KahunaClient({ servers: [dead], transport: "binary", retries: 1 });
  const error = await client.get("bin/x").catch((e) => e);
  expect(error).toBeInstanceOf(KahunaError);
  expect((error as KahunaError).kind).toBe(KahunaErrorKind.Unavailable);
  expect((error as KahunaError).message).toContain("connection refused");
});

test("KahunaClient refuses a URL as a binary server and an unknown transport", () => {
  expect(() => new KahunaClient({ servers: ["http://127.0.0.1:2070"], transport: "binary" }))
    .toThrow(/host:port/);
  expect(() => new KahunaClient({ servers: ["127.0.0.1:1"], transport: "udp" as never }))
    .toThrow(/transport/);
});

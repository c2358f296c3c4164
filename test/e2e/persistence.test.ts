/**
 * Issue 2 §4: persistent locks survive `kill -9` of a real server process and a restart on
 * the same data directory: owner, token, and a lease no shorter than it had; the next grant
 * continues the token. Ephemeral locks are lost, but never granted twice.
 */
import { afterEach, expect, test } from "bun:test";
import { type ServerProcess, startServer } from "../helpers/server.ts";

const servers: ServerProcess[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.cleanup();
});

async function call(url: string, path: string, body: object) {
  const response = await fetch(`${url}/v1/locks/${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  return await response.json() as Record<string, unknown>;
}

test("acknowledged persistent locks survive kill -9 and restart with owner, token and lease", async () => {
  const server = await startServer();
  servers.push(server);
  const resources = Array.from({ length: 200 }, (_, i) => `jobs/${i}`);
  // Token 1 for the first resource: grant, unlock, grant again.
  await call(server.url, "try-lock", {
    resource: resources[0],
    owner: "a",
    expiresMs: 60_000,
    durability: 1,
  });
  await call(server.url, "try-unlock", { resource: resources[0], owner: "a", durability: 1 });
  const acks = await Promise.all(
    resources.map((resource, i) =>
      call(server.url, "try-lock", {
        resource,
        owner: `owner-${i}`,
        expiresMs: 60_000,
        durability: 1,
      })
    ),
  );
  expect(acks.every((a) => a.type === 0)).toBe(true);
  const before = await call(server.url, "get-info", { resource: resources[0], durability: 1 });
  expect(before).toMatchObject({ type: 4, owner: "owner-0", fencingToken: 1 });
  await call(server.url, "try-lock", {
    resource: "eph",
    owner: "e",
    expiresMs: 2_000,
    durability: 0,
  });

  expect(await server.kill("SIGKILL")).not.toBe(0);
  const restarted = await server.restart();
  servers.push(restarted);

  for (const [i, resource] of resources.entries()) {
    const info = await call(restarted.url, "get-info", { resource, durability: 1 });
    expect(info).toMatchObject({ type: 4, owner: `owner-${i}`, fencingToken: i === 0 ? 1 : 0 });
  }
  const after = await call(restarted.url, "get-info", { resource: resources[0], durability: 1 });
  // Remaining lease is never shortened by the restart (docs/spec.md §2.3); allow for the time the
  // 200 reads above took.
  expect(after.expiresMs as number).toBeGreaterThanOrEqual((before.expiresMs as number) - 5_000);
  expect(
    await call(restarted.url, "try-lock", {
      resource: resources[0],
      owner: "b",
      expiresMs: 1,
      durability: 1,
    }),
  ).toEqual({ type: 1, fencingToken: 0 });
  await call(restarted.url, "try-unlock", {
    resource: resources[0],
    owner: "owner-0",
    durability: 1,
  });
  expect(
    await call(restarted.url, "try-lock", {
      resource: resources[0],
      owner: "b",
      expiresMs: 1000,
      durability: 1,
    }),
  ).toEqual({ type: 0, fencingToken: 2 });
});

test("an ephemeral lock is not granted to another owner while the old lease could run", async () => {
  const server = await startServer();
  servers.push(server);
  await call(server.url, "try-lock", {
    resource: "e",
    owner: "a",
    expiresMs: 3_000,
    durability: 0,
  });
  await server.kill("SIGKILL");
  const restarted = await server.restart();
  servers.push(restarted);
  const started = Date.now();
  const early = await fetch(`${restarted.url}/v1/locks/try-lock`, {
    method: "POST",
    body: JSON.stringify({ resource: "e", owner: "b", expiresMs: 1000, durability: 0 }),
  });
  if (Date.now() - started < 2_000) {
    expect(early.status).toBe(503);
    expect(early.headers.get("Retry-After")).toBe("1");
  }
  let granted: Record<string, unknown> | undefined;
  for (let i = 0; i < 200 && granted === undefined; i++) {
    const response = await fetch(`${restarted.url}/v1/locks/try-lock`, {
      method: "POST",
      body: JSON.stringify({ resource: "e", owner: "b", expiresMs: 1000, durability: 0 }),
    });
    if (response.status === 200) granted = await response.json() as Record<string, unknown>;
    else await Bun.sleep(100);
  }
  expect(granted?.type).toBe(0);
  // Ephemeral tokens keep rising across the restart: a new epoch.
  expect(granted!.fencingToken as number).toBeGreaterThan(0);
});

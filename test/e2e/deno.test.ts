/**
 * Issue 2 §9: the same sources serve under Deno (the log engine over node:fs, Deno.serve), and
 * pass the same REST smoke checks as under Bun, and the same dashboard page; a Deno node keeps
 * persistent locks across kill -9 (its data directory's lock is still node:sqlite's), and
 * migrates a kahuna.sqlite data directory (test/e2e/migration.test.ts).
 */
import { afterAll, expect, test } from "bun:test";
import { type ServerProcess, startServer } from "../helpers/server.ts";
import { dashboardPage } from "../../src/http/dashboard/dashboard-page.ts";
import { callLock, runRestSmoke } from "./rest-smoke.ts";

const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const server of servers) await server.cleanup();
});

test("a Deno-run server passes the REST smoke test", async () => {
  const server = await startServer({ runtime: "deno" });
  servers.push(server);
  await runRestSmoke(server.url);
}, 60_000);

test("a Deno-run server serves the dashboard at /ui, the same page as under Bun", async () => {
  const server = await startServer({ runtime: "deno" });
  servers.push(server);
  const response = await fetch(`${server.url}/ui`);
  expect(response.headers.get("content-type")).toStartWith("text/html");
  expect(await response.text()).toBe(dashboardPage());
}, 60_000);

test("a Deno-run server keeps persistent locks across kill -9", async () => {
  const server = await startServer({ runtime: "deno" });
  servers.push(server);
  const lock = { resource: "deno/r", owner: "d", expiresMs: 60_000, durability: 1 };
  expect((await callLock(server.url, "/v1/locks/try-lock", lock)).body).toEqual({
    type: 0,
    fencingToken: 0,
  });
  await server.kill("SIGKILL");
  const restarted = await server.restart();
  servers.push(restarted);
  const info = await callLock(restarted.url, "/v1/locks/get-info", {
    resource: "deno/r",
    durability: 1,
  });
  expect(info.body).toMatchObject({ type: 4, owner: "d", fencingToken: 0 });
}, 60_000);

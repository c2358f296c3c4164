/**
 * The REST smoke checks (rest-smoke.ts) against a real `kahuna serve` process, and, to show
 * the checks themselves and the HTTP layer over real sockets, against the Hono app served
 * in-process with an in-memory lock service.
 */
import { expect, test } from "bun:test";
import { createApp } from "../../src/http/app.ts";
import { MemoryLockService } from "../../src/http/memory-lock-service.ts";
import { startServer } from "../helpers/server.ts";
import { runRestSmoke } from "./rest-smoke.ts";

test("a real server answers the REST contract: lock, info, extend, unlock, errors", async () => {
  const server = await startServer();
  try {
    await runRestSmoke(server.url);
    expect(server.process.exitCode).toBeNull();
  } finally {
    await server.cleanup();
  }
}, 60_000);

test("the app served in-process passes the same smoke checks", async () => {
  const app = createApp({
    service: new MemoryLockService(() => performance.now()),
    health: () => ({ ok: true }),
    cluster: () => ({ nodes: [{ id: "1" }], partitions: [] }),
    metrics: () => "# TYPE kahuna_up gauge\nkahuna_up 1\n",
    wallMs: () => Date.now(),
  });
  const served = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
  try {
    await runRestSmoke(`http://127.0.0.1:${served.port}`);
  } finally {
    await served.stop(true);
  }
}, 30_000);

test("the smoke checks fail on a server that breaks the contract", async () => {
  const service = new MemoryLockService(() => performance.now());
  // A server whose unlock forgets the token: the smoke must notice.
  const broken = createApp({
    service: {
      execute: async (request) => {
        const response = await service.execute(request);
        return request.op === "unlock" ? { ...response, fencingToken: 12345 } : response;
      },
    },
    health: () => ({ ok: true }),
    cluster: () => ({}),
    metrics: () => "",
    wallMs: () => Date.now(),
  });
  const served = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: broken.fetch });
  try {
    await expect(runRestSmoke(`http://127.0.0.1:${served.port}`)).rejects.toThrow(
      /try-unlock by the holder/,
    );
  } finally {
    await served.stop(true);
  }
}, 30_000);

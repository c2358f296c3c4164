/**
 * The link proxy does what the nemesis relies on: passes bytes in order, holds them for a
 * delay, throws them away in a blackhole (and closes the connection when the blackhole
 * ends), and cuts open and new connections.
 */
import { afterEach, expect, test } from "bun:test";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { LinkProxy } from "./proxy.ts";

type Target = { server: Server; port: number; received: () => string; connections: () => number };

async function target(): Promise<Target> {
  let data = "";
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    socket.on("data", (chunk) => (data += chunk.toString()));
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return { server, port, received: () => data, connections: () => connections };
}

async function dial(port: number): Promise<{ socket: Socket; closed: () => boolean }> {
  let closed = false;
  const socket = createConnection({ host: "127.0.0.1", port });
  socket.on("close", () => (closed = true));
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  return { socket, closed: () => closed };
}

async function until(condition: () => boolean, deadlineMs = 3_000): Promise<boolean> {
  const start = performance.now();
  while (!condition() && performance.now() - start < deadlineMs) await Bun.sleep(10);
  return condition();
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function setup(): Promise<{ t: Target; proxy: LinkProxy }> {
  const t = await target();
  const proxy = new LinkProxy("1", "2", t.port);
  await proxy.start();
  cleanups.push(() => proxy.stop(), () => void t.server.close());
  return { t, proxy };
}

test("a passing link forwards bytes in order", async () => {
  const { t, proxy } = await setup();
  const { socket } = await dial(proxy.port);
  for (let i = 0; i < 50; i++) socket.write(`${i},`);
  const expected = Array.from({ length: 50 }, (_, i) => `${i},`).join("");
  expect(await until(() => t.received() === expected)).toBe(true);
  socket.destroy();
});

test("a delayed link holds bytes for the delay and keeps their order", async () => {
  const { t, proxy } = await setup();
  const { socket } = await dial(proxy.port);
  proxy.setMode({ kind: "delay", delayMs: 300 });
  const sentAt = performance.now();
  socket.write("a");
  await Bun.sleep(20);
  socket.write("b");
  proxy.setMode({ kind: "pass" });
  socket.write("c");
  expect(await until(() => t.received() === "abc")).toBe(true);
  expect(performance.now() - sentAt).toBeGreaterThanOrEqual(300);
  socket.destroy();
});

test("a blackhole swallows bytes, keeps the connection, and closes it when lifted", async () => {
  const { t, proxy } = await setup();
  const link = await dial(proxy.port);
  link.socket.write("before;");
  expect(await until(() => t.received() === "before;")).toBe(true);
  proxy.setMode({ kind: "blackhole" });
  link.socket.write("lost;");
  await Bun.sleep(200);
  expect(t.received()).toBe("before;");
  expect(link.closed()).toBe(false);
  expect(proxy.bytesDropped).toBe(5);
  proxy.setMode({ kind: "pass" });
  expect(await until(() => link.closed())).toBe(true);
  const again = await dial(proxy.port);
  again.socket.write("after;");
  expect(await until(() => t.received() === "before;after;")).toBe(true);
  again.socket.destroy();
});

test("a cut closes open connections and every new one until it heals", async () => {
  const { t, proxy } = await setup();
  const link = await dial(proxy.port);
  proxy.setMode({ kind: "cut" });
  expect(await until(() => link.closed())).toBe(true);
  const refused = await dial(proxy.port);
  expect(await until(() => refused.closed())).toBe(true);
  expect(t.connections()).toBe(1);
  proxy.setMode({ kind: "pass" });
  const healed = await dial(proxy.port);
  healed.socket.write("ok");
  expect(await until(() => t.received() === "ok")).toBe(true);
  healed.socket.destroy();
});

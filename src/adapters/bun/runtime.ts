/** The Bun runtime: bun:sqlite, Bun.serve, process signals. */
import type { RuntimeAdapter } from "../../runtime/runtime-adapter.ts";
import { openDatabase } from "./sqlite.ts";
import { connectTcp, listenTcp } from "./tcp.ts";

export const bunRuntime: RuntimeAdapter = {
  name: "bun",
  openDatabase,
  listenTcp,
  connectTcp,
  serveHttp({ hostname, port, fetch }) {
    const server = Bun.serve({
      hostname,
      port,
      fetch: (request, bun) => fetch(request, () => bun.timeout(request, 0)),
      idleTimeout: 30,
    });
    return {
      port: server.port ?? port,
      async stop() {
        await server.stop(true);
      },
    };
  },
  onSignals(handler) {
    process.on("SIGINT", () => handler("SIGINT"));
    process.on("SIGTERM", () => handler("SIGTERM"));
  },
  exit(code) {
    process.exit(code);
  },
};

/** The Deno runtime: node:sqlite, Deno.serve, Deno signals. */
import type { RuntimeAdapter } from "../../runtime/runtime-adapter.ts";
import { openDatabase } from "./sqlite.ts";
import { connectTcp, listenTcp } from "./tcp.ts";

declare const Deno: {
  serve(
    options: { hostname: string; port: number; onListen?: () => void },
    handler: (request: Request) => Response | Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void> };
  addSignalListener(signal: string, handler: () => void): void;
  exit(code: number): never;
};

export const denoRuntime: RuntimeAdapter = {
  name: "deno",
  openDatabase,
  listenTcp,
  connectTcp,
  serveHttp({ hostname, port, fetch }) {
    // Deno.serve has no idle timeout on a request being answered: nothing to hold open.
    const server = Deno.serve(
      { hostname, port, onListen: () => {} },
      (request) => fetch(request, () => {}),
    );
    return {
      port: server.addr.port,
      async stop() {
        await server.shutdown();
      },
    };
  },
  onSignals(handler) {
    Deno.addSignalListener("SIGINT", () => handler("SIGINT"));
    Deno.addSignalListener("SIGTERM", () => handler("SIGTERM"));
  },
  exit(code) {
    Deno.exit(code);
  },
};

/** The Deno runtime: node:sqlite, Deno.serve, Deno signals; TLS over TCP with node:tls. */
import { tlsRebindAttemptsMax, tlsRebindPauseMs } from "../../constants.ts";
import type { RuntimeAdapter, TlsMaterial } from "../../runtime/runtime-adapter.ts";
import { connectTls, listenTls } from "../tls-tcp.ts";
import { openDatabase } from "./sqlite.ts";
import { connectTcp, listenTcp } from "./tcp.ts";

type DenoServer = { addr: { port: number }; shutdown(): Promise<void> };

declare const Deno: {
  serve(
    options: {
      hostname: string;
      port: number;
      onListen?: () => void;
      cert?: string;
      key?: string;
    },
    handler: (request: Request) => Response | Promise<Response>,
  ): DenoServer;
  addSignalListener(signal: string, handler: () => void): void;
  exit(code: number): never;
};

export const denoRuntime: RuntimeAdapter = {
  name: "deno",
  openDatabase,
  listenTcp,
  connectTcp,
  listenTls,
  connectTls,
  serveHttp({ hostname, port, fetch, tls }) {
    // Deno.serve has no idle timeout on a request being answered: nothing to hold open.
    const start = (material: TlsMaterial | undefined, at: number) =>
      Deno.serve(
        {
          hostname,
          port: at,
          onListen: () => {},
          ...(material === undefined ? {} : { cert: material.cert, key: material.key }),
        },
        (request) => fetch(request, () => {}),
      );
    let server = start(tls, port);
    const boundPort = server.addr.port;
    const draining = new Set<DenoServer>();
    return {
      port: boundPort,
      async stop() {
        await Promise.all([server, ...draining].map((each) => each.shutdown()));
      },
      // Deno.serve's certificate cannot be changed in place: stop listening (open requests
      // are answered) and listen again on the same port with the new one, once the old
      // listener has let go of it (a turn or two of the event loop).
      ...(tls === undefined ? {} : {
        async reloadTls(material: TlsMaterial) {
          const old = server;
          draining.add(old);
          void old.shutdown().then(() => draining.delete(old));
          for (let attempt = 1;; attempt++) {
            try {
              server = start(material, boundPort);
              return;
            } catch (error) {
              if (attempt >= tlsRebindAttemptsMax) throw error;
              await new Promise((resolve) => setTimeout(resolve, tlsRebindPauseMs));
            }
          }
        },
      }),
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

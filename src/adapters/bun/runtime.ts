/** The Bun runtime: bun:sqlite, Bun.serve, process signals; TLS over TCP with node:tls. */
import type { RuntimeAdapter, TlsMaterial } from "../../runtime/runtime-adapter.ts";
import { connectTls, listenTls } from "../tls-tcp.ts";
import { openDatabase } from "./sqlite.ts";
import { connectTcp, listenTcp } from "./tcp.ts";

export const bunRuntime: RuntimeAdapter = {
  name: "bun",
  openDatabase,
  listenTcp,
  connectTcp,
  listenTls,
  connectTls,
  serveHttp({ hostname, port, fetch, tls }) {
    const start = (material: TlsMaterial | undefined, at: number) =>
      Bun.serve({
        hostname,
        port: at,
        fetch: (request, bun) => fetch(request, () => bun.timeout(request, 0)),
        idleTimeout: 30,
        ...(material === undefined ? {} : { tls: { cert: material.cert, key: material.key } }),
      });
    let server = start(tls, port);
    const boundPort = server.port ?? port;
    // Servers replaced on SIGHUP finish their open requests; stop() ends them too.
    const draining = new Set<ReturnType<typeof start>>();
    return {
      port: boundPort,
      async stop() {
        await Promise.all([server, ...draining].map((each) => each.stop(true)));
      },
      // Bun.serve's TLS cannot be changed in place: stop listening (open connections go on)
      // and listen again on the same port with the new certificate.
      ...(tls === undefined ? {} : {
        reloadTls(material: TlsMaterial) {
          const old = server;
          draining.add(old);
          void old.stop(false).then(() => draining.delete(old));
          server = start(material, boundPort);
          return Promise.resolve();
        },
      }),
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

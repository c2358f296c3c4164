/**
 * TCP over TLS with node:tls, for both runtimes: Bun and Deno each provide it, and it is the one
 * API of the three that gives all a node needs on either side of a link — a required, verified
 * client certificate, the peer's certificate after the handshake, and a secure context that can
 * be swapped on SIGHUP while connections stay open (Bun.listen's and Deno.listenTls's TLS
 * options cannot be changed, and Deno.listenTls cannot ask for a client certificate).
 *
 * Invariants:
 * - `onOpen` runs only for a connection whose handshake succeeded and whose certificate, when
 *   one is required, the CA verified; every other connection is closed and reported.
 * - Bytes waiting to be written are bounded by `socketBufferedBytesMax`, as in the plain
 *   adapters: past it the write is refused and the caller drops the connection.
 */
import { isIP } from "node:net";
import { connect, createServer, type TLSSocket } from "node:tls";
import { socketBufferedBytesMax } from "../constants.ts";
import { certificateIdentities } from "../runtime/tls.ts";
import type {
  ClientTls,
  ServerTls,
  TcpHandlers,
  TcpListener,
  TcpSocket,
} from "../runtime/runtime-adapter.ts";

function wrap(socket: TLSSocket, handlers: () => TcpHandlers | undefined): TcpSocket {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    socket.destroy();
    handlers()?.onClose();
  };
  socket.on("data", (chunk: Uint8Array) => {
    if (!closed) handlers()?.onData(new Uint8Array(chunk));
  });
  socket.on("error", close);
  socket.on("close", close);
  return {
    write(bytes) {
      if (closed || socket.writableLength + bytes.length > socketBufferedBytesMax) return false;
      socket.write(bytes);
      return true;
    },
    close,
    peerIdentities: certificateIdentities(socket.getPeerCertificate()),
  };
}

export function listenTls(options: {
  hostname: string;
  port: number;
  onOpen(socket: TcpSocket): TcpHandlers;
  tls: ServerTls;
  onRefused?(reason: string): void;
}): Promise<TcpListener> {
  const mutual = options.tls.ca !== undefined;
  // Closing a node:tls server leaves its connections open; stop() ends them, as Bun's does.
  const accepted = new Set<TLSSocket>();
  const server = createServer({
    cert: options.tls.cert,
    key: options.tls.key,
    ...(mutual ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
  }, (socket) => {
    // Checked again here, not only by rejectUnauthorized: no unverified peer gets through.
    if (mutual && !socket.authorized) {
      options.onRefused?.(String(socket.authorizationError ?? "unverified certificate"));
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    accepted.add(socket);
    socket.once("close", () => accepted.delete(socket));
    // The socket's callbacks reach the handlers once onOpen has returned them.
    const opened: { handlers?: TcpHandlers } = {};
    opened.handlers = options.onOpen(wrap(socket, () => opened.handlers));
  });
  server.on("tlsClientError", (error: Error) => options.onRefused?.(error.message));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      const address = server.address();
      resolve({
        port: typeof address === "object" && address !== null ? address.port : options.port,
        stop: () => {
          server.close();
          for (const socket of accepted) socket.destroy();
          accepted.clear();
        },
        reloadTls: (tls) => server.setSecureContext({ ...tls }),
      });
    });
  });
}

export function connectTls(options: {
  hostname: string;
  port: number;
  handlers: TcpHandlers;
  tls: ClientTls;
}): Promise<TcpSocket> {
  const { ca, cert, key } = options.tls;
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: options.hostname,
      port: options.port,
      ca,
      ...(cert === undefined || key === undefined ? {} : { cert, key }),
      // The server's certificate must name the address dialled (IP or DNS SAN).
      ...(isIP(options.hostname) === 0 ? { servername: options.hostname } : {}),
    });
    socket.once("error", reject);
    socket.once("secureConnect", () => {
      socket.off("error", reject);
      socket.setNoDelay(true);
      resolve(wrap(socket, () => options.handlers));
    });
  });
}

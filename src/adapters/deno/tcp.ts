/**
 * TCP for Deno (Deno.listen / Deno.connect). Reads run in a loop per connection; writes are
 * chained one after another, with the bytes waiting bounded as in the Bun adapter.
 */
import { socketBufferedBytesMax } from "../../constants.ts";
import type { TcpHandlers, TcpListener, TcpSocket } from "../../runtime/runtime-adapter.ts";

type DenoConn = {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
  setNoDelay?(noDelay?: boolean): void;
};
type DenoListener = AsyncIterable<DenoConn> & { addr: { port: number }; close(): void };

declare const Deno: {
  listen(options: { hostname: string; port: number }): DenoListener;
  connect(options: { hostname: string; port: number }): Promise<DenoConn>;
};

function wrap(conn: DenoConn, onClose: () => void): TcpSocket {
  let pendingBytes = 0;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // Already closed by the peer.
    }
    onClose();
  };
  return {
    write(bytes) {
      if (closed || pendingBytes + bytes.length > socketBufferedBytesMax) return false;
      pendingBytes += bytes.length;
      chain = chain.then(async () => {
        let offset = 0;
        while (offset < bytes.length && !closed) offset += await conn.write(bytes.subarray(offset));
        pendingBytes -= bytes.length;
      }).catch(close);
      return true;
    },
    close,
  };
}

async function readLoop(
  conn: DenoConn,
  handlers: () => TcpHandlers | undefined,
  close: () => void,
) {
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      handlers()?.onData(buffer.slice(0, n));
    }
  } catch {
    // A reset connection ends like a closed one.
  }
  close();
}

export function listenTcp(options: {
  hostname: string;
  port: number;
  onOpen(socket: TcpSocket): TcpHandlers;
}): TcpListener {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  (async () => {
    try {
      for await (const conn of listener) {
        conn.setNoDelay?.(true);
        let handlers: TcpHandlers | undefined;
        const socket = wrap(conn, () => handlers?.onClose());
        handlers = options.onOpen(socket);
        void readLoop(conn, () => handlers, () => socket.close());
      }
    } catch {
      // The listener was closed.
    }
  })();
  return { port: listener.addr.port, stop: () => listener.close() };
}

export async function connectTcp(options: {
  hostname: string;
  port: number;
  handlers: TcpHandlers;
}): Promise<TcpSocket> {
  const conn = await Deno.connect({ hostname: options.hostname, port: options.port });
  conn.setNoDelay?.(true);
  const socket = wrap(conn, () => options.handlers.onClose());
  void readLoop(conn, () => options.handlers, () => socket.close());
  return socket;
}

/**
 * TCP for Bun (Bun.listen / Bun.connect). Bun's socket.write may take only part of the bytes;
 * the rest waits in a per-socket queue that `drain` empties. The queue is bounded: past
 * `socketBufferedBytesMax` the write is refused and the caller drops the connection, so a
 * stalled peer cannot make a node buffer without limit.
 */
import type { Socket } from "bun";
import { socketBufferedBytesMax } from "../../constants.ts";
import type { TcpHandlers, TcpListener, TcpSocket } from "../../runtime/runtime-adapter.ts";

type State = { handlers: TcpHandlers | undefined; pending: Uint8Array[]; pendingBytes: number };

function wrap(socket: Socket<State>): TcpSocket {
  return {
    write(bytes) {
      const state = socket.data;
      if (state.pendingBytes + bytes.length > socketBufferedBytesMax) return false;
      if (state.pending.length > 0) {
        state.pending.push(bytes);
        state.pendingBytes += bytes.length;
        return true;
      }
      const written = socket.write(bytes);
      if (written < bytes.length) {
        state.pending.push(bytes.subarray(Math.max(written, 0)));
        state.pendingBytes += bytes.length - Math.max(written, 0);
      }
      return true;
    },
    close() {
      socket.end();
    },
  };
}

function drain(socket: Socket<State>): void {
  const state = socket.data;
  while (state.pending.length > 0) {
    const head = state.pending[0]!;
    const written = socket.write(head);
    if (written <= 0) return;
    state.pendingBytes -= written;
    if (written < head.length) {
      state.pending[0] = head.subarray(written);
      return;
    }
    state.pending.shift();
  }
}

const socketHandlers = {
  data(socket: Socket<State>, bytes: Buffer) {
    socket.data.handlers?.onData(new Uint8Array(bytes));
  },
  drain,
  close(socket: Socket<State>) {
    socket.data.handlers?.onClose();
    socket.data.handlers = undefined;
  },
  error(socket: Socket<State>) {
    socket.data.handlers?.onClose();
    socket.data.handlers = undefined;
  },
};

export function listenTcp(options: {
  hostname: string;
  port: number;
  onOpen(socket: TcpSocket): TcpHandlers;
}): TcpListener {
  const listener = Bun.listen<State>({
    hostname: options.hostname,
    port: options.port,
    socket: {
      ...socketHandlers,
      open(socket) {
        socket.data = { handlers: undefined, pending: [], pendingBytes: 0 };
        socket.data.handlers = options.onOpen(wrap(socket));
      },
    },
  });
  return { port: listener.port, stop: () => listener.stop(true) };
}

export async function connectTcp(options: {
  hostname: string;
  port: number;
  handlers: TcpHandlers;
}): Promise<TcpSocket> {
  const socket = await Bun.connect<State>({
    hostname: options.hostname,
    port: options.port,
    data: { handlers: options.handlers, pending: [], pendingBytes: 0 },
    socket: { ...socketHandlers, connectError: () => {} },
  });
  socket.setNoDelay(true);
  return wrap(socket);
}

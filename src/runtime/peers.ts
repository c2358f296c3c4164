/**
 * Connections between nodes: the runtime side of the Transport port. Each node dials every
 * peer once and sends its frames on that connection; it reads frames from the connections
 * peers dialled to it. Frames are length-prefixed (codec/frame.ts) and handed to the host,
 * which validates them; a malformed frame closes that connection, never the node.
 *
 * Sends are fire and forget, as Raft expects: while a peer is unreachable its frames are
 * dropped, the host is told (so Raft probes it gently), and the dial is retried with backoff.
 */
import { frameBytesMax } from "../constants.ts";
import { encodeFrame, FrameReader } from "../codec/frame.ts";
import type { HostEntry } from "./host-entry.ts";
import type { NodeId } from "../raft/types.ts";
import type { PeerAddress } from "./options.ts";
import type { RuntimeAdapter, TcpListener, TcpSocket } from "./runtime-adapter.ts";

const dialBackoffMsMin = 50;
const dialBackoffMsMax = 1_000;

type Link = {
  readonly address: PeerAddress;
  socket: TcpSocket | undefined;
  dialing: boolean;
  backoffMs: number;
  retryAt: number;
};

export class Peers {
  private readonly links = new Map<NodeId, Link>();
  private readonly unreachable = new Set<NodeId>();
  private listener: TcpListener | undefined;
  private stopped = false;

  constructor(
    private readonly runtime: RuntimeAdapter,
    /** The guarded host (host-entry.ts): a throw inside it ends the process. */
    private readonly host: HostEntry,
    peers: readonly PeerAddress[],
    private readonly afterInput: () => void,
    private readonly log: (line: string) => void,
  ) {
    for (const address of peers) {
      this.links.set(address.id, {
        address,
        socket: undefined,
        dialing: false,
        backoffMs: dialBackoffMsMin,
        retryAt: 0,
      });
    }
  }

  listen(hostname: string, port: number): number {
    this.listener = this.runtime.listenTcp({
      hostname,
      port,
      onOpen: (socket) => {
        const reader = new FrameReader(frameBytesMax);
        return {
          onData: (bytes) => this.receive(reader, socket, bytes),
          onClose: () => {},
        };
      },
    });
    return this.listener.port;
  }

  private receive(reader: FrameReader, socket: TcpSocket, bytes: Uint8Array): void {
    const frames = reader.push(bytes);
    if (!Array.isArray(frames)) {
      this.log(`closing a peer connection: ${frames.error}`);
      socket.close();
      return;
    }
    for (const frame of frames) {
      const refused = this.host.receive(frame);
      if (refused !== undefined) {
        this.log(`closing a peer connection: ${refused.error}`);
        socket.close();
        return;
      }
    }
    this.afterInput();
  }

  /** The Transport port: called by the host during a flush. */
  send(to: NodeId, payload: Uint8Array): void {
    const link = this.links.get(to);
    if (link === undefined || this.stopped) return;
    if (link.socket !== undefined && link.socket.write(encodeFrame(payload, frameBytesMax))) return;
    if (link.socket !== undefined) {
      this.log(`peer ${to} is not reading; dropping the connection`);
      link.socket.close();
      link.socket = undefined;
    }
    this.markUnreachable(to);
    this.dial(link);
  }

  /** Raft hears of unreachable peers after the flush that found them, not inside it. */
  private markUnreachable(peer: NodeId): void {
    if (this.unreachable.size === 0) {
      setTimeout(() => {
        const peers = [...this.unreachable];
        this.unreachable.clear();
        if (this.stopped) return;
        for (const p of peers) this.host.reportUnreachable(p);
        this.afterInput();
      }, 0);
    }
    this.unreachable.add(peer);
  }

  private dial(link: Link): void {
    const now = Date.now();
    if (link.dialing || now < link.retryAt || this.stopped) return;
    link.dialing = true;
    const { id, host, port } = link.address;
    this.runtime.connectTcp({
      hostname: host,
      port,
      handlers: {
        onData: () => {},
        onClose: () => {
          if (link.socket !== undefined) this.log(`lost the connection to peer ${id}`);
          link.socket = undefined;
          this.markUnreachable(id);
        },
      },
    }).then((socket) => {
      link.dialing = false;
      if (this.stopped) {
        socket.close();
        return;
      }
      link.socket = socket;
      link.backoffMs = dialBackoffMsMin;
      this.log(`connected to peer ${id} at ${host}:${port}`);
    }, () => {
      link.dialing = false;
      link.retryAt = Date.now() + link.backoffMs;
      link.backoffMs = Math.min(link.backoffMs * 2, dialBackoffMsMax);
    });
  }

  stop(): void {
    this.stopped = true;
    this.listener?.stop();
    for (const link of this.links.values()) {
      link.socket?.close();
      link.socket = undefined;
    }
  }
}

/**
 * Connections between nodes: the runtime side of the Transport port. Each node dials every
 * peer once and sends its frames on that connection; it reads frames from the connections
 * peers dialled to it. Frames are length-prefixed (codec/frame.ts) and handed to the host,
 * which validates them; a malformed frame closes that connection, never the node.
 *
 * Sends are fire and forget, as Raft expects: while a peer is unreachable its frames are
 * dropped, the host is told (so Raft probes it gently), and the dial is retried with backoff.
 *
 * A peer is *connected* while this node's connection to it is open. Each connection gained or
 * lost is logged, and so is the moment this node, counting itself, stops or starts reaching a
 * majority of the voters (quorum lost, regained): without one, nothing it leads can commit.
 *
 * With peer TLS (--peer-ca, docs/security.md) every link is mutual TLS: a connection is
 * accepted only after a handshake with a certificate the cluster CA signed, and each frame on it
 * only if the node id it claims is one the certificate names (runtime/tls.ts); a node dialled
 * must likewise show a certificate for the id it was dialled as. Every refusal closes the
 * connection, is logged and is counted (kahuna_peer_tls_refused_total).
 */
import { frameBytesMax } from "../constants.ts";
import { encodeFrame, FrameReader } from "../codec/frame.ts";
import type { HostEntry } from "./host-entry.ts";
import type { PrometheusText } from "../metrics/text-format.ts";
import type { NodeId } from "../raft/types.ts";
import type { Logger } from "./logger.ts";
import type { PeerAddress } from "./options.ts";
import type { RuntimeAdapter, ServerTls, TcpListener, TcpSocket } from "./runtime-adapter.ts";
import { peerFrameSender } from "./peer-sender.ts";
import { identityMatches } from "./tls.ts";

const dialBackoffMsMin = 50;
const dialBackoffMsMax = 1_000;

type Link = {
  readonly address: PeerAddress;
  socket: TcpSocket | undefined;
  dialing: boolean;
  backoffMs: number;
  retryAt: number;
  /** Frames not written: no connection, or one that stopped reading. */
  dropped: number;
};

export class Peers {
  private readonly links = new Map<NodeId, Link>();
  private readonly unreachable = new Set<NodeId>();
  private listener: TcpListener | undefined;
  private stopped = false;
  /** Whether this node reached a majority when last looked; undefined before it ever did. */
  private quorum: boolean | undefined;
  /** Peer TLS: this node's certificate and key and the cluster CA; undefined: plain TCP. */
  private tls: ServerTls | undefined;
  /** Peer connections refused by TLS, by reason. */
  private readonly refused = { handshake: 0, identity: 0 };

  constructor(
    private readonly runtime: RuntimeAdapter,
    /** The guarded host (host-entry.ts): a throw inside it ends the process. */
    private readonly host: HostEntry,
    peers: readonly PeerAddress[],
    private readonly afterInput: () => void,
    private readonly log: Logger,
    tls?: ServerTls,
  ) {
    this.tls = tls;
    for (const address of peers) {
      this.links.set(address.id, {
        address,
        socket: undefined,
        dialing: false,
        backoffMs: dialBackoffMsMin,
        retryAt: 0,
        dropped: 0,
      });
    }
  }

  async listen(hostname: string, port: number): Promise<number> {
    const onOpen = (socket: TcpSocket) => {
      const reader = new FrameReader(frameBytesMax);
      // With TLS, the node id this connection's certificate was found to speak for.
      const verified = { sender: undefined as string | undefined };
      return {
        onData: (bytes: Uint8Array) => this.receive(reader, socket, bytes, verified),
        onClose: () => {},
      };
    };
    this.listener = this.tls === undefined
      ? this.runtime.listenTcp({ hostname, port, onOpen })
      : await this.runtime.listenTls({
        hostname,
        port,
        onOpen,
        tls: this.tls,
        onRefused: (reason) => this.refuse("handshake", { reason }),
      });
    return this.listener.port;
  }

  /** New certificates (SIGHUP): later connections, both ways, use them; open ones go on. */
  reloadTls(tls: ServerTls): void {
    this.tls = tls;
    this.listener?.reloadTls?.(tls);
  }

  private refuse(reason: keyof Peers["refused"], fields: Record<string, unknown>): void {
    this.refused[reason] += 1;
    this.log.warn("refused a peer connection", {
      event: "peerRefused",
      refused: reason,
      ...fields,
    });
  }

  private receive(
    reader: FrameReader,
    socket: TcpSocket,
    bytes: Uint8Array,
    verified: { sender: string | undefined },
  ): void {
    const frames = reader.push(bytes);
    if (!Array.isArray(frames)) {
      this.log.warn("closing a peer connection", { reason: frames.error });
      socket.close();
      return;
    }
    for (const frame of frames) {
      if (this.tls !== undefined && !this.senderAllowed(socket, frame, verified)) {
        socket.close();
        return;
      }
      const refused = this.host.receive(frame);
      if (refused !== undefined) {
        this.log.warn("closing a peer connection", { reason: refused.error });
        socket.close();
        return;
      }
    }
    this.afterInput();
  }

  /** Whether the frame's claimed sender is the node the connection's certificate names. */
  private senderAllowed(
    socket: TcpSocket,
    frame: Uint8Array,
    verified: { sender: string | undefined },
  ): boolean {
    const sender = peerFrameSender(frame);
    if (sender !== undefined && sender === verified.sender) return true;
    const identities = socket.peerIdentities ?? [];
    if (
      sender !== undefined && verified.sender === undefined && identityMatches(identities, sender)
    ) {
      verified.sender = sender;
      return true;
    }
    this.refuse("identity", {
      claimed: sender?.slice(0, 64) ?? "(unreadable)",
      certificate: identities.join(", "),
    });
    return false;
  }

  /** The Transport port: called by the host during a flush. */
  send(to: NodeId, payload: Uint8Array): void {
    const link = this.links.get(to);
    if (link === undefined || this.stopped) return;
    if (link.socket !== undefined && link.socket.write(encodeFrame(payload, frameBytesMax))) return;
    link.dropped += 1;
    if (link.socket !== undefined) {
      this.log.warn("peer is not reading; dropping the connection", { peer: to });
      link.socket.close();
      link.socket = undefined;
      this.connectionChanged();
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
    const handlers = {
      onData: () => {},
      onClose: () => {
        if (link.socket !== undefined && !this.stopped) {
          this.log.warn("peer lost", { event: "peerLost", peer: id });
        }
        link.socket = undefined;
        this.markUnreachable(id);
        this.connectionChanged();
      },
    };
    const tls = this.tls;
    const connecting = tls === undefined
      ? this.runtime.connectTcp({ hostname: host, port, handlers })
      : this.runtime.connectTls({
        hostname: host,
        port,
        handlers,
        tls: { ca: tls.ca ?? "", cert: tls.cert, key: tls.key },
      });
    connecting.then((socket) => {
      link.dialing = false;
      if (this.stopped) {
        socket.close();
        return;
      }
      if (tls !== undefined && !identityMatches(socket.peerIdentities ?? [], id)) {
        this.refuse("identity", {
          peer: id,
          address: `${host}:${port}`,
          certificate: (socket.peerIdentities ?? []).join(", "),
        });
        socket.close();
        link.retryAt = Date.now() + link.backoffMs;
        link.backoffMs = Math.min(link.backoffMs * 2, dialBackoffMsMax);
        return;
      }
      link.socket = socket;
      link.backoffMs = dialBackoffMsMin;
      this.log.info("peer connected", {
        event: "peerConnected",
        peer: id,
        address: `${host}:${port}`,
      });
      this.connectionChanged();
    }, (error) => {
      link.dialing = false;
      if (this.log.enabled("debug")) {
        this.log.debug("cannot connect to peer", { peer: id, reason: String(error) });
      }
      link.retryAt = Date.now() + link.backoffMs;
      link.backoffMs = Math.min(link.backoffMs * 2, dialBackoffMsMax);
    });
  }

  /** Logs quorum lost, reached or regained when this node's reach crosses a majority. */
  private connectionChanged(): void {
    if (this.stopped) return;
    const voters = this.links.size + 1;
    let reachable = 1;
    for (const link of this.links.values()) if (link.socket !== undefined) reachable += 1;
    const quorum = reachable > voters / 2;
    if (quorum === this.quorum || (this.quorum === undefined && !quorum)) return;
    const fields = { reachable, voters };
    if (!quorum) {
      this.log.warn("quorum lost: no majority of the cluster is reachable", {
        event: "quorumLost",
        ...fields,
      });
    } else if (this.quorum === false) {
      this.log.info("quorum regained", { event: "quorumRegained", ...fields });
    } else {
      this.log.info("quorum reached", { event: "quorumReached", ...fields });
    }
    this.quorum = quorum;
  }

  /** Whether this node's connection to `peer` is open now (for `/v1/cluster`). */
  isConnected(peer: NodeId): boolean {
    return this.links.get(peer)?.socket !== undefined;
  }

  /** Per peer: whether the connection is open, and the frames dropped for want of one. */
  writeMetrics(out: PrometheusText): void {
    const ids = [...this.links.keys()].sort();
    out.family("kahuna_peer_up", "gauge", "1 while this node's connection to the peer is open.");
    for (const peer of ids) {
      out.sample(this.links.get(peer)!.socket === undefined ? 0 : 1, { peer });
    }
    out.family(
      "kahuna_peer_frames_dropped_total",
      "counter",
      "Frames for a peer dropped: no open connection, or one that stopped reading.",
    );
    for (const peer of ids) out.sample(this.links.get(peer)!.dropped, { peer });
    out.family(
      "kahuna_peer_tls_refused_total",
      "counter",
      "Peer connections refused by mutual TLS (--peer-ca): a failed handshake (no certificate, " +
        "another CA's) or a certificate for another node id than claimed; 0 without peer TLS.",
    );
    out.sample(this.refused.handshake, { reason: "handshake" });
    out.sample(this.refused.identity, { reason: "identity" });
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

/**
 * The client binary protocol listener (docs/architecture.md): many requests in flight on one
 * connection, answered by id as they complete; a TryLock that waits in line is answered when
 * granted or when its wait is up, and closing the connection takes its waiting requests out of
 * their lines. It sits beside the REST listener and calls the same LockService; answers that
 * are ready in the same turn of the event loop go out in one frame. A connection that sends an
 * unreadable frame is closed; the node is unaffected. With --auth-file, a request is answered
 * Unauthorized until the connection's auth item names a client, and Forbidden beyond that
 * client's permissions (docs/security.md).
 */
import { type Authenticator, present, type PresentedToken } from "../auth/authenticator.ts";
import { frameBytesMax } from "../constants.ts";
import { decodeRequests, encodeAnswers } from "../codec/client-frame.ts";
import type { RouteInfo, WireAnswer, WireRequest } from "../codec/lock-wire.ts";
import { encodeFrame, FrameReader } from "../codec/frame.ts";
import { type LockResponse, type LockService, ResponseType } from "../locks/types.ts";
import type {
  RuntimeAdapter,
  ServerTls,
  TcpListener,
  TcpSocket,
} from "../runtime/runtime-adapter.ts";

/** Requests one connection may have in flight; more are answered MustRetry (backpressure). */
export const connectionInflightMax = 4096;

export type BinaryServerOptions = {
  readonly hostname: string;
  readonly port: number;
  readonly service: LockService;
  /** This node's view of the partitions' leaders, for route requests. */
  readonly route: () => RouteInfo;
  readonly log: (line: string) => void;
  /** Serve over TLS with this certificate (--tls-cert); the client shows none. */
  readonly tls?: ServerTls | undefined;
  /**
   * Client authentication (--auth-file, docs/security.md): a connection's requests are served
   * only after its auth item names a client, and only within that client's permissions.
   */
  readonly auth?: Authenticator | undefined;
};

export async function listenBinary(
  runtime: RuntimeAdapter,
  options: BinaryServerOptions,
): Promise<TcpListener> {
  const listen = {
    hostname: options.hostname,
    port: options.port,
    onOpen: (socket: TcpSocket) => new BinaryConnection(socket, options).handlers(),
  };
  if (options.tls === undefined) return runtime.listenTcp(listen);
  return await runtime.listenTls({ ...listen, tls: options.tls });
}

class BinaryConnection {
  private readonly reader = new FrameReader(frameBytesMax);
  private outgoing: WireAnswer[] = [];
  private inflight = 0;
  private closed = false;
  /** Aborts when the connection goes: TryLocks of it that wait in line leave the line. */
  private readonly gone = new AbortController();
  /**
   * The token of the connection's last auth item, digested; "invalid" when it could not be one.
   * Looked up again for every request, so a SIGHUP that removes its client shuts it out at once.
   */
  private token: PresentedToken | "invalid" | undefined;

  private readonly service: LockService;

  constructor(private readonly socket: TcpSocket, private readonly options: BinaryServerOptions) {
    this.service = options.service;
  }

  handlers() {
    return {
      onData: (bytes: Uint8Array) => this.receive(bytes),
      onClose: () => {
        this.closed = true;
        this.gone.abort();
      },
    };
  }

  private receive(bytes: Uint8Array): void {
    const frames = this.reader.push(bytes);
    if (!Array.isArray(frames)) return this.refuse(frames.error);
    for (const frame of frames) {
      const decoded = decodeRequests(frame);
      if ("error" in decoded) return this.refuse(decoded.error);
      // Handshakes first: a client sends its auth item in the frame of its first requests.
      for (const { id, token } of decoded.auths) {
        this.answer({ id, response: this.authenticate(token) });
      }
      for (const answer of decoded.rejected) this.answer(answer);
      for (const id of decoded.routes) {
        const refusal = this.refusal(undefined);
        if (refusal !== undefined) {
          this.answer({ id, response: refusal });
          continue;
        }
        this.answer({
          id,
          response: { type: ResponseType.Got, fencingToken: 0 },
          route: this.options.route(),
        });
      }
      for (const { id, request } of decoded.requests) {
        // Judged before the service sees it: a TryLock that may wait never joins a line, and
        // nothing is forwarded, for a client that may not ask.
        const refusal = this.refusal(request);
        if (refusal !== undefined) {
          this.answer({ id, response: refusal });
          continue;
        }
        if (this.inflight >= connectionInflightMax) {
          this.answer({
            id,
            response: {
              type: ResponseType.MustRetry,
              fencingToken: 0,
              error: "too many requests in flight",
            },
          });
          continue;
        }
        this.inflight += 1;
        this.service.execute(request, this.gone.signal).then(
          (response) => this.answer({ id, response }, true),
          (error) =>
            this.answer({
              id,
              response: { type: ResponseType.Errored, fencingToken: 0, error: String(error) },
            }, true),
        );
      }
    }
  }

  /**
   * The answer to an auth item: Got, with the client's name in `owner`, or Unauthorized. A node
   * without --auth-file accepts any handshake (Got without an owner), so a client may always
   * send one.
   */
  private authenticate(token: string): LockResponse {
    const auth = this.options.auth;
    if (auth === undefined) return { type: ResponseType.Got, fencingToken: 0 };
    const presented = present(token);
    this.token = presented ?? "invalid";
    const identity = auth.identifyPresented(presented);
    if (identity.kind === "refused") {
      return { type: ResponseType.Unauthorized, fencingToken: 0, error: identity.error };
    }
    return { type: ResponseType.Got, fencingToken: 0, owner: identity.client.name };
  }

  /** Why this connection may not send `request` (undefined: a route request), if it may not. */
  private refusal(request: WireRequest["request"] | undefined): LockResponse | undefined {
    const auth = this.options.auth;
    if (auth === undefined) return undefined;
    const identity = this.token === "invalid"
      ? auth.identifyToken("")
      : auth.identifyPresented(this.token);
    if (identity.kind === "refused") {
      return { type: ResponseType.Unauthorized, fencingToken: 0, error: identity.error };
    }
    if (request === undefined) return undefined;
    const checked = auth.check(identity.client, {
      kind: "lock",
      op: request.op,
      resource: request.resource,
    });
    if (checked.kind === "allowed") return undefined;
    return { type: ResponseType.Forbidden, fencingToken: 0, error: checked.error };
  }

  private answer(answer: WireAnswer, wasInflight = false): void {
    if (wasInflight) this.inflight -= 1;
    if (this.closed) return;
    if (this.outgoing.length === 0) queueMicrotask(() => this.send());
    this.outgoing.push(answer);
  }

  private send(): void {
    const answers = this.outgoing;
    this.outgoing = [];
    if (this.closed || answers.length === 0) return;
    if (!this.socket.write(encodeFrame(encodeAnswers(answers), frameBytesMax))) {
      this.refuse("the client is not reading its answers");
    }
  }

  private refuse(why: string): void {
    this.options.log(`closing a client connection: ${why}`);
    this.closed = true;
    this.gone.abort();
    this.socket.close();
  }
}

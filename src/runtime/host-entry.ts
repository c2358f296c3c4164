/**
 * The runtime's only way into the synchronous host. Every entry point (tick, flush, receive,
 * submit, cancel, reportUnreachable) is fatal on a throw: the host reports expected outcomes and bad
 * input as values (a refused frame, a MustRetry answer), so a throw is a broken invariant or
 * a storage failure, after which its state may be half updated. The node logs it and exits
 * (70), and recovers from disk on restart; running on could grant a lock twice.
 */
import type { NodeHost } from "../host/node-host.ts";

export type HostEntry = Pick<
  NodeHost,
  "tick" | "flush" | "receive" | "submit" | "cancel" | "reportUnreachable"
>;

/** `host` is read at each call, so the runtime may wire callbacks before it builds the host. */
export function guardHost(host: () => HostEntry, fatal: (error: unknown) => never): HostEntry {
  const guard = <T>(call: () => T): T => {
    try {
      return call();
    } catch (error) {
      return fatal(error);
    }
  };
  return {
    tick: () => guard(() => host().tick()),
    flush: () => guard(() => host().flush()),
    receive: (frame) => guard(() => host().receive(frame)),
    submit: (request, reply) => guard(() => host().submit(request, reply)),
    cancel: (reply) => guard(() => host().cancel(reply)),
    reportUnreachable: (peer) => guard(() => host().reportUnreachable(peer)),
  };
}

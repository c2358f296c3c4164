/**
 * The REST app over the in-memory LockService, for tests of the HTTP layer without a node: an
 * empty cluster, no metrics. `deps` overrides any of it.
 */
import { createApp, type HttpDeps } from "./app.ts";
import { MemoryLockService } from "./memory-lock-service.ts";

export function memoryApp(deps: Partial<HttpDeps> = {}): ReturnType<typeof createApp> {
  return createApp({
    service: new MemoryLockService(() => performance.now()),
    health: () => ({ ok: true }),
    cluster: () => ({ nodeId: "1", nodes: [], partitions: [] }),
    metrics: () => "",
    wallMs: () => Date.now(),
    log: () => undefined,
    ...deps,
  });
}

/**
 * A small in-process stand-in for one kahuna node, speaking the REST contract (docs/api.md)
 * with the lock rules of §2.1, for client tests that need what a real server will not do on
 * demand: answer 503 MustRetry or 504 Indeterminate a given number of times. Every other
 * client and CLI test runs against real server processes.
 */

type Entry = { owner: string; token: number; untilMs: number; unlocked: boolean };

export type FakeServer = {
  readonly url: string;
  /** Requests received, in order, as [path, body]. */
  readonly requests: Array<[string, Record<string, unknown>]>;
  /** The next `count` requests are answered with `status` (503 or 504) before being served. */
  failNext(count: number, status: 503 | 504, applyBeforeFailing?: boolean): void;
  stop(): void;
};

export function startFakeServer(): FakeServer {
  const locks = new Map<string, Entry>();
  const requests: Array<[string, Record<string, unknown>]> = [];
  let failures = 0;
  let failStatus: 503 | 504 = 503;
  let applyBeforeFailing = false;

  function held(entry: Entry | undefined, nowMs: number): boolean {
    return entry !== undefined && !entry.unlocked && entry.untilMs > nowMs;
  }

  function apply(path: string, body: Record<string, unknown>): Record<string, unknown> {
    const nowMs = performance.now();
    const key = `${String(body["durability"] ?? 1)}/${String(body["resource"])}`;
    const entry = locks.get(key);
    const owner = body["owner"];
    const expiresMs = Number(body["expiresMs"]);
    if (path === "/v1/locks/try-lock") {
      if (entry !== undefined && held(entry, nowMs)) {
        if (entry.owner === owner) return { type: 0, fencingToken: entry.token };
        return { type: 1, fencingToken: 0 };
      }
      const token = entry === undefined ? 0 : entry.token + 1;
      locks.set(key, { owner: String(owner), token, untilMs: nowMs + expiresMs, unlocked: false });
      return { type: 0, fencingToken: token };
    }
    if (path === "/v1/locks/try-extend") {
      if (entry === undefined || !held(entry, nowMs)) return { type: 102, fencingToken: 0 };
      if (entry.owner !== owner) return { type: 103, fencingToken: 0 };
      entry.untilMs = nowMs + expiresMs;
      return { type: 2, fencingToken: entry.token };
    }
    if (path === "/v1/locks/try-unlock") {
      if (entry === undefined || entry.unlocked) return { type: 102, fencingToken: 0 };
      if (entry.owner !== owner) {
        return held(entry, nowMs) ? { type: 103, fencingToken: 0 } : { type: 102, fencingToken: 0 };
      }
      entry.unlocked = true;
      return { type: 3, fencingToken: entry.token };
    }
    if (entry === undefined || !held(entry, nowMs)) {
      return { type: 102, owner: null, fencingToken: 0, expiresMs: 0, expires: 0 };
    }
    const remainingMs = Math.round(entry.untilMs - nowMs);
    return {
      type: 4,
      owner: entry.owner,
      fencingToken: entry.token,
      expiresMs: remainingMs,
      expires: Date.now() + remainingMs,
    };
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const path = new URL(request.url).pathname;
      const body = (await request.json()) as Record<string, unknown>;
      requests.push([path, body]);
      if (failures > 0) {
        failures -= 1;
        if (failStatus === 504 && applyBeforeFailing) apply(path, body);
        return Response.json({ type: failStatus === 503 ? 101 : 105 }, {
          status: failStatus,
          headers: failStatus === 503 ? { "retry-after": "1" } : {},
        });
      }
      return Response.json(apply(path, body));
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    failNext(count, status, apply = false) {
      failures = count;
      failStatus = status;
      applyBeforeFailing = apply;
    },
    stop() {
      server.stop(true);
    },
  };
}

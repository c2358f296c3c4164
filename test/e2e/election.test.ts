/**
 * Leader election on a real server (docs/client.md): candidates are elected in the order they
 * campaigned, each term with a higher fencing token; observers see every leader, value and
 * step-down; a leader whose server stops answering (SIGSTOP) is told it lost before any other
 * candidate is elected; a campaign ends at its waitMs or its signal without leaving the lock
 * held.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { KahunaClient, KahunaError, type Leader } from "../../src/client/index.ts";
import { Durability } from "../../src/locks/types.ts";
import { type ServerProcess, startServer } from "../helpers/server.ts";

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer({ extraArgs: ["--quiet"] });
});
afterAll(async () => await server.cleanup());

async function until(done: () => boolean, what: string, deadlineMs = 15_000): Promise<void> {
  const started = performance.now();
  while (!done()) {
    if (performance.now() - started > deadlineMs) throw new Error(`timed out: ${what}`);
    await Bun.sleep(10);
  }
}

function observing(client: KahunaClient, name: string, durability: Durability) {
  const stop = new AbortController();
  const seen: (Leader | null)[] = [];
  const done = (async () => {
    for await (const leader of client.observe(name, { durability, signal: stop.signal })) {
      seen.push(leader);
    }
  })();
  return { seen, stop, done };
}

const brief = (seen: readonly (Leader | null)[]) =>
  seen.map((l) => (l === null ? "none" : `${l.value} t${l.term}`));

for (const durability of [Durability.Persistent, Durability.Ephemeral]) {
  test(`durability ${durability}: elected in turn, proclaimed, resigned, observed`, async () => {
    const client = new KahunaClient({ servers: [server.url] });
    const name = `elect/${durability}`;
    const observer = observing(client, name, durability);
    await until(() => observer.seen.length === 1, "the first observation");
    expect(observer.seen).toEqual([null]);

    const a = await client.campaign(name, "host-a", { durability, expiresMs: 5_000 });

    const b = client.campaign(name, "host-b", { durability, expiresMs: 5_000 });
    expect(await client.leader(name, durability)).toEqual({
      value: "host-a",
      term: a.term,
      owner: a.owner,
    });
    await a.proclaim("host-a:2");
    expect((await client.leader(name, durability))?.value).toBe("host-a:2");
    await Bun.sleep(100);
    await a.resign();
    const elected = await b;
    expect(elected.term).toBeGreaterThan(a.term);
    await until(() => observer.seen.length >= 5, "B observed");
    await elected.resign();
    await until(() => observer.seen.length >= 6, "B's step-down observed");
    observer.stop.abort();
    await observer.done;
    expect(brief(observer.seen)).toEqual([
      "none",
      `host-a t${a.term}`,
      `host-a:2 t${a.term}`,
      "none",
      `host-b t${elected.term}`,
      "none",
    ]);
  }, 30_000);
}

test("a leader whose server stops answering learns it lost before another is elected", async () => {
  const client = new KahunaClient({ servers: [server.url], timeoutMs: 300, deadlineMs: 600 });
  const other = new KahunaClient({ servers: [server.url], deadlineMs: 60_000 });
  const leader = await client.campaign("elect/paused", "host-a", { expiresMs: 1_500 });
  let lostAtMs = 0;
  leader.lost.addEventListener("abort", () => (lostAtMs = performance.now()));
  server.process.kill("SIGSTOP");
  await Bun.sleep(2_500);
  server.process.kill("SIGCONT");
  const next = await other.campaign("elect/paused", "host-b", { expiresMs: 5_000 });
  const electedAtMs = performance.now();
  expect(lostAtMs).toBeGreaterThan(0);
  expect(lostAtMs).toBeLessThan(electedAtMs);
  expect(next.term).toBeGreaterThan(leader.term);
  await expect(leader.proclaim("still me")).rejects.toThrow(KahunaError);
  await next.resign();
}, 30_000);

test("a campaign ends at its waitMs, or at its signal, and leaves the lock as it was", async () => {
  const client = new KahunaClient({ servers: [server.url] });
  const holder = await client.campaign("elect/busy", "host-a");
  const started = performance.now();
  await expect(client.campaign("elect/busy", "host-b", { waitMs: 300 })).rejects.toMatchObject({
    kind: "notAcquired",
  });
  expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  const stop = new AbortController();
  const campaigning = client.campaign("elect/busy", "host-c", { signal: stop.signal });
  await Bun.sleep(100);
  stop.abort();
  await expect(campaigning).rejects.toMatchObject({ kind: "aborted" });
  await holder.resign();
  // host-c's abandoned request left the line: the lock is free, not handed to it.
  await Bun.sleep(200);
  expect(await client.leader("elect/busy")).toBeNull();
}, 30_000);

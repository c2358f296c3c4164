/**
 * Watching locks on real servers (docs/spec.md §2.6): `client.watch` over REST and the binary
 * protocol yields the lock's state, then every acquired, released and expired, in order, none
 * lost, also when changes come faster than the watcher asks; the REST long poll holds open and
 * answers bad input with 400 naming the field; a flood of watch requests meets the bound; a
 * watcher keeps going through a leader's kill -9.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { BinaryConnection, parseBinaryAddress } from "../../src/client/binary-connection.ts";
import { KahunaClient, type LockChange } from "../../src/client/index.ts";
import { watchPollsPerResourceMax } from "../../src/constants.ts";
import { Durability } from "../../src/locks/types.ts";
import { TestCluster } from "../helpers/cluster.ts";
import { type ServerProcess, startServer } from "../helpers/server.ts";

let server: ServerProcess;

beforeAll(async () => {
  server = await startServer({ extraArgs: ["--quiet"] });
}, 30_000);

afterAll(async () => {
  await server.cleanup();
}, 30_000);

async function until(done: () => boolean | Promise<boolean>, what: string, deadlineMs = 15_000) {
  const started = performance.now();
  while (!(await done())) {
    if (performance.now() - started > deadlineMs) throw new Error(`timed out: ${what}`);
    await Bun.sleep(10);
  }
}

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Runs a watch in the background, collecting what it yields until `stop` aborts it. */
function collect(client: KahunaClient, resource: string, durability: Durability) {
  const stop = new AbortController();
  const changes: LockChange[] = [];
  const done = (async () => {
    for await (const change of client.watch(resource, { durability, signal: stop.signal })) {
      changes.push(change);
    }
  })();
  return { changes, stop, done };
}

const brief = (changes: readonly LockChange[]) =>
  changes.map((c) => `${c.kind} ${c.owner} ${c.fencingToken}`);

for (const transport of ["rest", "binary"] as const) {
  for (const durability of [Durability.Persistent, Durability.Ephemeral]) {
    test(
      `${transport}, durability ${durability}: state, then every change in order, none lost`,
      async () => {
        const servers = [transport === "rest" ? server.url : `127.0.0.1:${server.binaryPort}`];
        const client = new KahunaClient({ servers, transport });
        const resource = `watch/${transport}/${durability}`;
        const watch = collect(client, resource, durability);
        await until(() => watch.changes.length === 1, "the first state");
        expect(watch.changes[0]).toMatchObject({ kind: "state", owner: "", missed: false });

        const tokens: number[] = [];
        // Faster than the watcher asks: each change goes in before the last answer comes back.
        for (const owner of ["A", "B", "C"]) {
          tokens.push((await client.tryLock(resource, owner, 60_000, durability)).fencingToken);
          expect(await client.unlock(resource, owner, durability)).toBe(true);
        }
        const short = await client.tryLock(resource, "D", 700, durability);
        expect(short.locked).toBe(true);
        const grantedAt = performance.now();
        await until(() => watch.changes.length === 9, "the expiry of D's lease");
        expect(performance.now() - grantedAt).toBeGreaterThan(600);
        watch.stop.abort();
        await watch.done;
        client.close();

        expect(brief(watch.changes.slice(1))).toEqual([
          `acquired A ${tokens[0]}`,
          `released A ${tokens[0]}`,
          `acquired B ${tokens[1]}`,
          `released B ${tokens[1]}`,
          `acquired C ${tokens[2]}`,
          `released C ${tokens[2]}`,
          `acquired D ${short.fencingToken}`,
          `expired D ${short.fencingToken}`,
        ]);
        expect(watch.changes.every((c) => !c.missed)).toBe(true);
        expect(watch.changes[7]!.expiresMs).toBe(700);
      },
      30_000,
    );
  }
}

test("an aborted REST watch takes its waiting request off the server", async () => {
  const metric = async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return Number(
      text.split("\n").find((l) => l.startsWith("kahuna_lock_watches "))?.split(" ")[1],
    );
  };
  const before = await metric();
  const client = new KahunaClient({ servers: [server.url] });
  const watch = collect(client, "watch/abort", Durability.Persistent);
  await until(() => watch.changes.length === 1, "the first state");
  await until(async () => (await metric()) === before + 1, "its request waiting");
  watch.stop.abort();
  await watch.done;
  await until(async () => (await metric()) === before, "its request gone");
}, 30_000);

test("a watch resumes from a cursor: the changes since, and none twice", async () => {
  const client = new KahunaClient({ servers: [server.url] });
  const first = await client.watch("watch/resume").next();
  const cursor = (first.value as LockChange).cursor;
  await client.tryLock("watch/resume", "A", 60_000);
  await client.unlock("watch/resume", "A");
  const stop = new AbortController();
  const seen: LockChange[] = [];
  for await (const change of client.watch("watch/resume", { after: cursor, signal: stop.signal })) {
    seen.push(change);
    if (seen.length === 2) stop.abort();
  }
  expect(seen.map((c) => c.kind)).toEqual(["acquired", "released"]);
}, 30_000);

test(
  "REST: a watch is held open until a change, and answered with none when its wait is up",
  async () => {
    const state = await (await post("/v1/locks/watch", { resource: "watch/rest" })).json();
    expect(state).toEqual({
      type: 6,
      cursor: "0.0",
      missed: false,
      events: [{ kind: "state", cursor: "0.0", owner: "", fencingToken: 0 }],
    });
    const sentAt = performance.now();
    const quiet = await (await post("/v1/locks/watch", {
      resource: "watch/rest",
      after: state.cursor,
      waitMs: 300,
    })).json();
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(290);
    expect(quiet).toEqual({ type: 6, cursor: "0.0", missed: false, events: [] });

    const waiting = post("/v1/locks/watch", {
      resource: "watch/rest",
      after: "0.0",
      waitMs: 20_000,
    });
    await Bun.sleep(100);
    const locked = await (await post("/v1/locks/try-lock", {
      resource: "watch/rest",
      owner: "A",
      expiresMs: 60_000,
    })).json();
    const changed = await (await waiting).json();
    expect(changed).toEqual({
      type: 6,
      cursor: `${locked.fencingToken}.1`,
      missed: false,
      events: [{
        kind: "acquired",
        cursor: `${locked.fencingToken}.1`,
        owner: "A",
        fencingToken: locked.fencingToken,
        expiresMs: 60_000,
      }],
    });
  },
  30_000,
);

test("REST: a bad cursor, wait or field is a 400 that names it", async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ resource: "r", after: "1.3" }, "after must be a cursor"],
    [{ resource: "r", after: 12 }, "after must be a cursor"],
    [{ resource: "r", waitMs: 300_001 }, "waitMs must be an integer from 0 to 300000"],
    [{ resource: "r", waitMs: -1 }, "waitMs must be"],
    [{ resource: "r", owner: "o" }, 'unknown field "owner"'],
    [{ after: "1.1" }, "missing field resource"],
  ];
  for (const [body, message] of cases) {
    const response = await post("/v1/locks/watch", body);
    expect(response.status).toBe(400);
    const answer = await response.json();
    expect(answer.type).toBe(100);
    expect(answer.error).toContain(message);
  }
}, 30_000);

test("a flood of watch requests on one lock meets the bound; the rest get MustRetry", async () => {
  const address = parseBinaryAddress(`127.0.0.1:${server.binaryPort}`);
  if ("error" in address) throw new Error(address.error);
  const connection = await BinaryConnection.open(address, 5_000);
  const request = {
    op: "watch",
    resource: "watch/flood",
    durability: Durability.Ephemeral,
    after: "0.0",
    waitMs: 30_000,
  } as const;
  const { after: _after, waitMs: _waitMs, ...state } = request;
  expect((await connection.execute(state)).type).toBe(6);
  const metric = async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return Number(
      text.split("\n").find((l) => l.startsWith("kahuna_lock_watches "))?.split(" ")[1],
    );
  };
  // Watches of the tests before may still wait on other locks (an aborted binary watch's last
  // request ends on the server at its waitMs).
  const before = await metric();
  const extra = 20;
  const answers = Array.from(
    { length: watchPollsPerResourceMax + extra },
    () => connection.execute(request, 30_000),
  );
  for (const answer of answers) answer.catch(() => undefined);
  const refused = await Promise.all(answers.slice(watchPollsPerResourceMax));
  for (const answer of refused) {
    expect(answer.type).toBe(101);
    expect(answer.error).toContain("too many watch requests");
  }
  expect(await metric()).toBe(before + watchPollsPerResourceMax);
  // One change answers every waiting request, each with that change.
  const locked = await connection.execute({
    op: "tryLock",
    resource: "watch/flood",
    owner: "A",
    expiresMs: 60_000,
    durability: Durability.Ephemeral,
  });
  const answered = await Promise.all(answers.slice(0, watchPollsPerResourceMax));
  for (const answer of answered) {
    expect(answer.type).toBe(6);
    expect(answer.watch?.events.map((e) => [e.kind, e.fencingToken])).toEqual([
      ["acquired", locked.fencingToken],
    ]);
  }
  expect(await metric()).toBe(before);
  connection.close();
}, 30_000);

test(
  "a watcher through a follower goes on after its leader's kill -9, losing no change",
  async () => {
    const cluster = await TestCluster.start(3, { partitions: 1 });
    try {
      const status = await cluster.status("1");
      const leader = status.partitions[0]!.leader;
      const others = cluster.nodes.filter((n) => n.id !== leader);
      const client = new KahunaClient({ servers: others.map((n) => n.url), deadlineMs: 60_000 });
      const watch = collect(client, "watch/failover", Durability.Persistent);
      await until(() => watch.changes.length === 1, "the first state");
      const a = await client.tryLock("watch/failover", "A", 60_000);
      await until(() => watch.changes.length === 2, "A acquired");
      await cluster.kill(leader);
      await cluster.waitHealthy(others.map((n) => n.id));
      expect(await client.unlock("watch/failover", "A")).toBe(true);
      const b = await client.tryLock("watch/failover", "B", 60_000);
      await until(() => watch.changes.length >= 4, "the changes after the failover", 30_000)
        .catch((error) => {
          throw new Error(`${error}: saw ${JSON.stringify(watch.changes)}`);
        });
      watch.stop.abort();
      await watch.done;
      // The persistent history is the same on every replica: the new leader places the cursor.
      expect(brief(watch.changes.slice(1))).toEqual([
        `acquired A ${a.fencingToken}`,
        `released A ${a.fencingToken}`,
        `acquired B ${b.fencingToken}`,
      ]);
      expect(watch.changes.some((c) => c.missed)).toBe(false);
    } finally {
      await cluster.stop();
    }
  },
  90_000,
);

/**
 * `kahuna lock RESOURCE EXPIRES_MS [--wait] [--kill-after] -- COMMAND` as users run it, against a
 * real `kahuna serve` process (ports 28170-28172): COMMAND sees the fencing token and owner that
 * get-lock shows, kahuna exits with COMMAND's status, a second run on a held lock exits 75 (or
 * waits with --wait), SIGTERM sent to kahuna reaches COMMAND, and when the server is paused past
 * the lease (SIGSTOP) COMMAND gets SIGTERM (SIGKILL after --kill-after if it ignores it) and
 * kahuna exits 124. The old form, `--` included, still takes a lock and prints its line.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startServer } from "../helpers/server.ts";
import type { ServerProcess } from "../helpers/server.ts";
import { commandLine, run } from "./client-fixtures/cli-run.ts";

let server: ServerProcess;
let env: Record<string, string>;
let counter = 0;

function fresh(name: string): string {
  counter += 1;
  return `lock-run-${name}-${counter}-${Date.now()}`;
}

beforeAll(async () => {
  server = await startServer({ httpPort: 28170, peerPort: 28171, binaryPort: 28172 });
  env = { KAHUNA_SERVER: server.url };
}, 60_000);

afterAll(async () => {
  server?.process.kill("SIGCONT");
  await server?.cleanup();
});

type Running = {
  readonly process: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Resolves, with the time it arrived, once stdout (or stderr) shows `text`. */
  waitFor(text: string, stream?: "stdout" | "stderr"): Promise<number>;
  /** The exit status, and all of stdout and stderr. */
  done(): Promise<{ status: number; stdout: string; stderr: string }>;
};

type Waiter = { text: string; stream: "stdout" | "stderr"; resolve: (atMs: number) => void };

/** Starts kahuna with `args`; its output is read as it comes, so a test can wait for a line. */
function start(args: readonly string[]): Running {
  const child = Bun.spawn(commandLine(args), {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...env },
    timeout: 60_000,
    killSignal: "SIGKILL",
  });
  const text = { stdout: "", stderr: "" };
  const waiters: Waiter[] = [];
  const read = async (stream: "stdout" | "stderr") => {
    const decoder = new TextDecoder();
    for await (const chunk of child[stream]) {
      text[stream] += decoder.decode(chunk, { stream: true });
      const now = performance.now();
      for (const w of waiters) {
        if (w.stream === stream && text[stream].includes(w.text)) w.resolve(now);
      }
    }
  };
  const reading = Promise.all([read("stdout"), read("stderr")]);
  return {
    process: child,
    waitFor(wanted, stream = "stdout") {
      if (text[stream].includes(wanted)) return Promise.resolve(performance.now());
      return new Promise((resolve) => waiters.push({ text: wanted, stream, resolve }));
    },
    async done() {
      const status = await child.exited;
      await reading;
      return { status, ...text };
    },
  };
}

test("COMMAND sees KAHUNA_FENCING_TOKEN and KAHUNA_OWNER, the token and owner get-lock shows", async () => {
  const resource = fresh("env");
  // One grant before, so the token is 1, not a 0 that any default could match.
  expect((await run(["lock", resource, "200", "--owner", "before"], { env })).status).toBe(0);
  await Bun.sleep(300);
  const getLock = commandLine(["get-lock", resource]).map((word) => `'${word}'`).join(" ");
  const script = `echo "f$KAHUNA_FENCING_TOKEN $KAHUNA_OWNER"; ${getLock}`;
  const result = await run([
    "lock",
    resource,
    "5000",
    "--owner",
    "runner",
    "--",
    "sh",
    "-c",
    script,
  ], {
    env,
  });
  expect(result).toEqual({ status: 0, stdout: "f1 runner\nf1 runner\n", stderr: "" });
  // Released when COMMAND exited.
  expect((await run(["get-lock", resource], { env })).stdout).toBe("f0 not found\n");
});

test("kahuna exits with COMMAND's status, and 128 + N when signal N ended it", async () => {
  const resource = fresh("status");
  expect((await run(["lock", resource, "5000", "--", "sh", "-c", "exit 42"], { env })).status)
    .toBe(42);
  expect((await run(["lock", resource, "5000", "--", "sh", "-c", "kill -KILL $$"], { env })).status)
    .toBe(137);
  const missing = await run(["lock", resource, "5000", "--", "no-such-command-here"], { env });
  expect(missing.status).toBe(127);
  expect(missing.stderr).toBe('kahuna: cannot run "no-such-command-here": command not found\n');
});

test("runs under Deno too", async () => {
  const resource = fresh("deno");
  const result = await run([
    "lock",
    resource,
    "5000",
    "--owner",
    "deno-runner",
    "--",
    "sh",
    "-c",
    'echo "$KAHUNA_OWNER"; exit 5',
  ], {
    env,
    deno: true,
  });
  expect(result).toEqual({ status: 5, stdout: "deno-runner\n", stderr: "" });
});

test("a second run on a held lock exits 75 at once, or waits its turn with --wait", async () => {
  const resource = fresh("busy");
  const first = start(["lock", resource, "5000", "--", "sh", "-c", "echo started; sleep 1.5"]);
  await first.waitFor("started");
  const refused = await run(["lock", resource, "5000", "--", "sh", "-c", "echo ran"], { env });
  expect(refused.status).toBe(75);
  expect(refused.stdout).toBe("");
  expect(refused.stderr).toMatch(/is held by another owner; "sh" did not run/);
  const startedMs = performance.now();
  const waited = await run([
    "lock",
    resource,
    "5000",
    "--wait",
    "10s",
    "--",
    "sh",
    "-c",
    "echo ran",
  ], {
    env,
  });
  expect(waited).toEqual({ status: 0, stdout: "ran\n", stderr: "" });
  expect(performance.now() - startedMs).toBeGreaterThan(500);
  expect((await first.done()).status).toBe(0);
}, 30_000);

test(
  "SIGTERM sent to kahuna reaches COMMAND; kahuna exits with its status and releases",
  async () => {
    const resource = fresh("forward");
    const script = 'trap "echo got TERM; exit 3" TERM; echo started; while :; do sleep 0.1; done';
    const running = start(["lock", resource, "5000", "--", "sh", "-c", script]);
    await running.waitFor("started");
    running.process.kill("SIGTERM");
    const result = await running.done();
    expect(result).toEqual({ status: 3, stdout: "started\ngot TERM\n", stderr: "" });
    expect((await run(["get-lock", resource], { env })).stdout).toBe("f0 not found\n");
  },
  30_000,
);

test(
  "a server paused past the lease: COMMAND gets SIGTERM before the lease ends, exit 124",
  async () => {
    const resource = fresh("lost");
    const expiresMs = 1_500;
    const script = 'trap "echo got TERM; exit 0" TERM; echo started; while :; do sleep 0.1; done';
    const running = start([
      "lock",
      resource,
      String(expiresMs),
      "--timeout",
      "1s",
      "--",
      "sh",
      "-c",
      script,
    ]);
    await running.waitFor("started");
    await Bun.sleep(expiresMs / 2); // the renewal at a third of the lease has been confirmed
    server.process.kill("SIGSTOP");
    const stoppedAtMs = performance.now();
    let lostAtMs = 0;
    void running.waitFor("lost the lock", "stderr").then((atMs) => (lostAtMs = atMs));
    const result = await running.done();
    server.process.kill("SIGCONT");
    expect(result.status).toBe(124);
    expect(result.stdout).toBe("started\ngot TERM\n");
    expect(result.stderr).toMatch(/^kahuna: lost the lock on "[^"]+": no renewal was confirmed/);
    expect(result.stderr).toContain('stopping "sh" (SIGTERM, then SIGKILL after 10s)');
    // The last renewal confirmed was sent before the pause, so the lease could not end sooner
    // than expiresMs after it; kahuna gave up on it (and sent SIGTERM) within that.
    expect(lostAtMs).toBeGreaterThan(stoppedAtMs);
    expect(lostAtMs - stoppedAtMs).toBeLessThan(expiresMs);
  },
  30_000,
);

test("COMMAND ignoring SIGTERM gets SIGKILL after --kill-after", async () => {
  const resource = fresh("kill");
  const script = 'trap "echo ignoring TERM" TERM; echo started; while :; do sleep 0.1; done';
  const running = start([
    "lock",
    resource,
    "1500",
    "--timeout",
    "1s",
    "--kill-after",
    "700ms",
    "--",
    "sh",
    "-c",
    script,
  ]);
  await running.waitFor("started");
  server.process.kill("SIGSTOP");
  const termAtMs = await running.waitFor("ignoring TERM");
  const status = await running.process.exited;
  const killedAfterMs = performance.now() - termAtMs;
  server.process.kill("SIGCONT");
  const result = await running.done();
  expect(status).toBe(124);
  expect(result.stdout).toBe("started\nignoring TERM\n");
  expect(result.stderr).toContain("SIGKILL after 700ms");
  // SIGKILL after the grace; kahuna then tries to release (--timeout 1s) before it exits.
  expect(killedAfterMs).toBeGreaterThan(600);
  expect(killedAfterMs).toBeLessThan(700 + 1_000 + 1_500);
}, 30_000);

test("the old form still takes the lock, with or without --", async () => {
  const resource = fresh("old");
  expect(await run(["lock", resource, "5000", "--owner", "o"], { env })).toEqual({
    status: 0,
    stdout: "f0 acquired o\n",
    stderr: "",
  });
  expect(await run(["lock", "--owner", "p", "--", `-${resource}`, "5000"], { env })).toEqual({
    status: 0,
    stdout: "f0 acquired p\n",
    stderr: "",
  });
  const misplaced = await run(["lock", resource, "5000", "--wait", "1s"], { env });
  expect(misplaced.status).toBe(2);
  expect(misplaced.stderr).toMatch(/--wait and --kill-after go with a command to run/);
});

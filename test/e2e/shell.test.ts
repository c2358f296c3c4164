/**
 * The interactive shell never leaks a lock, driven through a pseudo-terminal against a real
 * server: Ctrl-C on a line clears it, Ctrl-C during a request cancels it and releases
 * everything the session may hold (the cancelled lock too) with exit status 130, Tab
 * completes commands and held resources, quoting keeps a resource with spaces whole. Piped
 * input exits with the worst status of its commands and is never written to history.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { denoBin, mainTs, startServer, tempDir } from "../helpers/server.ts";
import type { ServerProcess } from "../helpers/server.ts";
import { commandLine, run } from "./client-fixtures/cli-run.ts";
import { openTerminal, scriptBin } from "./client-fixtures/pty.ts";

let server: ServerProcess;
let workDir: string;
let counter = 0;

function fresh(name: string): string {
  counter += 1;
  return `shell-test-${name}-${counter}-${Date.now()}`;
}

beforeAll(async () => {
  server = await startServer();
  workDir = tempDir("kahuna-shell-");
}, 60_000);

afterAll(async () => {
  await server?.cleanup();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

async function holder(resource: string, ephemeral = false): Promise<string> {
  const args = ["get-lock", resource, ...(ephemeral ? ["--ephemeral"] : [])];
  return (await run(args, { env: { KAHUNA_SERVER: server.url } })).stdout;
}

/**
 * A REST proxy in front of the real server that can hold back one answer: the request
 * reaches the server (so a lock is really taken) but the shell never hears back.
 */
function withholdingProxy(target: string) {
  let withholdNext = false;
  let withheld = 0;
  const proxy = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const body = await request.text();
      const answer = await fetch(`${target}${url.pathname}`, {
        method: request.method,
        headers: { "content-type": "application/json" },
        body,
      });
      if (withholdNext) {
        withholdNext = false;
        withheld += 1;
        return await new Promise<Response>(() => {});
      }
      return answer;
    },
  });
  return {
    url: `http://127.0.0.1:${proxy.port}`,
    withholdNext: () => (withholdNext = true),
    withheld: () => withheld,
    stop: () => proxy.stop(true),
  };
}

describe.skipIf(scriptBin === null)("on a terminal", () => {
  test("Ctrl-C clears a half-typed line, hints on an empty one, and Ctrl-D leaves", async () => {
    const historyFile = join(workDir, fresh("history"));
    const resource = fresh("clear");
    const terminal = openTerminal(commandLine(["cli"]), {
      KAHUNA_SERVER: server.url,
      KAHUNA_HISTORY: historyFile,
    });
    await terminal.waitFor("kahuna-cli> ");
    await terminal.type("get-lock never-ran");
    await terminal.waitFor("never-ran");
    await terminal.type("\x03");
    await terminal.waitFor("kahuna-cli> ", 2);
    await terminal.type(`lock ${resource} 30000\r`);
    await terminal.waitFor(" acquired ");
    await terminal.waitFor("kahuna-cli> ", 3);
    await terminal.type("\x03");
    await terminal.waitFor("(to leave, type exit or press Ctrl-D)");
    await terminal.waitFor("kahuna-cli> ", 4);
    await terminal.type("\x04");
    await terminal.waitFor(`f0 released ${resource}`);
    expect(await terminal.exited()).toBe(0);
    expect(terminal.seen()).not.toContain("not found");
    expect(readFileSync(historyFile, "utf8")).toBe(`lock ${resource} 30000\n`);
    expect(await holder(resource)).toBe("f0 not found\n");
  }, 60_000);

  const runtimes: Array<[string, string[]]> = [
    ["Bun", commandLine(["cli", "--timeout", "60s"])],
    ["Deno", [denoBin, "run", "--allow-all", mainTs, "cli", "--timeout", "60s"]],
  ];
  for (const [runtime, shell] of runtimes) {
    test(
      `Ctrl-C during a request cancels it, releases the session's locks, exits 130 (${runtime})`,
      async () => {
        const proxy = withholdingProxy(server.url);
        const held = fresh("held");
        const cancelled = fresh("cancelled");
        try {
          const terminal = openTerminal(shell, {
            KAHUNA_SERVER: proxy.url,
            KAHUNA_HISTORY: join(workDir, fresh("history")),
          });
          await terminal.waitFor("kahuna-cli> ");
          await terminal.type(`elock ${held} 60000\r`);
          await terminal.waitFor(" acquired ");
          await terminal.type(`lock ${held} 60000\r`);
          await terminal.waitFor(" acquired ", 2);
          await terminal.waitFor("kahuna-cli> ", 3);
          proxy.withholdNext();
          await terminal.type(`lock ${cancelled} 60000\r`);
          for (let polls = 0; polls < 200 && proxy.withheld() === 0; polls++) await Bun.sleep(25);
          expect(proxy.withheld()).toBe(1);
          // The server did take it; the shell never heard so.
          expect(await holder(cancelled)).toMatch(/^f0 [0-9a-f]{32}\n$/);
          await terminal.type("\x03");
          await terminal.waitFor(`interrupted: lock ${cancelled} was cancelled`);
          await terminal.waitFor(`f0 released ${cancelled}`);
          expect(await terminal.exited()).toBe(130);
          const seen = terminal.seen();
          expect(seen).toContain(`f0 released ${held}`);
          expect(seen).toMatch(new RegExp(`f\\d+ released ${held}`));
          expect(seen).not.toContain("ERR_USE_AFTER_CLOSE");
          expect(await holder(held)).toBe("f0 not found\n");
          expect(await holder(held, true)).toBe("f0 not found\n");
          expect(await holder(cancelled)).toBe("f0 not found\n");
        } finally {
          proxy.stop();
        }
      },
      60_000,
    );
  }

  test("Tab completes commands and the resources the session holds", async () => {
    const resource = fresh("tab");
    const terminal = openTerminal(commandLine(["cli"]), {
      KAHUNA_SERVER: server.url,
      KAHUNA_HISTORY: join(workDir, fresh("history")),
    });
    await terminal.waitFor("kahuna-cli> ");
    await terminal.type(`ext`);
    await terminal.waitFor("ext");
    await terminal.type(`\t`);
    await terminal.waitFor("extend-lock ");
    await terminal.type("\x15"); // Ctrl-U: drop the line, to type the lock first
    await terminal.type(`lock "${resource} x" 30000\r`);
    await terminal.waitFor(" acquired ");
    await terminal.waitFor("kahuna-cli> ", 3);
    await terminal.type(`get\t`);
    await terminal.waitFor("get-lock ");
    await terminal.type(`\t`);
    await terminal.waitFor(`get-lock "${resource} x"`);
    await terminal.type(`\r`);
    await terminal.waitFor("kahuna-cli> ", 4);
    await terminal.type("exit\r");
    await terminal.waitFor(`released ${resource} x`);
    expect(await terminal.exited()).toBe(0);
    // get-lock ran on the completed, quoted name: the session's own lock.
    expect(terminal.seen()).toMatch(/\r\nf0 [0-9a-f]{32}\r\n/);
  }, 60_000);
});

describe("piped input", () => {
  test("exits with the highest status of its commands and writes no history", async () => {
    const historyFile = join(workDir, fresh("history"));
    const resource = fresh("pipe");
    const env = { KAHUNA_SERVER: server.url, KAHUNA_HISTORY: historyFile };
    const ok = await run(["cli"], { env, stdin: `lock "${resource} a b" 30000\n` });
    expect(ok.status).toBe(0);
    expect(ok.stdout.trimEnd().split("\n").slice(1)).toEqual([
      expect.stringMatching(/^f0 acquired [0-9a-f]{32}$/),
      `f0 released ${resource} a b`,
    ]);
    const no = await run(["cli"], { env, stdin: `get-lock ${resource}\nhelp\n` });
    expect(no.status).toBe(1);
    const usage = await run(["cli"], { env, stdin: `lock 'unclosed 100\nget-lock x\n` });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toBe(`kahuna: unclosed ' quote; close it, as in lock "a b" 1000\n`);
    const dead = await run(["cli", "--server", "http://127.0.0.1:9", "--timeout", "1s"], {
      env,
      stdin: `get-lock ${resource}\n`,
    });
    expect(dead.status).toBe(3);
    expect(existsSync(historyFile)).toBe(false);
  }, 60_000);

  test("--format json reports a shell error as one JSON object on stderr", async () => {
    const env = { KAHUNA_SERVER: server.url, KAHUNA_HISTORY: join(workDir, fresh("history")) };
    const result = await run(["cli", "--format", "json"], { env, stdin: "frobnicate\n" });
    expect(result.status).toBe(2);
    expect(JSON.parse(result.stderr)).toEqual({
      error: "usage",
      message: 'unknown command "frobnicate"; type help for the list',
      exitStatus: 2,
    });
  }, 60_000);
});

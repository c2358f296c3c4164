/**
 * The CLI as users run it (docs/cli.md), against a real server process: every command's
 * output line and exit status, --format json, usage errors, an unreachable server, the
 * seed's flag form under the name kahuna-cli, and the interactive shell driven through stdin.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, repoRoot, startServer, tempDir, waitHealthy } from "../helpers/server.ts";
import type { ServerProcess } from "../helpers/server.ts";
import { commandLine, run } from "./client-fixtures/cli-run.ts";

let server: ServerProcess;
let env: Record<string, string>;
let counter = 0;

function fresh(name: string): string {
  counter += 1;
  return `cli-test-${name}-${counter}-${Date.now()}`;
}

beforeAll(async () => {
  server = await startServer();
  env = { KAHUNA_SERVER: server.url };
}, 60_000);

afterAll(async () => {
  await server?.cleanup();
});

describe("lock commands", () => {
  test("lock prints the token and the owner; a second owner is not acquired", async () => {
    const resource = fresh("lock");
    const first = await run(["lock", resource, "10000", "--owner", "alice"], { env });
    expect(first).toEqual({ status: 0, stdout: "f0 acquired alice\n", stderr: "" });
    const second = await run(["lock", resource, "10000"], { env });
    expect(second).toEqual({ status: 1, stdout: "f0 not acquired\n", stderr: "" });
    const again = await run(["lock", resource, "10000", "--owner", "alice"], { env });
    expect(again.stdout).toBe("f0 acquired alice\n");
  });

  test("lock without --owner makes a random 32-hex owner and prints it", async () => {
    const result = await run(["lock", fresh("random"), "5000"], { env });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^f0 acquired [0-9a-f]{32}\n$/);
  });

  test("get-lock prints the holder, or not found", async () => {
    const resource = fresh("get");
    await run(["lock", resource, "10000", "--owner", "bob"], { env });
    expect(await run(["get-lock", resource], { env })).toEqual({
      status: 0,
      stdout: "f0 bob\n",
      stderr: "",
    });
    expect(await run(["get-lock", fresh("missing")], { env })).toEqual({
      status: 1,
      stdout: "f0 not found\n",
      stderr: "",
    });
  });

  test("extend-lock extends for the owner only", async () => {
    const resource = fresh("extend");
    await run(["lock", resource, "10000", "--owner", "carol"], { env });
    const extended = await run(["extend-lock", resource, "20000", "--owner", "carol"], { env });
    expect(extended).toEqual({ status: 0, stdout: "f0 extended carol\n", stderr: "" });
    const notOwner = await run(["extend-lock", resource, "20000", "--owner", "mallory"], { env });
    expect(notOwner).toEqual({ status: 1, stdout: "f0 not extended: not the owner\n", stderr: "" });
    const missing = await run(["extend-lock", fresh("none"), "20000", "--owner", "carol"], { env });
    expect(missing).toEqual({ status: 1, stdout: "f0 not extended: does not exist\n", stderr: "" });
  });

  test("unlock releases for the owner; the next grant gets the next token", async () => {
    const resource = fresh("unlock");
    await run(["lock", resource, "10000", "--owner", "dave"], { env });
    const notOwner = await run(["unlock", resource, "--owner", "mallory"], { env });
    expect(notOwner).toEqual({ status: 1, stdout: "f0 not unlocked: not the owner\n", stderr: "" });
    const unlocked = await run(["unlock", resource, "--owner", "dave"], { env });
    expect(unlocked).toEqual({ status: 0, stdout: "f0 unlocked\n", stderr: "" });
    const twice = await run(["unlock", resource, "--owner", "dave"], { env });
    expect(twice).toEqual({ status: 1, stdout: "f0 not unlocked: does not exist\n", stderr: "" });
    const next = await run(["lock", resource, "10000", "--owner", "erin"], { env });
    expect(next.stdout).toBe("f1 acquired erin\n");
    expect((await run(["get-lock", resource], { env })).stdout).toBe("f1 erin\n");
  });

  test("--ephemeral works on the ephemeral lock of the same name", async () => {
    const resource = fresh("ephemeral");
    await run(["lock", resource, "10000", "--owner", "p"], { env });
    const locked = await run(["lock", resource, "10000", "--owner", "e", "--ephemeral"], { env });
    expect(locked.status).toBe(0);
    expect(locked.stdout).toMatch(/^f\d+ acquired e\n$/);
    expect((await run(["get-lock", resource, "--ephemeral"], { env })).stdout).toMatch(
      /^f\d+ e\n$/,
    );
    expect((await run(["get-lock", resource], { env })).stdout).toBe("f0 p\n");
    const unlocked = await run(["unlock", resource, "--owner", "e", "--ephemeral"], { env });
    expect(unlocked.status).toBe(0);
  });

  test("--format json prints one JSON object per command", async () => {
    const resource = fresh("json");
    const locked = await run(["lock", resource, "7000", "--owner", "j", "--format", "json"], {
      env,
    });
    expect(locked.status).toBe(0);
    expect(JSON.parse(locked.stdout)).toEqual({
      op: "lock",
      resource,
      durability: "persistent",
      owner: "j",
      acquired: true,
      fencingToken: 0,
      expiresMs: 7000,
    });
    const got = await run(["get-lock", resource, "--format", "json"], { env });
    const info = JSON.parse(got.stdout);
    expect(info).toMatchObject({ op: "get-lock", found: true, owner: "j", fencingToken: 0 });
    expect(info.expiresMs).toBeGreaterThan(0);
    expect(info.expiresMs).toBeLessThanOrEqual(7000);
    const refused = await run(["unlock", resource, "--owner", "x", "--format", "json"], { env });
    expect(refused.status).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ unlocked: false, reason: "notOwner" });
  });

  test("--server takes a comma-separated list and skips a dead server", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const result = await run(
      ["lock", fresh("servers"), "5000", "--owner", "s", "--server", `${dead},${server.url}`],
      { env: {} },
    );
    expect(result).toEqual({ status: 0, stdout: "f0 acquired s\n", stderr: "" });
  });
});

describe("errors", () => {
  const usageCases: Array<[string[], RegExp]> = [
    [[], /no command given/],
    [["frobnicate"], /unknown command "frobnicate"/],
    [["lock", "r"], /lock takes RESOURCE and EXPIRES_MS, got "r"/],
    [["lock", "a", "b", "100"], /got "a" "b" "100" \(quote a resource with spaces: "a b"\)/],
    [["lock", "a", "-5"], /EXPIRES_MS must be an integer from 1 to 2147483647, got "-5"/],
    [["lock", "a", "100", "--bogus"], /^kahuna: unknown option --bogus; the options are --owner,/],
    [["lock", "a", "100", "-x"], /unknown option -x; the options are/],
    [["lock", "a", "100", "--owner"], /--owner needs a value/],
    [["lock", "a", "100", "--owner", "--ephemeral"], /--owner needs a value/],
    [["lock", "a", "100", "--ephemeral=yes"], /--ephemeral takes no value/],
    [["lock", "a", "100", "--timeout", "soon"], /--timeout must be a duration from 1ms to 600s/],
    [["get-lock", "a", "--timeout", "0"], /--timeout must be a duration/],
    [["--bogus"], /unknown option "--bogus"; the commands are lock,/],
    [["cli", "--bogus"], /unknown option --bogus; .*run "kahuna-cli --help" for the usage/],
    [["cli", "extra"], /kahuna-cli takes flags or a command/],
    [["serve", "--bogus"], /unknown option --bogus; .*run "kahuna serve --help"/],
    [["serve", "now"], /serve takes only flags, got "now"/],
    [["lock", "r", "ten"], /EXPIRES_MS must be an integer from 1 to 2147483647, got "ten"/],
    [["lock", "r", "0"], /EXPIRES_MS must be an integer from 1 to 2147483647, got 0/],
    [["unlock", "r"], /unlock needs --owner O/],
    [["extend-lock", "r", "100"], /extend-lock needs --owner O/],
    [["get-lock", "r", "--owner", "o"], /get-lock does not take --owner/],
    [["lock", "r", "100", "--colour"], /unknown option --colour/],
    [["lock", "r", "100", "--format", "xml"], /--format must be "json" or "text"/],
    [["lock", "r", "100", "--server", "localhost:2070"], /http:\/\//],
    [["lock", "", "100"], /resource must be 1 to 512 bytes/],
    [["no-such-command"], /unknown command "no-such-command"; the commands are/],
    [["serve", "--http-port", "http"], /--http-port must be an integer from 0 to 65535/],
    [["serve", "--initial-cluster", "1=a"], /--initial-cluster entries look like 2=10.0.0.2:2071/],
    [["serve", "--node-id", "3", "--initial-cluster", "1=h:1,2=h:2"], /must include this node/],
    [["serve", "--partitions", "0"], /--partitions must be an integer from 1 to 1024/],
    [["repair"], /repair needs --data-dir DIR \(or KAHUNA_DATA_DIR\)/],
    [["repair", "./data"], /repair takes only --data-dir DIR, got "\.\/data"/],
    [["repair", "--data-dir"], /--data-dir needs a value; run "kahuna repair --help"/],
  ];
  for (const [args, message] of usageCases) {
    test(`usage error exits 2: kahuna ${args.join(" ")}`, async () => {
      const result = await run(args, { env: { KAHUNA_SERVER: "http://127.0.0.1:9" } });
      expect(result.status).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(message);
      // One line in kahuna's words, ending with where to find the usage.
      expect(result.stderr).toMatch(/^kahuna: [^\n]*; run "kahuna[- a-z]*help" for the usage\n$/);
      expect(result.stderr).not.toMatch(/To specify a positional argument|ERR_PARSE_ARGS/);
    });
  }

  test("an unreachable server exits 3 with one line saying what to check", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const result = await run(["lock", "r", "1000", "--server", dead]);
    expect(result.status).toBe(3);
    expect(result.stdout).toBe("");
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(/no kahuna server answered .*check that a server is running at/);
  });

  test("help prints the commands and exits 0", async () => {
    for (const args of [["help"], ["--help"], ["lock", "--help"]]) {
      const result = await run(args);
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/kahuna lock RESOURCE EXPIRES_MS/);
    }
    expect((await run(["help"])).stdout).toMatch(/kahuna repair --data-dir DIR/);
    const repair = await run(["repair", "--help"]);
    expect(repair.status).toBe(0);
    expect(repair.stdout).toMatch(/^usage: kahuna repair --data-dir DIR\n/);
  });
});

describe("kahuna-cli seed flags", () => {
  test("--lock, --get-lock, --extend-lock and --unlock-lock under the name kahuna-cli", async () => {
    const resource = fresh("seed");
    const opts = { env, as: "kahuna-cli" } as const;
    const locked = await run(["--lock", resource, "--expires", "10000"], opts);
    expect(locked.status).toBe(0);
    const owner = /^f0 acquired ([0-9a-f]{32})\n$/.exec(locked.stdout)?.[1];
    expect(owner).toBeDefined();
    expect(await run(["--get-lock", resource], opts)).toEqual({
      status: 0,
      stdout: `f0 ${owner}\n`,
      stderr: "",
    });
    const extended = await run(
      ["--extend-lock", resource, "--owner", owner!, "--expires", "9000"],
      opts,
    );
    expect(extended.stdout).toBe(`f0 extended ${owner}\n`);
    const busy = await run(["--lock", resource, "--expires", "10000"], opts);
    expect(busy).toEqual({ status: 1, stdout: "f0 not acquired\n", stderr: "" });
    const unlocked = await run(["--unlock-lock", resource, "--owner", owner!], opts);
    expect(unlocked).toEqual({ status: 0, stdout: "f0 unlocked\n", stderr: "" });
  });

  test("--unlock is an alias, and `kahuna cli` is the same as kahuna-cli", async () => {
    const resource = fresh("alias");
    const locked = await run(["cli", "--lock", resource, "--expires", "10000", "--owner", "o"], {
      env,
    });
    expect(locked.stdout).toBe("f0 acquired o\n");
    const unlocked = await run(["cli", "--unlock", resource, "--owner", "o"], { env });
    expect(unlocked).toEqual({ status: 0, stdout: "f0 unlocked\n", stderr: "" });
    const subcommand = await run(["lock", resource, "5000", "--owner", "p"], {
      env,
      as: "kahuna-cli",
    });
    expect(subcommand).toEqual({ status: 0, stdout: "f1 acquired p\n", stderr: "" });
    await run(["unlock", resource, "--owner", "p"], { env });
    const json = await run(["cli", "--get-lock", resource, "--format", "json"], { env });
    expect(JSON.parse(json.stdout)).toMatchObject({ found: false });
    expect(json.status).toBe(1);
  });

  test("seed flag mistakes are usage errors", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--lock", "r"], /--lock needs --expires MS/],
      [["--lock", "r", "--expires", "soon"], /--expires must be an integer/],
      [["--unlock-lock", "r"], /unlock needs --owner O/],
      [["--lock", "r", "--get-lock", "s", "--expires", "1"], /give one of/],
      [["--get-lock", "r", "--expires", "5"], /--expires does not go with --get-lock/],
    ];
    for (const [args, message] of cases) {
      const result = await run(args, { env, as: "kahuna-cli" });
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toMatch(/^kahuna: [^\n]*; run "kahuna-cli --help" for the usage\n$/);
    }
  });
});

describe("interactive shell", () => {
  test("runs piped commands with one session owner and releases its locks at EOF", async () => {
    const resource = fresh("shell");
    const historyFile = join(tempDir(), "history");
    const stdin = [
      `lock ${resource} 30000`,
      `get-lock ${resource}`,
      `extend-lock ${resource} 30000`,
      `elock ${resource} 30000`,
      `eget-lock ${resource}`,
      `lock ${resource}-gone 30000`,
      `unlock ${resource}-gone`,
      `unlock ${resource}-gone`,
      "frobnicate",
      "",
    ].join("\n");
    const result = await run([], {
      env: { ...env, KAHUNA_HISTORY: historyFile },
      stdin,
      as: "kahuna-cli",
    });
    // "frobnicate" was a usage error: a script sees it in the exit status.
    expect(result.status).toBe(2);
    const lines = result.stdout.trimEnd().split("\n");
    const owner = /^session owner ([0-9a-f]{32})$/.exec(lines[0]!)?.[1];
    expect(owner).toBeDefined();
    expect(lines.slice(1, 4)).toEqual([
      `f0 acquired ${owner}`,
      `f0 ${owner}`,
      `f0 extended ${owner}`,
    ]);
    expect(lines[4]).toMatch(new RegExp(`^f\\d+ acquired ${owner}$`));
    expect(lines[5]).toMatch(new RegExp(`^f\\d+ ${owner}$`));
    expect(lines.slice(6, 9)).toEqual([
      `f0 acquired ${owner}`,
      "f0 unlocked",
      "f0 not unlocked: does not exist",
    ]);
    // At EOF the shell releases what it still holds, persistent and ephemeral.
    expect(lines.slice(9).sort()).toEqual(
      [
        `f0 released ${resource}`,
        expect.stringMatching(new RegExp(`^f\\d+ released ${resource}$`)),
      ],
    );
    expect(result.stderr).toMatch(/unknown command "frobnicate"; type help/);
    expect((await run(["get-lock", resource], { env })).stdout).toBe("f0 not found\n");
    expect((await run(["get-lock", resource, "--ephemeral"], { env })).stdout).toBe(
      "f0 not found\n",
    );
  });

  test("a piped session lists the saved history but adds nothing to the file", async () => {
    const dir = tempDir();
    const historyFile = join(dir, "history");
    const resource = fresh("history");
    writeFileSync(historyFile, `get-lock ${resource}\nexit\n`);
    const shellEnv = { ...env, KAHUNA_HISTORY: historyFile };
    const second = await run(["cli"], { env: shellEnv, stdin: "help\nhistory\n" });
    expect(second.status).toBe(0);
    const lines = second.stdout.trimEnd().split("\n");
    expect(lines).toContain(`    1  get-lock ${resource}`);
    expect(lines).toContain("    2  exit");
    expect(lines).toContain("    3  help");
    expect(lines).toContain("    4  history");
    expect(second.stdout).toMatch(/eextend-lock/);
    expect(readFileSync(historyFile, "utf8")).toBe(`get-lock ${resource}\nexit\n`);
    rmSync(dir, { recursive: true, force: true });
  });

  test("exit ends the session early and releases its locks", async () => {
    const resource = fresh("exit");
    const historyFile = join(tempDir(), "history");
    const stdin = `lock ${resource} 60000\nexit\nlock ${resource}-never 60000\n`;
    const result = await run([], {
      env: { ...env, KAHUNA_HISTORY: historyFile },
      stdin,
      as: "kahuna-cli",
    });
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines.slice(2)).toEqual([`f0 released ${resource}`]);
    expect((await run(["get-lock", `${resource}-never`], { env })).stdout).toBe("f0 not found\n");
    expect((await run(["get-lock", resource], { env })).stdout).toBe("f0 not found\n");
  });

  test("SIGINT ends the session, releases its locks and exits 130", async () => {
    const resource = fresh("sigint");
    const historyFile = join(tempDir(), "history");
    const child = Bun.spawn(commandLine(["cli"]), {
      cwd: repoRoot,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...env, KAHUNA_HISTORY: historyFile },
      timeout: 30_000,
      killSignal: "SIGKILL",
    });
    child.stdin.write(`lock ${resource} 60000\n`);
    await child.stdin.flush();
    const reader = child.stdout.getReader();
    let seen = "";
    for (let reads = 0; reads < 50 && !seen.includes("acquired"); reads++) {
      const chunk = await reader.read();
      if (chunk.done) break;
      seen += new TextDecoder().decode(chunk.value);
    }
    expect(seen).toMatch(/f0 acquired [0-9a-f]{32}/);
    child.kill("SIGINT");
    for (let reads = 0; reads < 50; reads++) {
      const chunk = await reader.read();
      if (chunk.done) break;
      seen += new TextDecoder().decode(chunk.value);
    }
    expect(await child.exited).toBe(130);
    expect(seen).toContain(`f0 released ${resource}`);
    expect((await run(["get-lock", resource], { env })).stdout).toBe("f0 not found\n");
    expect(existsSync(historyFile)).toBe(false);
  });
});

describe("version", () => {
  const { version } = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));

  test("kahuna --version, kahuna version and kahuna-cli --version print package.json's version", async () => {
    // From a checkout the revision is unknown: only compile/build.ts writes it in.
    const line = `kahuna ${version} (revision unknown, bun ${Bun.version})\n`;
    for (
      const [args, as] of [
        [["--version"], "kahuna"],
        [["version"], "kahuna"],
        [["cli", "--version"], "kahuna"],
        [["--version"], "kahuna-cli"],
      ] as const
    ) {
      expect({ args, as, result: await run(args, { as }) })
        .toEqual({ args, as, result: { status: 0, stdout: line, stderr: "" } });
    }
  });

  test("under Deno the line names Deno's version", async () => {
    const result = await run(["--version"], { deno: true });
    expect(result.stdout).toMatch(
      new RegExp(
        `^kahuna ${
          version.replaceAll(".", "\\.")
        } \\(revision unknown, deno \\d+\\.\\d+\\.\\d+\\)\n$`,
      ),
    );
    expect(result.status).toBe(0);
  });
});

describe("under Deno", () => {
  test(
    "the same commands, seed flags and shell work when the executable runs under Deno",
    async () => {
      const resource = fresh("deno");
      const opts = { env, deno: true } as const;
      expect(await run(["lock", resource, "10000", "--owner", "d"], opts)).toEqual({
        status: 0,
        stdout: "f0 acquired d\n",
        stderr: "",
      });
      expect(await run(["--get-lock", resource], { ...opts, as: "kahuna-cli" })).toEqual({
        status: 0,
        stdout: "f0 d\n",
        stderr: "",
      });
      expect((await run(["unlock", resource], opts)).status).toBe(2);
      const historyFile = join(tempDir(), "history");
      const shell = await run(["cli"], {
        ...opts,
        env: { ...env, KAHUNA_HISTORY: historyFile },
        stdin: `lock ${resource}-shell 10000\n`,
      });
      const lines = shell.stdout.trimEnd().split("\n");
      expect(lines[1]).toMatch(/^f0 acquired [0-9a-f]{32}$/);
      expect(lines[2]).toBe(`f0 released ${resource}-shell`);
      expect(existsSync(historyFile)).toBe(false);
    },
    60_000,
  );
});

/** `script` (util-linux) gives the shell a pseudo-terminal, as a person at a keyboard would. */
const scriptBin = Bun.which("script");

describe("interactive shell on a terminal", () => {
  test.skipIf(scriptBin === null)(
    "shows the prompt, and the up arrow recalls this session's and the last session's commands",
    async () => {
      const dir = tempDir();
      const historyFile = join(dir, "history");
      const resource = fresh("tty");
      writeFileSync(historyFile, `get-lock ${resource}-earlier\n`);
      const shellCommand = commandLine(["cli"]).map((part) => `'${part}'`).join(" ");
      const child = Bun.spawn([scriptBin!, "-qfec", shellCommand, "/dev/null"], {
        cwd: repoRoot,
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, ...env, KAHUNA_HISTORY: historyFile, TERM: "xterm" },
        timeout: 30_000,
        killSignal: "SIGKILL",
      });
      const reader = child.stdout.getReader();
      let seen = "";
      const waitFor = async (text: string, count = 1) => {
        for (let reads = 0; reads < 200 && seen.split(text).length - 1 < count; reads++) {
          const chunk = await reader.read();
          if (chunk.done) break;
          seen += new TextDecoder().decode(chunk.value);
        }
        expect(seen.split(text).length - 1).toBeGreaterThanOrEqual(count);
      };
      const type = async (keys: string) => {
        child.stdin.write(keys);
        await child.stdin.flush();
      };
      await waitFor("kahuna-cli> ");
      await type(`lock ${resource} 30000\r`);
      await waitFor(" acquired ");
      await waitFor("kahuna-cli> ", 2);
      // Up twice: first this session's lock command, then the saved one from the file.
      await type("\x1b[A\x1b[A\r");
      await waitFor("f0 not found");
      await type("exit\r");
      await waitFor(`released ${resource}`);
      expect(await child.exited).toBe(0);
      expect(readFileSync(historyFile, "utf8")).toBe(
        `get-lock ${resource}-earlier\nlock ${resource} 30000\nget-lock ${resource}-earlier\nexit\n`,
      );
      rmSync(dir, { recursive: true, force: true });
    },
    60_000,
  );
});

describe("serve", () => {
  async function serve(args: string[], serveEnv: Record<string, string>) {
    return Bun.spawn(commandLine(["serve", ...args]), {
      cwd: repoRoot,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...serveEnv },
      timeout: 60_000,
      killSignal: "SIGKILL",
    });
  }

  test("serve reads KAHUNA_* variables, serves locks, and exits 0 on SIGINT", async () => {
    const httpPort = await freePort();
    const dataDir = tempDir();
    const child = await serve(["--quiet"], {
      KAHUNA_HTTP_PORT: String(httpPort),
      KAHUNA_PEER_PORT: String(await freePort()),
      KAHUNA_BINARY_PORT: "0",
      KAHUNA_DATA_DIR: dataDir,
      KAHUNA_NODE_ID: "n1",
    });
    const url = `http://127.0.0.1:${httpPort}`;
    try {
      await waitHealthy(url);
      const locked = await run(["lock", "served", "5000", "--owner", "o"], {
        env: { KAHUNA_SERVER: url },
      });
      expect(locked.stdout).toBe("f0 acquired o\n");
      expect(readdirSync(dataDir).length).toBeGreaterThan(0);
      child.kill("SIGINT");
      expect(await child.exited).toBe(0);
      expect(await new Response(child.stderr).text()).toBe("");
    } finally {
      child.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  test("a flag wins over its variable, and SIGTERM stops the node with exit 0", async () => {
    const httpPort = await freePort();
    const ignoredPort = await freePort();
    const dataDir = tempDir();
    const child = await serve(
      [
        "--http-port",
        String(httpPort),
        "--peer-port",
        String(await freePort()),
        "--binary-port",
        "0",
        "--data-dir",
        dataDir,
      ],
      { KAHUNA_HTTP_PORT: String(ignoredPort) },
    );
    try {
      await waitHealthy(`http://127.0.0.1:${httpPort}`);
      const ignored = await fetch(`http://127.0.0.1:${ignoredPort}/v1/health`).catch(() => null);
      expect(ignored).toBeNull();
      child.kill("SIGTERM");
      expect(await child.exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});

/**
 * Starts real kahuna server processes for tests: a fresh data directory, a free port on
 * 127.0.0.1, and a wait until /v1/health answers. Every test that needs a server uses this.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createServer } from "node:net";

export const repoRoot = resolve(import.meta.dir, "../..");
export const bunBin = join(repoRoot, "node_modules/.bin/bun");
export const denoBin = join(repoRoot, "node_modules/.bin/deno");
export const mainTs = join(repoRoot, "src/main.ts");

export type Runtime = "bun" | "deno" | { binary: string };

export type ServerProcess = {
  readonly url: string;
  readonly httpPort: number;
  readonly peerPort: number;
  readonly binaryPort: number;
  readonly dataDir: string;
  readonly process: Bun.Subprocess;
  /** Sends a signal and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts a new process with the same port and data directory. */
  restart(): Promise<ServerProcess>;
  /** Kills the process and removes the data directory. */
  cleanup(): Promise<void>;
};

/** Ports freePort handed out in this process: the OS may offer a just-closed port again. */
const portsGiven = new Set<number>();

/**
 * A port that was free a moment ago (the OS picks it), and never one this process was given
 * before: two asked in a row (a node's HTTP and peer ports) are never the same.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await osPort();
    if (portsGiven.has(port)) continue;
    portsGiven.add(port);
    return port;
  }
  throw new Error("freePort: the OS offered only ports already handed out, 100 times");
}

function osPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export function tempDir(prefix = "kahuna-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function commandFor(runtime: Runtime, args: string[]): string[] {
  if (runtime === "bun") return [bunBin, mainTs, ...args];
  if (runtime === "deno") return [denoBin, "run", "--allow-all", mainTs, ...args];
  return [runtime.binary, ...args];
}

export async function waitHealthy(
  url: string,
  deadlineMs = 20_000,
  wait: "healthy" | "listening" = "healthy",
  ca?: string,
): Promise<void> {
  const start = Date.now();
  let last = "";
  while (Date.now() - start < deadlineMs) {
    try {
      const response = await fetch(`${url}/v1/health`, ca === undefined ? {} : { tls: { ca } });
      if (response.status === 200 || wait === "listening") return;
      last = `status ${response.status}`;
    } catch (error) {
      last = String(error);
    }
    await Bun.sleep(50);
  }
  throw new Error(`server at ${url} not healthy after ${deadlineMs} ms: ${last}`);
}

export type StartOptions = {
  runtime?: Runtime;
  dataDir?: string;
  httpPort?: number;
  peerPort?: number;
  binaryPort?: number;
  extraArgs?: string[];
  env?: Record<string, string>;
  /** Wait until /v1/health is 200 (default), or only until the HTTP port answers at all. */
  wait?: "healthy" | "listening";
  /** The server serves HTTPS (--tls-cert in extraArgs) with a certificate this CA signed. */
  ca?: string;
};

export async function startServer(options: StartOptions = {}): Promise<ServerProcess> {
  const runtime = options.runtime ?? "bun";
  const dataDir = options.dataDir ?? tempDir();
  const httpPort = options.httpPort ?? (await freePort());
  const peerPort = options.peerPort ?? (await freePort());
  const binaryPort = options.binaryPort ?? (await freePort());
  const args = [
    "serve",
    "--http-port",
    String(httpPort),
    "--peer-port",
    String(peerPort),
    "--binary-port",
    String(binaryPort),
    "--data-dir",
    dataDir,
    ...(options.extraArgs ?? []),
  ];
  const child = Bun.spawn(commandFor(runtime, args), {
    cwd: repoRoot,
    stdout: "ignore",
    stderr: "pipe",
    env: { ...process.env, ...options.env },
  });
  const url = `${options.ca === undefined ? "http" : "https"}://127.0.0.1:${httpPort}`;
  try {
    await waitHealthy(url, 20_000, options.wait ?? "healthy", options.ca);
  } catch (error) {
    child.kill("SIGKILL");
    const stderr = await new Response(child.stderr).text();
    throw new Error(`${String(error)}\nserver stderr:\n${stderr}`);
  }
  const handle: ServerProcess = {
    url,
    httpPort,
    peerPort,
    binaryPort,
    dataDir,
    process: child,
    async kill(signal = "SIGTERM") {
      child.kill(signal);
      return await child.exited;
    },
    async restart() {
      return await startServer({ ...options, runtime, dataDir, httpPort, peerPort, binaryPort });
    },
    async cleanup() {
      child.kill("SIGKILL");
      await child.exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}

/**
 * Runs a command from the repository root, bounded by 60 s, and returns its exit status,
 * its stdout as lines (trailing newline dropped) and its stderr.
 */
export async function runCommand(
  command: string[],
): Promise<{ status: number; out: string[]; err: string }> {
  const child = Bun.spawn(command, {
    cwd: repoRoot,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 60_000,
    killSignal: "SIGKILL",
  });
  const [out, err, status] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { status, out: out.trimEnd().split("\n"), err };
}

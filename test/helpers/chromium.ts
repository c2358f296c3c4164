/**
 * Headless Chromium for tests, driven over the Chrome DevTools Protocol on one WebSocket: no
 * browser download and no driver library, only Debian's `chromium` package (installed by
 * .ci/run) and the protocol's Target, Runtime, Page and Emulation domains.
 *
 * The browser listens on a port it picks itself (--remote-debugging-port=0) and says which on
 * stderr. A page is a target attached in flat mode: its commands carry the session id. Errors
 * a page's scripts throw are collected, so a test can say that there were none.
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { tempDir } from "./server.ts";

/**
 * Where Chromium is: $KAHUNA_CHROMIUM when set (and nowhere else then), or Debian's or another
 * distribution's usual path; undefined when there is none.
 */
export function findChromium(): string | undefined {
  const chosen = process.env["KAHUNA_CHROMIUM"];
  const candidates = chosen !== undefined && chosen !== ""
    ? [chosen]
    : ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
  return candidates.find((path) => existsSync(path));
}

type Pending = { resolve(result: unknown): void; reject(error: Error): void; method: string };
type Event = { method: string; params: Record<string, unknown>; sessionId?: string };

export class Chromium {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners: ((event: Event) => void)[] = [];

  private constructor(
    private readonly child: ReturnType<typeof Bun.spawn>,
    private readonly socket: WebSocket,
    private readonly profileDir: string,
  ) {
    socket.addEventListener("message", (message) => this.receive(String(message.data)));
  }

  static async launch(executable: string): Promise<Chromium> {
    const profileDir = tempDir("kahuna-chromium-");
    const child = Bun.spawn([
      executable,
      "--headless",
      "--no-sandbox", // tests run as root, where Chromium's sandbox refuses to start
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--no-default-browser-check",
      "--hide-scrollbars",
      // Pages in tabs behind the first would poll less often: tests watch several at once.
      "--disable-background-timer-throttling",
      "--disable-renderer-backgrounding",
      "--disable-backgrounding-occluded-windows",
      "--remote-debugging-port=0",
      `--user-data-dir=${profileDir}`,
      "about:blank",
    ], { stdout: "ignore", stderr: "pipe" });
    let endpoint: string;
    try {
      endpoint = await devToolsEndpoint(child.stderr as ReadableStream<Uint8Array>, 30_000);
    } catch (error) {
      child.kill("SIGKILL");
      rmSync(profileDir, { recursive: true, force: true });
      throw error;
    }
    const socket = new WebSocket(endpoint);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener("error", () => reject(new Error(`cannot connect to ${endpoint}`)), {
        once: true,
      });
    });
    return new Chromium(child, socket, profileDir);
  }

  /** A CDP command, to the browser or (with sessionId) to one page. */
  send<T = Record<string, unknown>>(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<T> {
    const id = this.nextId++;
    this.socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (result: unknown) => void, reject, method });
    });
  }

  onEvent(listener: (event: Event) => void): void {
    this.listeners.push(listener);
  }

  private receive(text: string): void {
    const message = JSON.parse(text) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
    } & Partial<Event>;
    if (message.id === undefined) {
      for (const listener of this.listeners) listener(message as Event);
      return;
    }
    const pending = this.pending.get(message.id);
    this.pending.delete(message.id);
    if (message.error !== undefined) {
      pending?.reject(new Error(`${pending.method}: ${message.error.message}`));
    } else pending?.resolve(message.result);
  }

  async open(url: string, viewport: { width: number; height: number }): Promise<Page> {
    const { targetId } = await this.send<{ targetId: string }>("Target.createTarget", {
      url: "about:blank",
      newWindow: true,
    });
    const { sessionId } = await this.send<{ sessionId: string }>("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const page = new Page(this, sessionId);
    await page.send("Runtime.enable");
    await page.send("Page.enable");
    await page.send("Emulation.setDeviceMetricsOverride", {
      ...viewport,
      deviceScaleFactor: 1,
      mobile: false,
    });
    await page.send("Page.navigate", { url });
    await page.waitFor("document.readyState === 'complete'", 15_000);
    return page;
  }

  async close(): Promise<void> {
    this.socket.close();
    this.child.kill("SIGKILL");
    await this.child.exited;
    rmSync(this.profileDir, { recursive: true, force: true });
  }
}

export class Page {
  /** Exceptions the page's scripts threw, with where. */
  readonly errors: string[] = [];

  constructor(private readonly browser: Chromium, private readonly sessionId: string) {
    browser.onEvent((event) => {
      if (event.sessionId !== sessionId || event.method !== "Runtime.exceptionThrown") return;
      const details = event.params["exceptionDetails"] as {
        text: string;
        lineNumber: number;
        exception?: { description?: string };
      };
      this.errors.push(
        `${details.exception?.description ?? details.text} (line ${details.lineNumber + 1})`,
      );
    });
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}) {
    return this.browser.send<T>(method, params, this.sessionId);
  }

  /** The value of a JavaScript expression in the page (awaited if it is a promise). */
  async evaluate<T>(expression: string): Promise<T> {
    const answer = await this.send<{
      result: { value?: unknown };
      exceptionDetails?: { exception?: { description?: string }; text: string };
    }>("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
    if (answer.exceptionDetails !== undefined) {
      const details = answer.exceptionDetails;
      throw new Error(`${expression}: ${details.exception?.description ?? details.text}`);
    }
    return answer.result.value as T;
  }

  /** Waits until the expression is truthy in the page; fails after timeoutMs, saying which. */
  async waitFor(expression: string, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let last: unknown;
    while (performance.now() < deadline) {
      try {
        last = await this.evaluate<unknown>(expression);
        if (last) return;
      } catch (error) {
        last = error;
      }
      await Bun.sleep(100);
    }
    throw new Error(`the page did not show ${expression} within ${timeoutMs} ms (last: ${last})`);
  }

  /** Types into an input as a person would: focus, clear, insert the text. */
  async type(selector: string, text: string): Promise<void> {
    await this.evaluate(
      `(() => { const e = document.querySelector(${JSON.stringify(selector)}); e.focus(); ` +
        `e.value = ""; })()`,
    );
    await this.send("Input.insertText", { text });
  }

  /** A PNG of the whole page, its full height, written to `path`. */
  async screenshot(path: string): Promise<void> {
    const { cssContentSize } = await this.send<{
      cssContentSize: { width: number; height: number };
    }>("Page.getLayoutMetrics");
    const { data } = await this.send<{ data: string }>("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: cssContentSize.width, height: cssContentSize.height, scale: 1 },
    });
    writeFileSync(path, Buffer.from(data, "base64"));
  }
}

/** Reads Chromium's stderr until it names its DevTools WebSocket address. */
async function devToolsEndpoint(
  stderr: ReadableStream<Uint8Array>,
  timeoutMs: number,
): Promise<string> {
  const reader = stderr.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  const timeout = setTimeout(() => reader.cancel(), timeoutMs);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += decoder.decode(value, { stream: true });
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(seen);
      if (match !== null) {
        // Keep draining stderr, so that the browser never blocks on a full pipe.
        void drain(reader);
        return match[1]!;
      }
    }
  } finally {
    clearTimeout(timeout);
  }
  throw new Error(
    `Chromium did not say where its DevTools listen within ${timeoutMs} ms; its stderr:\n${seen}`,
  );
}

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  try {
    while (!(await reader.read()).done) { /* discarded */ }
  } catch {
    // The browser closed; nothing more to read.
  }
}

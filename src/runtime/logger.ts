/**
 * The node's log (docs/operations.md, "Logs"): one line per entry on stderr, with a timestamp
 * (UTC, ISO 8601 with milliseconds), a level, the node id, a message and fields.
 *
 * - `text` (the default) is for people:
 *   `2026-11-26T10:15:30.123Z INFO  [node 1] won the election partition=3 term=5`
 * - `json` is one JSON object per line (JSON lines), for log collectors:
 *   `{"time":"2026-11-26T10:15:30.123Z","level":"info","node":"1","msg":"won the election","partition":3,"term":5}`
 *
 * An entry below the configured level is dropped before anything is formatted. Field names
 * never replace the four fixed keys (time, level, node, msg): a clash is a programmer error.
 * A field holding a stack (`stack`) is printed on the lines after a text entry, indented.
 */
import { assert } from "../assert.ts";

export const logLevels = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof logLevels)[number];
export const logFormats = ["text", "json"] as const;
export type LogFormat = (typeof logFormats)[number];

export type LogValue = string | number | boolean | undefined;
export type LogFields = Readonly<Record<string, LogValue>>;

export type Logger = {
  enabled(level: LogLevel): boolean;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
};

export type LoggerOptions = {
  readonly format: LogFormat;
  readonly level: LogLevel;
  readonly nodeId: string;
  /** Writes one line (no newline at its end). */
  readonly write: (line: string) => void;
  /** Wall-clock milliseconds for the timestamp; Date.now by default. */
  readonly wallMs?: () => number;
};

const fixedKeys = new Set(["time", "level", "node", "msg"]);

/** A field value in a text line: bare when it reads unambiguously, else as a JSON string. */
function textValue(value: string | number | boolean): string {
  const text = String(value);
  return text !== "" && /^[^\s"=\\]+$/.test(text) ? text : JSON.stringify(text);
}

export function createLogger(options: LoggerOptions): Logger {
  const threshold = logLevels.indexOf(options.level);
  assert(threshold >= 0, `log level ${options.level} is one of ${logLevels.join(", ")}`);
  const wallMs = options.wallMs ?? Date.now;
  const write = (level: LogLevel, message: string, fields: LogFields | undefined) => {
    if (logLevels.indexOf(level) < threshold) return;
    const time = new Date(wallMs()).toISOString();
    const entries = Object.entries(fields ?? {}).filter(([, value]) => value !== undefined);
    for (const [key] of entries) assert(!fixedKeys.has(key), `log field ${key} is not reserved`);
    if (options.format === "json") {
      const record: Record<string, unknown> = { time, level, node: options.nodeId, msg: message };
      for (const [key, value] of entries) record[key] = value;
      options.write(JSON.stringify(record));
      return;
    }
    let line = `${time} ${level.toUpperCase().padEnd(5)} [node ${options.nodeId}] ${message}`;
    let stack = "";
    for (const [key, value] of entries) {
      if (key === "stack") stack = String(value);
      else line += ` ${key}=${textValue(value!)}`;
    }
    if (stack !== "") line += "\n" + stack.split("\n").map((l) => `    ${l.trim()}`).join("\n");
    options.write(line);
  };
  return {
    enabled: (level) => logLevels.indexOf(level) >= threshold,
    debug: (message, fields) => write("debug", message, fields),
    info: (message, fields) => write("info", message, fields),
    warn: (message, fields) => write("warn", message, fields),
    error: (message, fields) => write("error", message, fields),
  };
}

/** A logger that writes nothing, for tests and tools that run a node quietly. */
export const silentLogger: Logger = {
  enabled: () => false,
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/**
 * Where in the source an error was thrown: the first stack frame that names a script file
 * (`src/host/node-host.ts:632:28`), skipping native and built-in frames. The compiled binary
 * carries source maps, so its frames name the .ts files too.
 */
export function sourceLocation(error: unknown): string | undefined {
  const stack = error instanceof Error ? error.stack ?? "" : "";
  for (const line of stack.split("\n")) {
    const match = /^\s*at (?:.*\()?((?:file:\/\/)?[^()\s]+\.[cm]?[jt]sx?:\d+:\d+)\)?\s*$/.exec(
      line,
    );
    if (match !== null) return match[1]!;
  }
  return undefined;
}

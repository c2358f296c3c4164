import { expect, test } from "bun:test";
import { createLogger, sourceLocation } from "./logger.ts";

const at = Date.parse("2026-11-26T10:15:30.123Z");

function capture(format: "text" | "json", level: "debug" | "info" | "warn" | "error") {
  const lines: string[] = [];
  const log = createLogger({
    format,
    level,
    nodeId: "n1",
    write: (l) => lines.push(l),
    wallMs: () => at,
  });
  return { log, lines };
}

test("json lines carry time, level, node, msg and the fields, in that order", () => {
  const { log, lines } = capture("json", "info");
  log.info("won the election", { partition: 3, term: 5, leader: undefined, ok: true });
  expect(lines).toEqual([
    '{"time":"2026-11-26T10:15:30.123Z","level":"info","node":"n1","msg":"won the election","partition":3,"term":5,"ok":true}',
  ]);
  expect(JSON.parse(lines[0]!)).toEqual({
    time: "2026-11-26T10:15:30.123Z",
    level: "info",
    node: "n1",
    msg: "won the election",
    partition: 3,
    term: 5,
    ok: true,
  });
});

test("text lines read left to right; values with spaces or quotes are quoted; a stack follows", () => {
  const { log, lines } = capture("text", "debug");
  log.warn("closing a peer connection", { reason: 'frame is "bad" here', peer: "2", empty: "" });
  log.error("fatal error", { source: "src/a.ts:1:2", stack: "Error: x\n    at f (src/a.ts:1:2)" });
  expect(lines).toEqual([
    '2026-11-26T10:15:30.123Z WARN  [node n1] closing a peer connection reason="frame is \\"bad\\" here" peer=2 empty=""',
    "2026-11-26T10:15:30.123Z ERROR [node n1] fatal error source=src/a.ts:1:2\n    Error: x\n    at f (src/a.ts:1:2)",
  ]);
});

test("entries below the level are dropped", () => {
  const { log, lines } = capture("json", "warn");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  expect(lines.map((l) => JSON.parse(l).level)).toEqual(["warn", "error"]);
  expect(log.enabled("info")).toBe(false);
  expect(log.enabled("error")).toBe(true);
});

test("a field may not take the place of time, level, node or msg", () => {
  const { log } = capture("json", "info");
  expect(() => log.info("x", { level: "debug" })).toThrow("log field level is not reserved");
});

test("the source location is the first frame in a script file", () => {
  const error = new Error("boom");
  error.stack = [
    "SQLiteError: disk I/O error",
    "    at run (unknown)",
    "    at run (bun:sqlite:318:19)",
    "    at transaction (src/adapters/sqlite-log-store.ts:298:15)",
    "    at save (src/adapters/sqlite-log-store.ts:119:10)",
  ].join("\n");
  expect(sourceLocation(error)).toBe("src/adapters/sqlite-log-store.ts:298:15");
  const deno = new Error("boom");
  deno.stack =
    "Error: boom\n    at NodeHost.flush (file:///srv/kahuna/src/host/node-host.ts:600:12)";
  expect(sourceLocation(deno)).toBe("file:///srv/kahuna/src/host/node-host.ts:600:12");
  expect(sourceLocation("not an error")).toBeUndefined();
  // A real throw here: its location is this file.
  let thrown: unknown;
  try {
    throw new Error("here");
  } catch (error) {
    thrown = error;
  }
  expect(sourceLocation(thrown)).toMatch(/logger\.test\.ts:\d+:\d+$/);
});

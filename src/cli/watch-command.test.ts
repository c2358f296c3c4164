/** `kahuna watch`'s arguments: what it takes, and the usage errors for what it does not. */
import { expect, test } from "bun:test";
import { Durability } from "../client/index.ts";
import { changeLine, parseWatchCommand } from "./watch-command.ts";

test("watch takes a resource, a cursor, a count and the client flags", () => {
  const parsed = parseWatchCommand(["jobs/a", "--after", "12.1", "--count", "3", "--ephemeral"]);
  expect(parsed).toMatchObject({
    resource: "jobs/a",
    after: "12.1",
    count: 3,
    durability: Durability.Ephemeral,
    format: "text",
  });
});

test("a bad cursor, count or resource is a usage error that names it", () => {
  const message = (args: string[]) => {
    const parsed = parseWatchCommand(args);
    return "kind" in parsed && parsed.kind === "usage" ? parsed.message : "";
  };
  expect(message(["r", "--after", "1.3"])).toContain("--after must be a cursor");
  expect(message(["r", "--after", "x"])).toContain("--after must be a cursor");
  expect(message(["r", "--count", "0"])).toContain("--count must be a whole number from 1");
  expect(message(["r", "--count", "1.5"])).toContain("--count must be");
  expect(message([])).toContain("watch takes RESOURCE");
  expect(message(["a", "b"])).toContain("watch takes RESOURCE");
  expect(message(["x".repeat(600)])).toContain("resource must be");
  expect(message(["r", "--owner", "o"])).toContain("--owner");
});

test("each change prints as one line", () => {
  const base = { fencingToken: 4, cursor: "4.1", missed: false } as const;
  expect(changeLine({ ...base, kind: "acquired", owner: "w1", expiresMs: 500 }))
    .toBe("acquired w1 token 4 lease 500 ms cursor 4.1");
  expect(
    changeLine({ ...base, kind: "state", owner: "", fencingToken: 0, cursor: "0.0", missed: true }),
  )
    .toBe("state free token 0 cursor 0.0 (changes before it were missed)");
});

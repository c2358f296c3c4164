/** `kahuna elect`'s arguments: what it takes, and the usage errors for what it does not. */
import { expect, test } from "bun:test";
import { Durability } from "../client/index.ts";
import { leaderLine, parseElectCommand } from "./elect-command.ts";

test("a campaign takes NAME VALUE, a lease, a wait and a command; --observe takes NAME", () => {
  expect(parseElectCommand(["svc", "10.0.0.1", "--lease", "5s", "--", "run", "-x"])).toMatchObject({
    kind: "campaign",
    name: "svc",
    value: "10.0.0.1",
    leaseMs: 5_000,
    waitMs: undefined,
    command: ["run", "-x"],
    durability: Durability.Persistent,
  });
  expect(parseElectCommand(["svc", "v", "--wait", "30s", "--ephemeral"])).toMatchObject({
    waitMs: 30_000,
    durability: Durability.Ephemeral,
    command: [],
  });
  expect(parseElectCommand(["--observe", "svc", "--count", "2"])).toMatchObject({
    kind: "observe",
    name: "svc",
    count: 2,
  });
});

test("wrong words, values and flags are usage errors that say what is wrong", () => {
  const message = (args: string[]) => {
    const parsed = parseElectCommand(args);
    return "message" in parsed ? parsed.message : "";
  };
  expect(message(["svc"])).toContain("elect takes NAME and VALUE, got 1 words");
  expect(message(["--observe", "a", "b"])).toContain("elect --observe takes NAME");
  expect(message(["svc", "x".repeat(300)])).toContain("value must be 1 to 256 bytes");
  expect(message(["svc", "v", "--lease", "0s"])).toContain("--lease must be more than 0");
  expect(message(["svc", "v", "--"])).toContain("-- COMMAND goes with a campaign");
  expect(message(["--observe", "svc", "--count", "0"])).toContain("--count must be");
});

test("an observed leader prints as one line", () => {
  expect(leaderLine({ value: "10.0.0.1", term: 3, owner: "ab" }))
    .toBe('leader "10.0.0.1" term 3 (owner ab)');
  expect(leaderLine(null)).toBe("no leader");
});

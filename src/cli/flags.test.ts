import { expect, test } from "bun:test";
import { asksForJson, parseFlags } from "./flags.ts";

const spec = { owner: "string", server: "strings", ephemeral: "boolean", help: "boolean" } as const;

test("flags, values and arguments in any order; a negative number is an argument", () => {
  const flags = parseFlags(
    ["a", "--owner", "o", "-5", "--server=x", "--server", "y", "--ephemeral", "--", "--z"],
    spec,
  );
  if (typeof flags === "string") throw new Error(flags);
  expect(flags.positionals).toEqual(["a", "-5", "--z"]);
  expect(flags.strings.get("owner")).toBe("o");
  expect(flags.lists.get("server")).toEqual(["x", "y"]);
  expect(flags.booleans.has("ephemeral")).toBe(true);
});

test("the last value of a flag wins, and -h is --help", () => {
  const flags = parseFlags(["--owner", "a", "--owner=b", "-h"], spec);
  if (typeof flags === "string") throw new Error(flags);
  expect(flags.strings.get("owner")).toBe("b");
  expect(flags.booleans.has("help")).toBe(true);
});

test("each mistake is one line that names the flag", () => {
  const known = "the options are --owner, --server, --ephemeral, --help";
  expect(parseFlags(["--bogus"], spec)).toBe(`unknown option --bogus; ${known}`);
  expect(parseFlags(["--bogus=1"], spec)).toBe(`unknown option --bogus; ${known}`);
  expect(parseFlags(["-x"], spec)).toBe(`unknown option -x; ${known}`);
  expect(parseFlags(["--owner"], spec)).toBe("--owner needs a value");
  expect(parseFlags(["--owner", "--ephemeral"], spec)).toBe("--owner needs a value");
  expect(parseFlags(["--ephemeral=no"], spec)).toBe(
    `--ephemeral takes no value, got "--ephemeral=no"`,
  );
});

test("JSON output is recognised before the words parse", () => {
  expect(asksForJson(["--bogus", "--format", "json"])).toBe(true);
  expect(asksForJson(["--format=json"])).toBe(true);
  expect(asksForJson(["--format", "text"])).toBe(false);
});

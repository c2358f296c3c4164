import { expect, test } from "bun:test";
import { quoteWord, splitWords } from "./shell-words.ts";

test("blanks separate words, and quotes keep a resource with spaces whole", () => {
  expect(splitWords("  lock   a  1000 ")).toEqual(["lock", "a", "1000"]);
  expect(splitWords('lock "a b" 1000')).toEqual(["lock", "a b", "1000"]);
  expect(splitWords("lock 'a \"b\"' 1000")).toEqual(["lock", 'a "b"', "1000"]);
  expect(splitWords('get-lock "say \\"hi\\" \\\\ there"')).toEqual([
    "get-lock",
    'say "hi" \\ there',
  ]);
  expect(splitWords("get-lock a\\ b")).toEqual(["get-lock", "a b"]);
  expect(splitWords('get-lock x"y z"w')).toEqual(["get-lock", "xy zw"]);
  expect(splitWords('get-lock ""')).toEqual(["get-lock", ""]);
  expect(splitWords("")).toEqual([]);
});

test("an unclosed quote says how to close it", () => {
  expect(splitWords('lock "a b 1000')).toBe(
    'unclosed " quote; close it, as in lock "a b" 1000',
  );
  expect(splitWords("lock 'a")).toMatch(/^unclosed ' quote/);
});

test("quoteWord gives back what splitWords reads as the same word", () => {
  for (const word of ["plain", "a b", 'q"uote', "back\\slash", "it's", ""]) {
    expect(splitWords(`get-lock ${quoteWord(word)}`)).toEqual(["get-lock", word]);
  }
  expect(quoteWord("plain")).toBe("plain");
});

/**
 * The JSON examples of a docs page (```json blocks), and a check that one has the shape of a
 * real value: the same keys, in the same order, each with a value of the same type.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./server.ts";

export function jsonBlocks(page: string): Record<string, unknown>[] {
  const text = readFileSync(join(repoRoot, page), "utf8");
  return [...text.matchAll(/^```json\n([\s\S]*?)^```$/gm)].map((m) => JSON.parse(m[1]!));
}

/** Where `shown` and `actual` differ in keys or value types; undefined when alike. */
export function shapeOfEntry(
  shown: Record<string, unknown>,
  actual: Record<string, unknown>,
): string | undefined {
  const keys = (o: Record<string, unknown>) => Object.keys(o).join(",");
  if (keys(shown) !== keys(actual)) {
    return `keys ${keys(shown)} but a real entry has ${keys(actual)}`;
  }
  for (const key of Object.keys(shown)) {
    if (typeof shown[key] !== typeof actual[key]) return `${key} is not a ${typeof actual[key]}`;
  }
  return undefined;
}

import { expect, test } from "bun:test";
import { parse, RespError } from "./resp-client.ts";

test("RESP values parse whole, and a value cut short waits for more bytes", () => {
  const wire = Buffer.from(
    "+OK\r\n-ERR no\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n:1\r\n$1\r\nx\r\n",
  );
  const values = [];
  let offset = 0;
  for (;;) {
    const parsed = parse(wire, offset);
    if (parsed === undefined) break;
    values.push(parsed.value);
    offset = parsed.next;
  }
  expect(values).toEqual(["OK", new RespError("ERR no"), 42, "hello", null, [1, "x"]]);
  expect(offset).toBe(wire.length);
  for (let cut = 1; cut < 11; cut++) {
    expect(parse(Buffer.from("$5\r\nhello\r\n").subarray(0, cut), 0)).toBeUndefined();
  }
});

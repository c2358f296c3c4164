import { expect, test } from "bun:test";
import { encode } from "@msgpack/msgpack";
import { ResponseType } from "../locks/types.ts";
import { decodeAnswers, decodeRequests, encodeAnswers, encodeRequests } from "./client-frame.ts";

test("lock requests and route requests round-trip in one frame", () => {
  const frame = encodeRequests([
    { id: 1, request: { op: "tryLock", resource: "r", owner: "o", expiresMs: 10, durability: 1 } },
    { id: 2, route: true },
    { id: 3, request: { op: "get", resource: "r", durability: 0 } },
  ]);
  expect(decodeRequests(frame)).toEqual({
    requests: [
      {
        id: 1,
        request: { op: "tryLock", resource: "r", owner: "o", expiresMs: 10, durability: 1 },
      },
      { id: 3, request: { op: "get", resource: "r", durability: 0 } },
    ],
    routes: [2],
    rejected: [],
    auths: [],
  });
});

test("an answer may carry a route; a malformed route is refused", () => {
  const route = { node: "2", groups: 2, leaders: ["2", ""] };
  const frame = encodeAnswers([{
    id: 7,
    response: { type: ResponseType.Got, fencingToken: 0 },
    route,
  }]);
  expect(decodeAnswers(frame)).toEqual([{
    id: 7,
    response: { type: ResponseType.Got, fencingToken: 0 },
    route,
  }]);
  const bad = encode([1, [[7, 4, 0, null, null, null, ["2", 3, ["2"]]]]]);
  expect(decodeAnswers(bad)).toEqual({
    error: 'route leaders must be one node id (or "") per group',
  });
});

test("an invalid request with an id is answered InvalidInput; without one the frame is refused", () => {
  const invalid = encode([1, [[5, "tryLock", { resource: "" }]]]);
  const decoded = decodeRequests(invalid);
  expect("rejected" in decoded && decoded.rejected[0]?.response.type).toBe(
    ResponseType.InvalidInput,
  );
  expect(decodeRequests(encode([1, [["x", "tryLock", {}]]]))).toHaveProperty("error");
  expect(decodeRequests(encode([2, []]))).toEqual({
    error: "protocol version 2; this server speaks 1",
  });
});

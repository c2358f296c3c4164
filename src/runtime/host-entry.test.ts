/**
 * Every entry point into the host is fatal on a throw, through the same glue the server
 * uses: the guard itself, and the peer connections' receive path over a real TCP socket.
 */
import { expect, test } from "bun:test";
import { connect } from "node:net";
import { AssertionError } from "../assert.ts";
import { encodeFrame } from "../codec/frame.ts";
import { frameBytesMax } from "../constants.ts";
import { Durability } from "../locks/types.ts";
import { guardHost, type HostEntry } from "./host-entry.ts";
import { silentLogger } from "./logger.ts";
import { Peers } from "./peers.ts";
import { loadRuntime } from "./runtime-adapter.ts";

const broken = new AssertionError("half-updated state");

function throwingHost(): HostEntry {
  return {
    tick: () => {
      throw broken;
    },
    flush: () => {
      throw broken;
    },
    receive: () => {
      throw broken;
    },
    submit: () => {
      throw new TypeError("not an assertion, still a bug");
    },
    cancel: () => {
      throw broken;
    },
    reportUnreachable: () => {
      throw broken;
    },
  };
}

/** Records fatal errors; the real one exits the process, this one throws to stop the call. */
function recorder() {
  const errors: unknown[] = [];
  const fatal = (error: unknown): never => {
    errors.push(error);
    throw new Error("fatal called");
  };
  return { errors, fatal };
}

test("a throw in any host entry point goes to fatal, whatever the error", () => {
  const { errors, fatal } = recorder();
  const entry = guardHost(throwingHost, fatal);
  const calls: (() => unknown)[] = [
    () => entry.tick(),
    () => entry.flush(),
    () => entry.receive(new Uint8Array(1)),
    () => entry.submit({ op: "get", resource: "r", durability: Durability.Persistent }, () => {}),
    () => entry.cancel(() => {}),
    () => entry.reportUnreachable("2"),
  ];
  for (const call of calls) expect(call).toThrow("fatal called");
  expect(errors.length).toBe(6);
  expect(errors.filter((e) => e === broken).length).toBe(5);
  expect(errors[3]).toBeInstanceOf(TypeError);
});

test("a refused frame is a value, not fatal: it passes through the guard", () => {
  const { errors, fatal } = recorder();
  const refusing: HostEntry = {
    ...throwingHost(),
    receive: () => ({ error: "peer frame is not msgpack" }),
  };
  expect(guardHost(() => refusing, fatal).receive(new Uint8Array(1))).toEqual({
    error: "peer frame is not msgpack",
  });
  expect(errors).toEqual([]);
});

test("a host that throws on a frame from a real peer connection is fatal", async () => {
  const runtime = await loadRuntime();
  const errors: unknown[] = [];
  // The real fatal exits; this one records and lets the socket callback return.
  const fatal = (error: unknown): never => {
    errors.push(error);
    return undefined as never;
  };
  const peers = new Peers(runtime, guardHost(throwingHost, fatal), [], () => {}, silentLogger);
  const port = await peers.listen("127.0.0.1", 0);
  try {
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    socket.write(encodeFrame(new Uint8Array([0x90]), frameBytesMax));
    for (let i = 0; i < 200 && errors.length === 0; i++) await Bun.sleep(10);
    socket.destroy();
  } finally {
    peers.stop();
  }
  expect(errors).toEqual([broken]);
});

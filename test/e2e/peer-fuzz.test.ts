/**
 * Bad input from a peer is refused, never a crash: a node of a 3-node cluster takes random
 * bytes, frames with absurd lengths, msgpack of the wrong shape, and mutated valid peer
 * frames (random Raft messages from ids that are not voters, and from itself) on its peer
 * port, and stays up, healthy, with its locks. (Peers are trusted: a frame that forges a
 * voter's id is not something a node can tell from the real thing; see docs/cluster.md.)
 */
import { afterAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { encode } from "@msgpack/msgpack";
import { frameBytesMax } from "../../src/constants.ts";
import { encodeFrame } from "../../src/codec/frame.ts";
import { encodePeerFrame } from "../../src/multiraft/peer-frame.ts";
import { type Message, MessageType } from "../../src/raft/types.ts";
import { TestCluster } from "../helpers/cluster.ts";

let cluster: TestCluster | undefined;
afterAll(async () => await cluster?.stop());

function prng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}

function randomMessage(rand: (n: number) => number, to: string): Message {
  const types = Object.values(MessageType);
  const from = ["2", "9", "x", ""][rand(4)]!;
  const big = () => [0, 1, 2, 5, 1_000, 2 ** 31, Number.MAX_SAFE_INTEGER][rand(7)]!;
  const type = types[rand(types.length)]!;
  return {
    type,
    from,
    to,
    term: big(),
    logTerm: big(),
    index: big(),
    entries: type === MessageType.App
      ? Array.from(
        { length: rand(3) },
        () => ({ term: big(), index: 0, data: new Uint8Array(rand(8)) }),
      )
      : [],
    commit: big(),
    reject: rand(2) === 1,
    rejectHint: big(),
    context: big(),
    ...(type === MessageType.Snap
      ? {
        snapshot: {
          metadata: { index: big(), term: big(), voters: ["1", "2", "3"] },
          data: new Uint8Array(rand(16)),
        },
      }
      : {}),
  };
}

async function sendRaw(port: number, chunks: Uint8Array[]): Promise<void> {
  await new Promise<void>((resolve) => {
    const socket = connect(port, "127.0.0.1", () => {
      for (const chunk of chunks) socket.write(chunk);
      socket.end();
    });
    socket.on("close", () => resolve());
    socket.on("error", () => resolve());
    socket.setTimeout(2_000, () => socket.destroy());
  });
}

test("a node survives garbage and mutated frames on its peer port", async () => {
  cluster = await TestCluster.start(3, { partitions: 2 });
  const target = cluster.node("2");
  const lock = await fetch(`${target.url}/v1/locks/try-lock`, {
    method: "POST",
    body: JSON.stringify({ resource: "fuzz/held", owner: "keeper", expiresMs: 600_000 }),
  });
  expect((await lock.json() as { type: number }).type).toBe(0);
  const rand = prng(Number(process.env["KAHUNA_PEER_FUZZ_SEED"] ?? 20261126));
  const randomBytes = (n: number) => new Uint8Array(n).map(() => rand(256));
  for (let round = 0; round < 300; round++) {
    const kind = round % 5;
    let chunks: Uint8Array[];
    if (kind === 0) chunks = [randomBytes(rand(200))];
    else if (kind === 1) chunks = [new Uint8Array([0xff, 0xff, 0xff, 0xf0]), randomBytes(10)];
    else if (kind === 2) {
      chunks = [encodeFrame(encode([rand(3), "x", [1], {}, null]), frameBytesMax)];
    } else {
      // A well-formed frame of random messages; kind 4 flips a few bytes of it.
      const envelopes = Array.from({ length: 1 + rand(4) }, () => ({
        group: rand(3),
        message: randomMessage(rand, "2"),
      }));
      const payload = encodePeerFrame({
        from: envelopes[0]!.message.from,
        envelopes,
        forwards: [],
        answers: [],
      });
      if (kind === 4) { for (let i = 0; i < 3; i++) payload[rand(payload.length)] = rand(256); }
      chunks = [encodeFrame(payload, frameBytesMax)];
    }
    await sendRaw(target.peerPort, chunks);
  }
  // Still the same process, healthy once the cluster settles, and the lock is intact.
  expect(target.process?.process.exitCode).toBeNull();
  await cluster.waitHealthy(["2"]);
  let info: { type: number; owner?: string } | undefined;
  for (let i = 0; i < 100; i++) {
    const response = await fetch(`${target.url}/v1/locks/get-info`, {
      method: "POST",
      body: '{"resource":"fuzz/held"}',
    });
    if (response.status === 200) {
      info = await response.json() as { type: number; owner?: string };
      break;
    }
    await Bun.sleep(100);
  }
  expect(info).toMatchObject({ type: 4, owner: "keeper" });
}, 120_000);

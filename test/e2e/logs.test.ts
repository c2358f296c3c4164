/**
 * Structured logs from a real 3-node cluster run with --log-format json: every line a node
 * writes is one JSON object with time, level, node and msg. Killing the leader of a partition
 * shows, in the survivors' logs, the peer lost, the election won by one of them and the new
 * leader on the other; killing a second node shows the last one losing its quorum, and a
 * restart shows it regained.
 */
import { afterEach, expect, test } from "bun:test";
import { TestCluster } from "../helpers/cluster.ts";
import { jsonBlocks, shapeOfEntry } from "../helpers/doc-json.ts";

type Entry = Record<string, unknown> & { time: string; level: string; node: string; msg: string };

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** Everything a node writes to stderr, kept as it arrives (so the pipe never fills). */
class StderrLog {
  private text = "";
  constructor(stream: ReadableStream<Uint8Array>) {
    const decoder = new TextDecoder();
    void (async () => {
      for await (const chunk of stream) this.text += decoder.decode(chunk, { stream: true });
    })().catch(() => {});
  }

  /** Every complete line, parsed; a line that is not a JSON object fails the test. */
  entries(): Entry[] {
    const lines = this.text.split("\n").slice(0, -1);
    return lines.map((line) => {
      const entry = JSON.parse(line) as Entry;
      expect(typeof entry).toBe("object");
      expect(Number.isNaN(Date.parse(entry.time))).toBe(false);
      expect(["debug", "info", "warn", "error"]).toContain(entry.level);
      expect(typeof entry.node).toBe("string");
      expect(typeof entry.msg).toBe("string");
      return entry;
    });
  }

  /** Waits (bounded) until an entry matches. */
  async find(match: (entry: Entry) => boolean, deadlineMs = 15_000): Promise<Entry> {
    const started = Date.now();
    while (Date.now() - started < deadlineMs) {
      const found = this.entries().find(match);
      if (found !== undefined) return found;
      await Bun.sleep(50);
    }
    throw new Error(`no log entry matched within ${deadlineMs} ms; the log:\n${this.text}`);
  }
}

test(
  "a leader's death is logged by the survivors as JSON lines: peer lost, election, new leader; then quorum lost and regained",
  async () => {
    const c = await TestCluster.start(3, {
      partitions: 2,
      extraArgs: ["--log-format", "json", "--log-level", "info"],
    });
    cluster = c;
    const logs = new Map(
      c.nodes.map((
        n,
      ) => [n.id, new StderrLog(n.process!.process.stderr as ReadableStream<Uint8Array>)]),
    );
    const before = await c.status("1");
    const victim = before.partitions[0]!.leader;
    const victimPartitions = before.partitions.filter((p) => p.leader === victim);
    // Every node logged its start as JSON, with its own id.
    for (const node of c.nodes) {
      const started = await logs.get(node.id)!.find((e) => e.msg === "serving HTTP");
      expect(started.node).toBe(node.id);
    }

    await c.kill(victim);
    const survivors = c.nodes.filter((n) => n.id !== victim).map((n) => n.id);
    for (const id of survivors) {
      const lost = await logs.get(id)!.find((e) => e.event === "peerLost" && e.peer === victim);
      expect(lost.level).toBe("warn");
    }
    for (const partition of victimPartitions) {
      const won = await Promise.any(survivors.map(async (id) => {
        const entry = await logs.get(id)!.find((e) =>
          e.event === "electionWon" && e.partition === partition.group &&
          (e.term as number) > partition.term
        );
        return { id, entry };
      }));
      expect(won.entry.node).toBe(won.id);
      const other = survivors.find((id) => id !== won.id)!;
      const changed = await logs.get(other)!.find((e) =>
        e.event === "leaderChanged" && e.partition === partition.group && e.leader === won.id
      );
      expect(changed.term).toBe(won.entry.term);
    }

    // One node of three left: it reaches no majority, and says so; a peer back, and it has one.
    const [second, last] = survivors as [string, string];
    await c.kill(second);
    const lost = await logs.get(last)!.find((e) => e.event === "quorumLost");
    expect(lost).toMatchObject({ level: "warn", reachable: 1, voters: 3 });
    await c.startNode(second);
    const regained = await logs.get(last)!.find((e) => e.event === "quorumRegained");
    expect(regained).toMatchObject({ level: "info", reachable: 2, voters: 3 });
    expect(Date.parse(regained.time)).toBeGreaterThanOrEqual(Date.parse(lost.time));
    await logs.get(last)!.find((e) => e.event === "peerConnected" && e.peer === second);

    // docs/operations.md's JSON lines look like the real ones, event for event.
    const examples = jsonBlocks("docs/operations.md").filter((e) => e["event"] !== "fatal");
    expect(examples.map((e) => e["event"])).toEqual(["peerConnected", "peerLost", "electionWon"]);
    const all = [...logs.values()].flatMap((log) => log.entries());
    for (const example of examples) {
      const real = all.find((e) => e.event === example["event"])!;
      expect({ example, difference: shapeOfEntry(example, real) }).toEqual({
        example,
        difference: undefined,
      });
    }
  },
  90_000,
);

/**
 * Counters the host keeps for GET /metrics (Prometheus text). Plain numbers, updated on the
 * host's own thread; rendering is the only formatting done here.
 */
import { type LockRequest, type LockResponse, ResponseType } from "../locks/types.ts";

const ops: readonly LockRequest["op"][] = ["tryLock", "extend", "unlock", "get"];
const typeNames = new Map<number, string>(
  Object.entries(ResponseType).map(([name, value]) => [value, name]),
);

export class HostMetrics {
  storageWrites = 0;
  fsyncs = 0;
  entriesPersisted = 0;
  entriesApplied = 0;
  framesSent = 0;
  messagesSent = 0;
  badFrames = 0;
  snapshots = 0;
  forwarded = 0;
  /** Answers counted by a number made of op, durability and type (see `answered`). */
  private readonly requests = new Map<number, number>();
  private latencyMsSum = 0;
  private latencyCount = 0;

  answered(request: LockRequest, response: LockResponse, latencyMs: number): void {
    // A number, not a label string: this runs for every request, the labels only on render.
    const key = (ops.indexOf(request.op) * 2 + request.durability) * 1_000 + response.type;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    this.latencyMsSum += latencyMs;
    this.latencyCount += 1;
  }

  render(gauges: Record<string, number>): string {
    const lines: string[] = [];
    const counter = (name: string, help: string, value: number) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
    };
    lines.push(
      "# HELP kahuna_requests_total Lock requests answered, by op, durability and outcome.",
    );
    lines.push("# TYPE kahuna_requests_total counter");
    const labelled = [...this.requests].map(([key, count]) => {
      const op = ops[Math.floor(key / 2_000)];
      const durability = Math.floor(key / 1_000) % 2 === 1 ? "persistent" : "ephemeral";
      const outcome = typeNames.get(key % 1_000) ?? String(key % 1_000);
      return [`op="${op}",durability="${durability}",outcome="${outcome}"`, count] as const;
    });
    for (const [labels, count] of labelled.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
      lines.push(`kahuna_requests_total{${labels}} ${count}`);
    }
    counter("kahuna_request_latency_ms_sum", "Sum of request latencies in ms.", this.latencyMsSum);
    counter("kahuna_request_latency_ms_count", "Requests timed.", this.latencyCount);
    counter(
      "kahuna_storage_writes_total",
      "Storage transactions (group commits).",
      this.storageWrites,
    );
    counter("kahuna_fsyncs_total", "Storage transactions that required an fsync.", this.fsyncs);
    counter("kahuna_entries_persisted_total", "Raft entries written.", this.entriesPersisted);
    counter("kahuna_entries_applied_total", "Raft entries applied.", this.entriesApplied);
    counter("kahuna_peer_frames_sent_total", "Frames sent to peers.", this.framesSent);
    counter("kahuna_raft_messages_sent_total", "Raft messages sent to peers.", this.messagesSent);
    counter("kahuna_peer_frames_rejected_total", "Malformed peer frames refused.", this.badFrames);
    counter("kahuna_snapshots_total", "Snapshots taken.", this.snapshots);
    counter("kahuna_requests_forwarded_total", "Requests forwarded to a leader.", this.forwarded);
    for (const name of Object.keys(gauges).sort()) {
      lines.push(`# TYPE ${name} gauge`, `${name} ${gauges[name]}`);
    }
    return lines.join("\n") + "\n";
  }
}

/**
 * GET /metrics on a real 3-node cluster: the text passes `promtool check metrics` on every
 * node, and its values are the cluster's own: the request histogram counts exactly the
 * requests sent, exactly one node leads each partition and the terms match /v1/cluster, the
 * locks taken are held once over the cluster, peers are up and have exchanged frames, the
 * build info names package.json's version. docs/alerts.yml passes `promtool check rules`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TestCluster } from "../helpers/cluster.ts";
import { parseSamples, promtool, runPromtool, type Sample, total } from "../helpers/prometheus.ts";
import { repoRoot, tempDir } from "../helpers/server.ts";

const partitions = 4;
const locks = 12;
const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  version: string;
}).version;

if (promtool === null) {
  console.warn(
    "metrics.test.ts: promtool is not installed, so `promtool check` is skipped here " +
      "(apt-get install prometheus; CI installs it in .ci/run)",
  );
}

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start(3, { partitions });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

async function scrape(url: string): Promise<{ text: string; samples: Sample[] }> {
  const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
  const text = await response.text();
  return { text, samples: parseSamples(text) };
}

const tryLockLocked = {
  op: "tryLock",
  durability: "persistent",
  outcome: "Locked",
};

describe("GET /metrics on a 3-node cluster", () => {
  test.skipIf(promtool === null)("every node's text passes promtool check metrics", async () => {
    for (const node of cluster.nodes) {
      const { text } = await scrape(node.url);
      const checked = await runPromtool(["check", "metrics"], text);
      expect({ node: node.id, ...checked }).toEqual({ node: node.id, status: 0, output: "" });
    }
  });

  test("the values are the cluster's: requests, leaders, terms, locks, peers, build", async () => {
    const entry = cluster.nodes[0]!;
    const before = (await scrape(entry.url)).samples;
    const owner = "a1b2c3d4";
    for (let i = 0; i < locks; i++) {
      const response = await fetch(`${entry.url}/v1/locks/try-lock`, {
        method: "POST",
        body: JSON.stringify({ resource: `metrics/${i}`, owner, expiresMs: 120_000 }),
        signal: AbortSignal.timeout(10_000),
      });
      expect(await response.json()).toEqual({ type: 0, fencingToken: 0 });
    }
    const after = (await scrape(entry.url)).samples;
    const count = "kahuna_request_duration_seconds_count";
    expect(total(after, count, tryLockLocked) - total(before, count, tryLockLocked)).toBe(locks);
    const bucket = { ...tryLockLocked, le: "+Inf" };
    expect(total(after, "kahuna_request_duration_seconds_bucket", bucket)).toBe(
      total(after, count, tryLockLocked),
    );
    expect(total(after, "kahuna_request_duration_seconds_sum", tryLockLocked)).toBeGreaterThan(0);

    // Leaders settle at start; a transfer in flight between two scrapes is retried (bounded).
    let nodes: Sample[][] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      nodes = await Promise.all(cluster.nodes.map(async (n) => (await scrape(n.url)).samples));
      const leaders = Array.from(
        { length: partitions },
        (_, p) =>
          nodes.filter((s) =>
            total(s, "kahuna_partition_is_leader", { partition: String(p) }) === 1
          ).length,
      );
      if (leaders.every((n) => n === 1)) break;
      await Bun.sleep(100);
    }
    const statuses = await Promise.all(cluster.nodes.map((n) => cluster.status(n.id)));
    for (let p = 0; p < partitions; p++) {
      const partition = String(p);
      const leading = cluster.nodes.filter((_, i) =>
        total(nodes[i]!, "kahuna_partition_is_leader", { partition }) === 1
      );
      expect(leading.length).toBe(1);
      const leader = leading[0]!.id;
      statuses.forEach((status, i) => {
        expect(status.partitions[p]!.leader).toBe(leader);
        expect(total(nodes[i]!, "kahuna_partition_term", { partition })).toBe(
          status.partitions[p]!.term,
        );
        expect(total(nodes[i]!, "kahuna_partition_has_leader", { partition })).toBe(1);
        expect(total(nodes[i]!, "kahuna_partition_leader_changes_total", { partition }))
          .toBeGreaterThanOrEqual(1);
      });
    }

    // Each lock is held once over the cluster: only a partition's leader counts its locks.
    const held = nodes.map((s) => total(s, "kahuna_locks_held", { durability: "persistent" }));
    expect(held.reduce((a, b) => a + b, 0)).toBe(locks);
    // Every persistent change committed on its partition's leader, and every node wrote.
    const commits = nodes.map((s) => total(s, "kahuna_commit_duration_seconds_count"));
    expect(commits.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(locks);
    for (const [i, samples] of nodes.entries()) {
      expect(total(samples, "kahuna_storage_fsync_duration_seconds_count")).toBeGreaterThan(0);
      const self = cluster.nodes[i]!.id;
      for (const peer of cluster.nodes.map((n) => n.id).filter((id) => id !== self)) {
        expect(total(samples, "kahuna_peer_up", { peer })).toBe(1);
        expect(total(samples, "kahuna_peer_frames_sent_total", { peer })).toBeGreaterThan(0);
        expect(total(samples, "kahuna_peer_sent_bytes_total", { peer })).toBeGreaterThan(0);
        expect(total(samples, "kahuna_peer_frames_received_total", { peer })).toBeGreaterThan(0);
        expect(total(samples, "kahuna_peer_received_bytes_total", { peer })).toBeGreaterThan(0);
      }
      const build = samples.find((s) => s.name === "kahuna_build_info");
      expect(build?.value).toBe(1);
      expect(build?.labels).toMatchObject({ version, runtime: "bun" });
      expect(total(samples, "kahuna_partitions")).toBe(partitions);
      expect(total(samples, "process_resident_memory_bytes")).toBeGreaterThan(1_000_000);
      expect(total(samples, "process_cpu_seconds_total")).toBeGreaterThan(0);
      expect(total(samples, "process_open_fds")).toBeGreaterThan(3);
      const startSeconds = total(samples, "process_start_time_seconds");
      expect(Math.abs(startSeconds - Date.now() / 1000)).toBeLessThan(300);
    }
  });
});

test("the dashboard, the alerts and docs/operations.md name exactly the metrics served", async () => {
  const { text } = await scrape(cluster.nodes[0]!.url);
  const families = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]!));
  const names = (file: string) =>
    new Set(
      [...readFileSync(join(repoRoot, file), "utf8").matchAll(/\b(?:kahuna|process)_[a-z_]+/g)]
        .map((m) => m[0].replace(/_(bucket|sum|count)$/, ""))
        .filter((name) => !name.startsWith("kahuna_test")),
    );
  for (const file of ["docs/grafana-dashboard.json", "docs/alerts.yml", "docs/operations.md"]) {
    const unknown = [...names(file)].filter((name) => !families.has(name));
    expect({ file, unknown }).toEqual({ file, unknown: [] });
  }
  const undocumented = [...families].filter((name) => !names("docs/operations.md").has(name));
  expect(undocumented).toEqual([]);
  const dashboard = JSON.parse(readFileSync(join(repoRoot, "docs/grafana-dashboard.json"), "utf8"));
  expect(dashboard.panels.length).toBeGreaterThan(10);
});

test.skipIf(promtool === null)("docs/alerts.yml passes promtool check rules", async () => {
  const checked = await runPromtool(["check", "rules", join(repoRoot, "docs/alerts.yml")]);
  expect(checked.output).toContain("SUCCESS");
  expect(checked.status).toBe(0);
});

test.skipIf(promtool === null)(
  "docs/operations.md's scrape configuration, with docs/alerts.yml beside it, passes promtool check config",
  async () => {
    const page = readFileSync(join(repoRoot, "docs/operations.md"), "utf8");
    const config = /^```yaml\n([\s\S]*?)^```$/m.exec(page)?.[1];
    expect(config).toContain("job_name: kahuna");
    const dir = tempDir("kahuna-prometheus-");
    try {
      writeFileSync(join(dir, "prometheus.yml"), config!);
      copyFileSync(join(repoRoot, "docs/alerts.yml"), join(dir, "alerts.yml"));
      const checked = await runPromtool(["check", "config", join(dir, "prometheus.yml")]);
      expect(checked.output).toContain("SUCCESS");
      expect(checked.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

/**
 * Waits until a fresh kahuna cluster has settled: every partition has a leader and no term
 * has changed for `quietMs` (leaders are spread over the nodes a moment after start-up, by
 * leadership transfers; a benchmark started before that measures the transfers).
 */
export async function waitSettled(
  urls: readonly string[],
  quietMs = 3_000,
  deadlineMs = 60_000,
  /** For secured nodes: the CA of their HTTPS certificates, and an admin token. */
  init: Record<string, unknown> = {},
): Promise<void> {
  const started = Date.now();
  let last = "";
  let since = Date.now();
  while (Date.now() - started < deadlineMs) {
    const views = await Promise.all(urls.map(async (url) => {
      const cluster = await (await fetch(`${url}/v1/cluster`, init)).json() as {
        partitions: { group: number; leader: string | null; term: number }[];
      };
      return cluster.partitions.map((p) => `${p.group}:${p.leader ?? "-"}:${p.term}`).join(",");
    })).catch(() => ["unreachable"]);
    const view = views.join("|");
    const agreed = views.every((v) => v === views[0]) && !view.includes(":-:") &&
      !view.includes("unreachable");
    if (view !== last || !agreed) {
      last = view;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
    await Bun.sleep(200);
  }
  throw new Error(`the cluster did not settle within ${deadlineMs} ms`);
}

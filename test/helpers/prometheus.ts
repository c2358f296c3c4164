/**
 * Reading /metrics in tests: a parser for the samples of the Prometheus text format (enough
 * for kahuna's output: no timestamps, label values without escaped quotes), and promtool,
 * Prometheus' own checker (Debian package `prometheus`, installed by .ci/run), run on a text
 * or a file.
 */
export type Sample = { name: string; labels: Record<string, string>; value: number };

export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) {
      labels[pair[1]!] = pair[2]!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sum of every sample of `name` whose labels include `where`. */
export function total(
  samples: readonly Sample[],
  name: string,
  where: Record<string, string> = {},
): number {
  return samples
    .filter((s) =>
      s.name === name && Object.entries(where).every(([key, value]) => s.labels[key] === value)
    )
    .reduce((sum, s) => sum + s.value, 0);
}

export const promtool = Bun.which("promtool");

/** Runs promtool with `args`, `input` on its stdin; its exit status and what it printed. */
export async function runPromtool(
  args: string[],
  input = "",
): Promise<{ status: number; output: string }> {
  if (promtool === null) throw new Error("promtool is not installed");
  const child = Bun.spawn([promtool, ...args], {
    stdin: new TextEncoder().encode(input),
    stdout: "pipe",
    stderr: "pipe",
    timeout: 30_000,
  });
  const [out, err, status] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { status, output: out + err };
}

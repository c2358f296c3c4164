/**
 * Durations on the command line: "500ms", "10s", "1.5m", "1h", "7d", or a plain number of
 * seconds. One parser for every flag that takes one (`kahuna bench --duration`, `kahuna serve
 * --sweep-grace`), with an answer that names the flag and what is allowed.
 */
const unitMs: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Whole milliseconds from 0 to `maxMs`, or the message saying what is wrong. */
export function parseDurationMs(
  flag: string,
  text: string,
  maxMs = 24 * 3_600_000,
): number | string {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (match === null) {
    return `${flag} must be a duration like 10s, 500ms, 1m or 1h, got ${JSON.stringify(text)}`;
  }
  const ms = Math.round(Number(match[1]) * unitMs[match[2] ?? "s"]!);
  if (ms > maxMs) {
    return `${flag} must be at most ${formatDuration(maxMs)}, got ${JSON.stringify(text)}`;
  }
  return ms;
}

/** The largest unit that divides `ms` evenly: 86400000 is "1d", 1500 is "1500ms". */
export function formatDuration(ms: number): string {
  for (const unit of ["d", "h", "m", "s"] as const) {
    const size = unitMs[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * Writes the Prometheus text exposition format (version 0.0.4), the one `promtool check
 * metrics` reads: every family has one `# HELP` and one `# TYPE` line before its samples,
 * appears once, and its samples are contiguous. Label values are escaped (backslash, double
 * quote, newline); names are checked against the format's grammar, so a typo fails loudly in a
 * test rather than in a scraper.
 */
import { assert } from "../assert.ts";
import type { HistogramFamily } from "./histograms.ts";

export type MetricType = "counter" | "gauge" | "histogram";
export type Labels = Readonly<Record<string, string>>;

const namePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelPattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value: integers as they are, +Inf/-Inf/NaN spelled as the format wants. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function formatLabels(labels: Labels | undefined, extra?: readonly [string, string]): string {
  const parts: string[] = [];
  if (labels !== undefined) {
    for (const key of Object.keys(labels)) {
      assert(labelPattern.test(key) && key !== "le", `label name ${JSON.stringify(key)} is valid`);
      parts.push(`${key}="${escapeLabel(labels[key]!)}"`);
    }
  }
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

export class PrometheusText {
  private readonly lines: string[] = [];
  private readonly seen = new Set<string>();
  private current: { name: string; type: MetricType } | undefined;

  /** Starts a family; its samples follow. A counter's name ends in _total. */
  family(name: string, type: MetricType, help: string): this {
    assert(namePattern.test(name), `metric name ${JSON.stringify(name)} is valid`);
    assert(!this.seen.has(name), `metric family ${name} is written once`);
    assert(type !== "counter" || name.endsWith("_total"), `counter ${name} ends in _total`);
    assert(help.trim() !== "", `metric ${name} has help text`);
    this.seen.add(name);
    this.current = { name, type };
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    return this;
  }

  /** A sample of the current counter or gauge family. */
  sample(value: number, labels?: Labels): this {
    const family = this.current;
    assert(family !== undefined && family.type !== "histogram", "sample follows its family");
    this.lines.push(`${family.name}${formatLabels(labels)} ${formatValue(value)}`);
    return this;
  }

  /** One series of the current histogram family: its buckets, sum and count. */
  histogram(histograms: HistogramFamily, series: number, labels?: Labels): this {
    const family = this.current;
    assert(family !== undefined && family.type === "histogram", "histogram follows its family");
    const cumulative = histograms.cumulative(series);
    histograms.bounds.forEach((bound, i) => {
      const le = formatLabels(labels, ["le", formatValue(bound)]);
      this.lines.push(`${family.name}_bucket${le} ${cumulative[i]}`);
    });
    const inf = formatLabels(labels, ["le", "+Inf"]);
    this.lines.push(`${family.name}_bucket${inf} ${cumulative[cumulative.length - 1]}`);
    const plain = formatLabels(labels);
    this.lines.push(`${family.name}_sum${plain} ${formatValue(histograms.sum(series))}`);
    this.lines.push(`${family.name}_count${plain} ${histograms.count(series)}`);
    return this;
  }

  text(): string {
    return this.lines.join("\n") + "\n";
  }
}

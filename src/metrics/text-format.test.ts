import { expect, test } from "bun:test";
import { HistogramFamily } from "./histograms.ts";
import { PrometheusText } from "./text-format.ts";

test("families get HELP and TYPE, samples their labels, histograms buckets, sum and count", () => {
  const h = new HistogramFamily([0.5, 1], 1);
  h.observe(0, 0.25);
  h.observe(0, 2);
  const out = new PrometheusText();
  out.family("kahuna_things_total", "counter", "Things.\nCounted.").sample(3, { peer: 'a"b\\c' });
  out.family("kahuna_wait_seconds", "histogram", "Waits.").histogram(h, 0, { op: "get" });
  out.family("kahuna_up", "gauge", "Up.").sample(Number.POSITIVE_INFINITY);
  expect(out.text()).toBe(
    [
      "# HELP kahuna_things_total Things.\\nCounted.",
      "# TYPE kahuna_things_total counter",
      'kahuna_things_total{peer="a\\"b\\\\c"} 3',
      "# HELP kahuna_wait_seconds Waits.",
      "# TYPE kahuna_wait_seconds histogram",
      'kahuna_wait_seconds_bucket{op="get",le="0.5"} 1',
      'kahuna_wait_seconds_bucket{op="get",le="1"} 1',
      'kahuna_wait_seconds_bucket{op="get",le="+Inf"} 2',
      'kahuna_wait_seconds_sum{op="get"} 2.25',
      'kahuna_wait_seconds_count{op="get"} 2',
      "# HELP kahuna_up Up.",
      "# TYPE kahuna_up gauge",
      "kahuna_up +Inf",
      "",
    ].join("\n"),
  );
});

test("mistakes in names are caught where they are written", () => {
  const out = new PrometheusText();
  expect(() => out.family("kahuna-bad", "gauge", "x")).toThrow("is valid");
  expect(() => out.family("kahuna_things", "counter", "x")).toThrow("ends in _total");
  expect(() => out.family("kahuna_x", "gauge", " ")).toThrow("has help text");
  out.family("kahuna_x", "gauge", "x");
  expect(() => out.family("kahuna_x", "gauge", "x")).toThrow("is written once");
  expect(() => out.sample(1, { "bad-label": "v" })).toThrow("is valid");
});

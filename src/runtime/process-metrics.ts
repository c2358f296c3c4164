/**
 * The process's own metrics, in the names Prometheus' client libraries use (process_*), and
 * kahuna_build_info. Read at each scrape from node:process, which Bun and Deno both provide;
 * the open and maximum file descriptors come from /proc and are left out where there is none
 * (not Linux).
 */
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import { buildInfo } from "../version.ts";
import type { PrometheusText } from "../metrics/text-format.ts";

/** When this process started, in Unix seconds (the time origin of performance.now). */
const startSeconds = performance.timeOrigin / 1000;

function openFds(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return undefined;
  }
}

function maxFds(): number | undefined {
  try {
    const limits = readFileSync("/proc/self/limits", "utf8");
    const match = /^Max open files\s+(\d+)/m.exec(limits);
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

export function writeProcessMetrics(out: PrometheusText): void {
  const build = buildInfo();
  out.family("kahuna_build_info", "gauge", "Always 1; the labels say which build and runtime.")
    .sample(1, {
      version: build.version,
      revision: build.revision,
      runtime: build.runtime,
      runtime_version: build.runtimeVersion,
    });
  const cpu = process.cpuUsage();
  out.family("process_cpu_seconds_total", "counter", "User and system CPU time, in seconds.")
    .sample((cpu.user + cpu.system) / 1e6);
  const memory = process.memoryUsage();
  out.family("process_resident_memory_bytes", "gauge", "Resident memory size, in bytes.")
    .sample(memory.rss);
  out.family("kahuna_heap_used_bytes", "gauge", "JavaScript heap in use, in bytes.")
    .sample(memory.heapUsed);
  out.family("kahuna_heap_total_bytes", "gauge", "JavaScript heap allocated, in bytes.")
    .sample(memory.heapTotal);
  out.family("process_start_time_seconds", "gauge", "When the process started, Unix seconds.")
    .sample(Math.round(startSeconds * 1000) / 1000);
  const open = openFds();
  if (open !== undefined) {
    out.family("process_open_fds", "gauge", "Open file descriptors.").sample(open);
  }
  const max = maxFds();
  if (max !== undefined) {
    out.family("process_max_fds", "gauge", "The limit on open file descriptors.").sample(max);
  }
}

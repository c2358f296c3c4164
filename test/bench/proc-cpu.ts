/**
 * CPU time a process has used, from /proc/PID/stat (Linux): for the benchmark scripts that
 * report CPU per op, which varies less between runs on a shared machine than ops/s does.
 */
import { readFileSync } from "node:fs";

/** USER_HZ: the unit of the times in /proc/PID/stat, 100 on Linux. */
const ticksPerSecond = 100;

/** User and system CPU seconds used so far by `pid`. */
export function cpuSeconds(pid: number): { user: number; system: number } {
  // The command name (field 2) may hold spaces: fields are counted after its ")".
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return {
    user: Number(fields[11]) / ticksPerSecond,
    system: Number(fields[12]) / ticksPerSecond,
  };
}

/** Total CPU seconds used so far by all of `pids`. */
export function totalCpuSeconds(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => {
    const { user, system } = cpuSeconds(pid);
    return sum + user + system;
  }, 0);
}

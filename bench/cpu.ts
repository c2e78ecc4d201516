// CPU time from /proc, to say where a benchmark's CPU went: per process
// (utime + stime of /proc/PID/stat) and for the whole machine (/proc/stat).
import { readdirSync, readFileSync } from "node:fs";

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** A process's own CPU time in ms. */
export function processCpuMs(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

/** The pid of a child of `parent` whose command is `comm`, if any. */
export function childPid(parent: number, comm: string): number | undefined {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, "utf8");
      const name = s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
      if (name === comm && Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[1]) === parent) return Number(d);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

/** The machine's busy CPU time in ms, all CPUs (user, nice, system, irq, softirq). */
export function machineBusyMs(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]!) * TICK_MS;
}

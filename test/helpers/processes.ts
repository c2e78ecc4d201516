// The processes of this machine as the tests see them in /proc: to find a
// run's launcher, init and program, and to check that none outlives its run.
import { readdirSync, readFileSync } from "node:fs";
import { userInfo } from "node:os";

export interface Proc {
  pid: number;
  ppid: number;
  start: string; // starttime in clock ticks since boot: tells a pid reused from the same pid
  uid: number;
  comm: string;
}

/** Every process this user can see in /proc (others' may vanish while read). */
export function processes(): Map<number, Proc> {
  const out = new Map<number, Proc>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const f = stat.slice(close + 2).split(" "); // f[0] is field 3 (state)
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${e}/status`, "utf8"))![1]);
      out.set(Number(e), { pid: Number(e), ppid: Number(f[1]), start: f[19]!, uid, comm });
    } catch {
      /* gone */
    }
  }
  return out;
}

export function descendants(root: number, all = processes()): Proc[] {
  const out: Proc[] = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop()!;
    for (const q of all.values())
      if (q.ppid === p) {
        out.push(q);
        todo.push(q.pid);
      }
  }
  return out;
}

export function alive(p: Proc): boolean {
  try {
    const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] === p.start;
  } catch {
    return false;
  }
}

/** The worker user's subordinate uid range (/etc/subuid), where sandboxed programs run. */
export function subuidRange(): { start: number; end: number } {
  const me = userInfo();
  for (const line of readFileSync("/etc/subuid", "utf8").split("\n")) {
    const [who, start, count] = line.split(":");
    if (who === me.username || who === String(me.uid))
      return { start: Number(start), end: Number(start) + Number(count) };
  }
  throw new Error(`no /etc/subuid range for ${me.username}`);
}

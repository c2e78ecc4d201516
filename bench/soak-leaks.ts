// What a soak must leave as it found it: the counts of cgroups under the
// worker's cgroup parents, mounts (the worker's and its descendants'),
// processes of the sandbox's subordinate uid range, and namespaces in use by
// the worker's tree and those processes. Counted once the stack is idle
// before the load and again after it, when nothing may have grown. Other
// stacks of the same user may run beside this one (the tests, others'
// benches), sharing the delegated cgroup parents and the subordinate uids:
// what is theirs, alive, is not counted; what is nobody's (a run cgroup whose
// launcher is dead, a sandboxed process no worker user's process holds) is.
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { userInfo } from "node:os";
import { basename, dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CgroupPlace } from "../core/config.js";
import { ownCgroupV2, parseSubIds, pidAlive, WORKER_LEAF } from "../worker/sandbox/host.js";
import { descendants, processes, type Proc } from "../test/helpers/processes.js";

export interface Residue {
  cgroups: number;
  workerMounts: number;
  /** mount lines summed over the worker's descendants (fork servers, launchers, sandboxes) */
  treeMounts: number;
  treeProcesses: number;
  sandboxProcesses: number;
  namespaces: number;
}

/** The worker's cgroup parents, found as worker/sandbox/host.ts finds them. */
function cgroupParents(workerPid: number, place: CgroupPlace): string[] {
  const root = place.root ?? "/sys/fs/cgroup";
  if (existsSync(join(root, "cgroup.controllers"))) {
    const here = join(root, ownCgroupV2(readFileSync(`/proc/${workerPid}/cgroup`, "utf8")) ?? "/");
    return [basename(here) === WORKER_LEAF ? dirname(here) : here];
  }
  return ["memory", "pids", "cpuacct", "cpu"].map((c) => join(root, c, place.name ?? "ruse")).filter(existsSync);
}

function cgroupsUnder(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory()) n += 1 + cgroupsUnder(join(dir, e.name));
  return n;
}

/** Cgroups under `parent` but for the runs (run-LAUNCHERPID) of other stacks' live launchers. */
function cgroupsOf(parent: string, tree: Set<number>): number {
  let n = 0;
  for (const e of readdirSync(parent, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const launcher = Number(/^run-(\d+)$/.exec(e.name)?.[1]);
    if (launcher && !tree.has(launcher) && pidAlive(launcher)) continue;
    n += 1 + cgroupsUnder(join(parent, e.name));
  }
  return n;
}

/** No process of the worker user above it: its launcher and worker are gone. */
function orphaned(p: Proc, all: Map<number, Proc>, uid: number): boolean {
  for (let q = all.get(p.ppid); q; q = all.get(q.ppid)) if (q.uid === uid) return false;
  return true;
}

/** Lines of a /proc file, 0 when the process is gone or not ours to read. */
function lines(path: string): number {
  try {
    return readFileSync(path, "utf8").split("\n").filter(Boolean).length;
  } catch {
    return 0;
  }
}

function namespacesOf(procs: Proc[]): Set<string> {
  const seen = new Set<string>();
  for (const p of procs)
    try {
      for (const ns of readdirSync(`/proc/${p.pid}/ns`)) seen.add(readlinkSync(`/proc/${p.pid}/ns/${ns}`));
    } catch {
      /* gone, or not ours to read */
    }
  return seen;
}

export function residue(workerPid: number, place: CgroupPlace): Residue {
  const me = userInfo();
  const ids = parseSubIds(readFileSync("/etc/subuid", "utf8"), me.username, me.uid);
  const all = processes();
  const tree = descendants(workerPid, all);
  const inTree = new Set(tree.map((p) => p.pid));
  const sandboxed = [...all.values()].filter(
    (p) =>
      ids && p.uid >= ids.start && p.uid < ids.start + ids.count && (inTree.has(p.pid) || orphaned(p, all, me.uid)),
  );
  return {
    cgroups: cgroupParents(workerPid, place).reduce((n, d) => n + cgroupsOf(d, inTree), 0),
    workerMounts: lines(`/proc/${workerPid}/mountinfo`),
    treeMounts: tree.reduce((n, p) => n + lines(`/proc/${p.pid}/mountinfo`), 0),
    treeProcesses: tree.length,
    sandboxProcesses: sandboxed.length,
    namespaces: namespacesOf([all.get(workerPid)!, ...tree, ...sandboxed]).size,
  };
}

/** The counts that grew from `before` to `after`, as "name before -> after". */
export function grown(before: Residue, after: Residue): string[] {
  return (Object.keys(before) as (keyof Residue)[])
    .filter((k) => after[k] > before[k])
    .map((k) => `${k} ${before[k]} -> ${after[k]}`);
}

/**
 * The residue once the stack has settled: the kernel frees a sandbox's
 * namespaces and cgroup a moment after its run ends, so the counts are taken
 * again (up to `settleMs`) until none is above `before`.
 */
export async function settledResidue(
  workerPid: number,
  place: CgroupPlace,
  before: Residue,
  settleMs: number,
): Promise<Residue> {
  const end = Date.now() + settleMs;
  for (;;) {
    const now = residue(workerPid, place);
    if (grown(before, now).length === 0 || Date.now() > end) return now;
    await sleep(1000);
  }
}

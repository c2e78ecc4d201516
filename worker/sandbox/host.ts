// What this host offers the sandbox, detected once at worker start: the
// cgroup version and the delegated parents, the subordinate id range the
// worker user may map, and how the images are mounted. Every check that
// fails names its fix.
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { userInfo } from "node:os";
import { basename, dirname, join } from "node:path";
import type { CgroupPlace } from "../../core/config.js";
import { defaultMountRoot } from "../../rootfs/manifest.js";
import { mountTable } from "../../rootfs/mounts.js";

export interface IdRange {
  start: number;
  count: number;
}

/** Parses /etc/subuid or /etc/subgid text: the first range of `user` (by name or uid). */
export function parseSubIds(text: string, user: string, uid: number): IdRange | null {
  for (const line of text.split("\n")) {
    const [who, start, count] = line.trim().split(":");
    if (!who || start === undefined || count === undefined) continue;
    if (who !== user && who !== String(uid)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && s > 0 && c > 0) return { start: s, count: c };
  }
  return null;
}

export type CgroupSetup =
  | { version: 1; parents: string[]; controllers: string[] }
  | {
      version: 2;
      /** The delegated cgroup: the launcher makes one child per run here (run-PID). */
      parent: string;
      /** The leaf the worker's own processes live in, a sibling of the runs. */
      leaf: string;
      /** Controllers enabled for the runs: memory and pids always, cpu when delegated. */
      controllers: string[];
      /** Who delegated the parent: a systemd unit with Delegate=, or a directory the set-up made. */
      delegation: "systemd" | "directory";
    };

const V1_REQUIRED = ["memory", "pids", "cpuacct"];
const V2_REQUIRED = ["memory", "pids"];
const V2_WANTED = [...V2_REQUIRED, "cpu"];
/** The name of the worker's leaf inside its delegated cgroup. */
export const WORKER_LEAF = "worker";

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

const words = (file: string): string[] =>
  existsSync(file) ? readFileSync(file, "utf8").trim().split(/\s+/).filter(Boolean) : [];

/** The cgroup v2 path of a process (the "0::" line of /proc/PID/cgroup), or null. */
export function ownCgroupV2(procCgroup: string): string | null {
  for (const line of procCgroup.split("\n")) if (line.startsWith("0::")) return line.slice(3).trim() || "/";
  return null;
}

export interface V2Options {
  /** This process's cgroup relative to `root`; default: from /proc/self/cgroup. */
  self?: string;
  /** Whether systemd manages the tree (only changes the fixes named); default: /run/systemd/system exists. */
  systemd?: boolean;
  /** Make the leaf, move the processes into it and enable the controllers; default true. */
  apply?: boolean;
}

/**
 * cgroup v2: the worker runs in a cgroup delegated to its user, the way a
 * systemd host delegates one (a unit with Delegate=yes, a user session's
 * systemd-run -p Delegate=yes) or the way the set-up delegates
 * /sys/fs/cgroup/ruse on a host without systemd. Because of cgroup v2's "no
 * internal processes" rule, that cgroup D holds no process itself once
 * controllers are enabled for its children: the worker's processes live in
 * the leaf D/worker, each run in D/run-PID next to it, and D's
 * cgroup.subtree_control enables memory, pids and, if delegated, cpu. The
 * worker is in D itself (then it moves every process of D into D/worker) or
 * already in D/worker (a process it started, or put there by the set-up's
 * scripts/as-worker.sh).
 */
function detectV2(root: string, name: string, opts: V2Options): Extract<CgroupSetup, { version: 2 }> {
  const systemd = opts.systemd ?? existsSync("/run/systemd/system");
  const self = opts.self ?? ownCgroupV2(readFileSync("/proc/self/cgroup", "utf8")) ?? "/";
  const here = join(root, self);
  const inLeaf = basename(here) === WORKER_LEAF && here !== root;
  const parent = inLeaf ? dirname(here) : here;
  const leaf = join(parent, WORKER_LEAF);
  const user = userInfo().username;
  const start = systemd
    ? `start it in a cgroup delegated to it: as root, scripts/as-worker.sh does (systemd-run --uid=${user} -p Delegate=yes); ` +
      `as a service, scripts/systemd/ruse-worker.service (Delegate=yes); in a user session, systemd-run --user -p Delegate=yes`
    : `start it in the delegated directory: \`sudo bash scripts/setup.sh\` makes ${join(root, name)}, ` +
      `and scripts/as-worker.sh, run as root, puts the worker in its leaf ${join(root, name, WORKER_LEAF)}`;
  const delegatedFiles = [parent, join(parent, "cgroup.procs")];
  if (!delegatedFiles.every(writable))
    throw new Error(
      `cgroup v2: this worker runs in ${here}, which is not delegated to ${user} (it cannot make a cgroup per run there); ` +
        `${start} (README: Cgroups)`,
    );

  const available = words(join(parent, "cgroup.controllers"));
  for (const c of V2_REQUIRED)
    if (!available.includes(c)) {
      const fix = systemd
        ? `delegate it: Delegate=yes (or Delegate=memory pids cpu) on the worker's unit; for a user session, ` +
          `\`systemctl edit user@.service\` with [Service] Delegate=memory pids cpu`
        : `enable it for ${parent}: \`echo +${c} > ${dirname(parent)}/cgroup.subtree_control\` as root ` +
          `(\`sudo bash scripts/setup.sh\` does for ${join(root, name)})`;
      throw new Error(
        `cgroup v2: the ${c} controller is not available in ${parent} (its cgroup.controllers: ` +
          `"${available.join(" ")}"), and without it runs have no ${c === "memory" ? "memory" : "process"} limit; ${fix} (README: Cgroups)`,
      );
    }

  let enabled = words(join(parent, "cgroup.subtree_control"));
  const wanted = V2_WANTED.filter((c) => available.includes(c));
  if (opts.apply !== false) {
    if (!inLeaf || (wanted.some((c) => !enabled.includes(c)) && words(join(parent, "cgroup.procs")).length))
      vacate(parent, leaf);
    for (const c of wanted.filter((c) => !enabled.includes(c))) enable(parent, leaf, c);
    enabled = words(join(parent, "cgroup.subtree_control"));
    removeStaleRuns(parent);
  }
  for (const c of V2_REQUIRED)
    if (!enabled.includes(c))
      throw new Error(
        `cgroup v2: the ${c} controller is not enabled for the children of ${parent} and cannot be ` +
          `(write +${c} to its cgroup.subtree_control); ${start} (README: Cgroups)`,
      );
  return {
    version: 2,
    parent,
    leaf,
    controllers: V2_WANTED.filter((c) => enabled.includes(c)),
    delegation: systemd ? "systemd" : "directory",
  };
}

/** Moves every process of `parent` into `leaf` (new ones may appear while we do). */
function vacate(parent: string, leaf: string): void {
  mkdirSync(leaf, { recursive: true });
  for (let round = 0; round < 100; round++) {
    const pids = words(join(parent, "cgroup.procs"));
    if (!pids.length) return;
    for (const pid of pids) {
      try {
        writeFileSync(join(leaf, "cgroup.procs"), pid);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ESRCH") continue; // gone
        throw new Error(`cgroup v2: cannot move process ${pid} from ${parent} into ${leaf}: ${(e as Error).message}`);
      }
    }
  }
  throw new Error(`cgroup v2: cannot empty ${parent}: processes keep appearing in it`);
}

/**
 * Removes the cgroups of runs whose launcher is gone (run-PID, PID dead): a
 * launcher killed with its worker (SIGKILL) cannot remove its run's cgroup.
 * A cgroup that still holds a process is never removed (rmdir refuses).
 */
export function removeStaleRuns(parent: string): string[] {
  const removed: string[] = [];
  for (const d of readdirSync(parent)) {
    const pid = /^run-(\d+)$/.exec(d)?.[1];
    if (!pid || pidAlive(Number(pid))) continue;
    try {
      rmdirSync(join(parent, d));
      removed.push(d);
    } catch {
      /* populated, or removed meanwhile */
    }
  }
  return removed;
}

/** Whether a process of that pid is there (EPERM: it is, another user's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Enables controller `c` for the children of `parent`; cpu is optional. */
function enable(parent: string, leaf: string, c: string): void {
  for (let tries = 0; ; tries++) {
    try {
      writeFileSync(join(parent, "cgroup.subtree_control"), `+${c}`);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // EBUSY: a process was born in `parent` since it was emptied.
      if (code === "EBUSY" && tries < 20) {
        vacate(parent, leaf);
        continue;
      }
      if (!V2_REQUIRED.includes(c)) return;
      throw new Error(
        `cgroup v2: cannot enable the ${c} controller in ${parent}/cgroup.subtree_control: ${(e as Error).message}`,
      );
    }
  }
}

/**
 * cgroup v2 when `root` is the unified tree (it has cgroup.controllers; see
 * detectV2), else v1 with one delegated directory `name` per controller
 * hierarchy. Refuses to run without memory and pids: no silent fallback to
 * rlimits.
 */
export function detectCgroups(root = "/sys/fs/cgroup", name = "ruse", v2: V2Options = {}): CgroupSetup {
  if (existsSync(join(root, "cgroup.controllers"))) return detectV2(root, name, v2);
  const fix = "run `sudo bash scripts/setup.sh` to delegate it (README: Cgroups)";
  const parents: string[] = [];
  const controllers: string[] = [];
  for (const c of [...V1_REQUIRED, "cpu"]) {
    const dir = join(root, c, name);
    if (existsSync(dir) && writable(dir)) {
      parents.push(dir);
      controllers.push(c);
    } else if (V1_REQUIRED.includes(c)) {
      throw new Error(`cgroup v1: the ${c} controller has no delegated ${dir}; ${fix}`);
    }
  }
  for (const p of parents) removeStaleRuns(p);
  return { version: 1, parents, controllers };
}

export interface Host {
  cgroups: CgroupSetup;
  /** null: no subordinate range, runs use the documented weaker same-uid mode. */
  uids: IdRange | null;
  gids: IdRange | null;
  /** How the images are mounted, e.g. "kernel squashfs at /run/ruse/images". */
  images?: string;
  /** Whether the cgroup2 mount has favordynmods (cheap migrations into a run's cgroup). */
  favordynmods?: boolean;
}

/** How the images under `mountRoot` are mounted: kernel squashfs or FUSE (squashfuse). */
export function describeImageMounts(mountRoot = defaultMountRoot()): string {
  const types = new Set(
    mountTable()
      .filter((m) => dirname(m.mountPoint) === mountRoot)
      .map((m) => m.fsType),
  );
  const kinds = [...types].map((t) =>
    t === "squashfs" ? "kernel squashfs" : t.startsWith("fuse.") ? `FUSE (${t.slice(5)})` : t,
  );
  return kinds.length ? `${kinds.join(" and ")} at ${mountRoot}` : `none mounted at ${mountRoot}`;
}

function cgroup2Favordynmods(): boolean | undefined {
  return mountTable()
    .find((m) => m.fsType === "cgroup2")
    ?.superOptions.includes("favordynmods");
}

export function detectHost(opts: { allowWeakSameUid?: boolean; cgroup?: CgroupPlace } = {}): Host {
  const cgroups = detectCgroups(opts.cgroup?.root, opts.cgroup?.name);
  const me = userInfo();
  const read = (f: string) => (existsSync(f) ? readFileSync(f, "utf8") : "");
  const uids = parseSubIds(read("/etc/subuid"), me.username, me.uid);
  const gids = parseSubIds(read("/etc/subgid"), me.username, me.uid);
  if ((!uids || !gids) && !opts.allowWeakSameUid)
    throw new Error(
      `user ${me.username} has no range in /etc/subuid and /etc/subgid, so sandboxed programs cannot get ` +
        `a uid of their own; run \`sudo bash scripts/setup.sh\`, or set RUSE_WEAK_SAME_UID=1 to accept ` +
        `the weaker mode where programs run as ${me.username} (README: Security)`,
    );
  return {
    cgroups,
    uids: uids && gids ? uids : null,
    gids: uids && gids ? gids : null,
    images: describeImageMounts(),
    favordynmods: cgroup2Favordynmods(),
  };
}

/** What a cgroup v2 host without a delegated cpu controller still does, in one line. */
export const NO_CPU_CONTROLLER =
  "no cpu controller delegated (user sessions of systemd before 252 get memory and pids only): " +
  "CPU time is still measured from cpu.stat and enforced by the launcher; only cpu.max throttling (the cpus limit) is unavailable";

/** The line the worker prints at start: which mode it runs in. */
export function describeHost(h: Host): string {
  const c = h.cgroups;
  const parts =
    c.version === 1
      ? [`cgroup v1 (${c.controllers.join(", ")}; ${c.parents.join(" ")})`]
      : [
          `cgroup v2 (${c.controllers.join(", ")}; delegated ${c.delegation === "systemd" ? "by systemd" : "by the set-up"}: ` +
            `runs in ${c.parent}/run-*, the worker in ${c.leaf})`,
        ];
  if (h.favordynmods !== undefined) parts.push(`favordynmods ${h.favordynmods ? "on" : "off"}`);
  parts.push(
    h.uids
      ? `per-slot uids ${h.uids.start}-${h.uids.start + h.uids.count - 1}`
      : "WEAK same-uid mode (no subordinate ids)",
  );
  if (h.images) parts.push(`images: ${h.images}`);
  if (c.version === 2 && !c.controllers.includes("cpu")) parts.push(NO_CPU_CONTROLLER);
  else if (c.version === 1 && !c.controllers.includes("cpu"))
    parts.push("no cpu controller: CPU time still measured and enforced, no cpu bandwidth cap");
  return parts.join("; ");
}

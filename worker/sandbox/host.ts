// What this host offers the sandbox, detected once at worker start: the
// cgroup version and the delegated parents, and the subordinate id range the
// worker user may map. Every check that fails names its fix.
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";

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
  | { version: 2; parent: string; controllers: string[] };

const V1_REQUIRED = ["memory", "pids", "cpuacct"];

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * cgroup v2 when `root` is the unified tree (it has cgroup.controllers),
 * else v1 with one delegated directory `name` per controller hierarchy.
 * Refuses to run without memory and pids: no silent fallback to rlimits.
 */
export function detectCgroups(root = "/sys/fs/cgroup", name = "ruse"): CgroupSetup {
  const fix = "run `sudo bash scripts/setup.sh` to delegate it (README: Cgroups)";
  if (existsSync(join(root, "cgroup.controllers"))) {
    const parent = join(root, name);
    if (!existsSync(parent)) throw new Error(`cgroup v2: ${parent} does not exist; ${fix}`);
    const enabled = readFileSync(join(parent, "cgroup.subtree_control"), "utf8").trim().split(/\s+/).filter(Boolean);
    for (const c of ["memory", "pids"])
      if (!enabled.includes(c))
        throw new Error(`cgroup v2: the ${c} controller is not enabled for children of ${parent}; ${fix}`);
    if (!writable(parent)) throw new Error(`cgroup v2: ${parent} is not writable by this user; ${fix}`);
    return { version: 2, parent, controllers: enabled };
  }
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
  return { version: 1, parents, controllers };
}

export interface Host {
  cgroups: CgroupSetup;
  /** null: no subordinate range, runs use the documented weaker same-uid mode. */
  uids: IdRange | null;
  gids: IdRange | null;
}

export function detectHost(opts: { allowWeakSameUid?: boolean } = {}): Host {
  const cgroups = detectCgroups(process.env.RUSE_CGROUP_ROOT, process.env.RUSE_CGROUP_NAME);
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
  return { cgroups, uids: uids && gids ? uids : null, gids: uids && gids ? gids : null };
}

/** The line the worker prints at start: which mode it runs in. */
export function describeHost(h: Host): string {
  const cg =
    h.cgroups.version === 1
      ? `cgroup v1 (${h.cgroups.controllers.join(", ")})`
      : `cgroup v2 (${h.cgroups.controllers.join(", ")}; ${h.cgroups.parent})`;
  const ids = h.uids ? `per-slot uids ${h.uids.start}+` : "WEAK same-uid mode (no subordinate ids)";
  const cpu = h.cgroups.controllers.includes("cpu") ? "" : "; no cpu controller: CPU time still measured and enforced, no cpu bandwidth cap";
  return `${cg}; ${ids}${cpu}`;
}

// Mounts the built images read-only where the worker finds them (`layersFor`
// in rootfs/manifest.ts), and reads the host's mount table.  As a CLI, once per
// boot (scripts/setup.sh): as root with the kernel's squashfs (loop, read-only),
// as any other user with squashfuse_ll (FUSE, allow_other).
//   npx tsx rootfs/mounts.ts

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  defaultMountRoot,
  ImageError,
  isRoot,
  imageCacheDir,
  readManifest,
  rebuildCommand,
  verifyImage,
} from "./manifest.js";

// ---------------------------------------------------------------- mount table and mounting

interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
  /** the file system's own options (mountinfo's last field), e.g. cgroup2's favordynmods */
  superOptions: string[];
}

const unescapeMount = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Mounts of this process's namespace (later entries are on top). */
export function mountTable(): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [pre, post] = line.split(" - ");
    if (!pre || !post) continue;
    const f = pre.split(" ");
    const g = post.split(" ");
    out.push({
      mountPoint: unescapeMount(f[4] ?? ""),
      fsType: g[0] ?? "",
      source: unescapeMount(g[1] ?? ""),
      superOptions: (g[2] ?? "").split(","),
    });
  }
  return out;
}

const topMount = (dir: string): MountEntry | undefined =>
  mountTable()
    .filter((m) => m.mountPoint === dir)
    .pop();

/** Backing file of a loop device such as /dev/loop3 (null if not a loop device). */
function loopBackingFile(dev: string): string | null {
  const m = /^\/dev\/(loop\d+)$/.exec(dev);
  if (!m) return null;
  try {
    return fs.readFileSync(`/sys/block/${m[1]}/loop/backing_file`, "utf8").trim();
  } catch {
    return null;
  }
}

interface MountResult {
  name: string;
  dir: string;
  image: string;
  action: "mounted" | "remounted" | "unchanged";
}

const run = (cmd: string, args: string[]): void => {
  execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
};

/**
 * Verifies every image of the manifest, then calls `mountOne` for the good
 * ones; afterwards throws one ImageError listing the broken ones, if any.
 */
function mountAll(
  mountRoot: string,
  cacheDir: string,
  mountOne: (name: string, image: string, dir: string) => MountResult["action"],
): MountResult[] {
  const manifest = readManifest(cacheDir);
  fs.mkdirSync(mountRoot, { recursive: true, mode: 0o755 });
  const results: MountResult[] = [];
  const errors: ImageError[] = [];
  for (const name of Object.keys(manifest.images)) {
    let image: string;
    try {
      image = fs.realpathSync(verifyImage(name, { cacheDir, manifest }));
    } catch (e) {
      if (e instanceof ImageError) {
        errors.push(e);
        continue;
      }
      throw e;
    }
    const dir = path.join(mountRoot, name);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    } catch (e) {
      // A FUSE mount whose daemon died: mountOne replaces it.
      if ((e as NodeJS.ErrnoException).code !== "ENOTCONN") throw e;
    }
    results.push({ name, dir, image, action: mountOne(name, image, dir) });
  }
  if (errors.length === 1) throw errors[0]!;
  if (errors.length > 1) {
    throw new ImageError(
      errors.map((e) => e.image).join(","),
      `are broken:\n  ${errors.map((e) => e.message).join("\n  ")}\n`,
      rebuildCommand(errors.map((e) => e.image).join(","), cacheDir),
    );
  }
  return results;
}

/**
 * As root: loop-mounts every image read-only at <mountRoot>/<name>.
 * Idempotent: an image already mounted there is left alone; a mount of an
 * older image file is detached lazily (running sandboxes keep their view) and
 * replaced.
 */
function mountKernel(mountRoot = defaultMountRoot(), cacheDir = imageCacheDir()): MountResult[] {
  if (!isRoot()) throw new Error("mountKernel needs root (loop mounts); unprivileged users use mountFuse()");
  return mountAll(mountRoot, cacheDir, (_name, image, dir) => {
    let action: MountResult["action"] = "mounted";
    for (let cur = topMount(dir); cur; cur = topMount(dir)) {
      if (cur.fsType === "squashfs" && loopBackingFile(cur.source) === image) return "unchanged";
      run("umount", ["-l", dir]);
      action = "remounted";
    }
    run("mount", ["-t", "squashfs", "-o", "loop,ro,nodev,nosuid", image, dir]);
    return action;
  });
}

const FUSE_SUBTYPE = "squashfuse";

/** Why FUSE mounts cannot work for this user, or null. */
function fuseProblem(): string | null {
  try {
    fs.accessSync("/dev/fuse", fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return "cannot open /dev/fuse: the one-time privileged set-up must make it usable (chmod 0666 /dev/fuse)";
  }
  if (!isRoot()) {
    let conf = "";
    try {
      conf = fs.readFileSync("/etc/fuse.conf", "utf8");
    } catch {
      /* missing: same as not enabled */
    }
    if (!/^\s*user_allow_other\s*$/m.test(conf)) {
      return "allow_other needs `user_allow_other` in /etc/fuse.conf (one-time privileged set-up)";
    }
  }
  return null;
}

/**
 * As any user: mounts every image with squashfuse_ll at <mountRoot>/<name>,
 * with allow_other so that the sandbox's mapped uids can read them.
 * Idempotent: the image path is recorded as the mount's fsname, so a mount of
 * the same image is kept (unless its daemon died) and others are replaced.
 */
export function mountFuse(mountRoot = defaultMountRoot(), cacheDir = imageCacheDir()): MountResult[] {
  const problem = fuseProblem();
  if (problem) throw new Error(`mountFuse: ${problem}`);
  return mountAll(mountRoot, cacheDir, (_name, image, dir) => {
    let action: MountResult["action"] = "mounted";
    for (let cur = topMount(dir); cur; cur = topMount(dir)) {
      if (!cur.fsType.startsWith("fuse.")) {
        throw new Error(`mountFuse: ${dir} already has a ${cur.fsType} mount (unmount it first)`);
      }
      if (cur.fsType === `fuse.${FUSE_SUBTYPE}` && cur.source === image && fuseAlive(dir)) return "unchanged";
      run("fusermount3", ["-u", "-z", dir]);
      action = "remounted";
    }
    run("squashfuse_ll", ["-o", `ro,allow_other,fsname=${image},subtype=${FUSE_SUBTYPE}`, image, dir]);
    return action;
  });
}

/** A FUSE mount whose daemon died answers ENOTCONN. */
function fuseAlive(dir: string): boolean {
  try {
    fs.statSync(dir);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ENOTCONN";
  }
}

/** Lazily unmounts the squashfuse mounts under mountRoot. */
export function unmountFuse(mountRoot = defaultMountRoot()): string[] {
  return unmountWhere(
    mountRoot,
    (m) => m.fsType === `fuse.${FUSE_SUBTYPE}`,
    (dir) => run("fusermount3", ["-u", "-z", dir]),
  );
}

function unmountWhere(mountRoot: string, match: (m: MountEntry) => boolean, unmount: (dir: string) => void): string[] {
  const root = path.resolve(mountRoot);
  const dirs = [
    ...new Set(
      mountTable()
        .filter((m) => path.dirname(m.mountPoint) === root && match(m))
        .map((m) => m.mountPoint),
    ),
  ];
  for (const dir of dirs) unmount(dir);
  return dirs;
}

// ---------------------------------------------------------------- CLI

function main(): void {
  // Other arguments are ignored, as they always were.
  if (process.argv.includes("--help") || process.argv.includes("-h")) {
    console.log(
      "usage: npx tsx rootfs/mounts.ts\n" +
        `Mounts every built image of ${imageCacheDir()} read-only at ${defaultMountRoot()}/<name> ` +
        "(root: kernel squashfs; others: squashfuse_ll). Idempotent.",
    );
    return;
  }
  const root = defaultMountRoot();
  const results = isRoot() ? mountKernel(root) : mountFuse(root);
  const changed = results.filter((r) => r.action !== "unchanged");
  for (const r of changed) console.error(`images: ${r.action} ${r.name} at ${r.dir}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();

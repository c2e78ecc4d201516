// Root-only helper: run a command in a chroot of composed images, the way the
// launcher will (overlay lowerdir=LAYER:BASE, no upperdir, tmpfs on /box and
// /tmp, uid 1000).  Used by build.ts to check each fresh layer and read its
// version, and by verify.ts.  This is a test harness, not the sandbox: there
// is no seccomp, no cgroup and no network isolation here.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Runner } from "./check.js";
import { commonEnv, RUNNER } from "./languages.js";

/** Quotes a string for sh. */
export const shq = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  /** Files written to /box before running (name -> content). */
  files?: Record<string, string>;
  /** Extra environment over commonEnv. */
  env?: Record<string, string>;
  /** Run as root instead of the runner user. */
  asRoot?: boolean;
  timeoutMs?: number;
  stdin?: string;
}

/**
 * Runs `argv` (cwd /box) in a private mount namespace whose root is the
 * overlay of `images` (top first; .sqfs files are loop-mounted, directories
 * are used as they are).  All mounts vanish with the namespace.
 */
export function runInImages(images: readonly string[], argv: readonly string[], opts: RunOptions = {}): RunResult {
  if (process.getuid?.() !== 0) throw new Error("runInImages needs root (loop and overlay mounts)");
  if (images.length === 0) throw new Error("runInImages: no images");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ruse-chroot-"));
  const files = path.join(tmp, "files");
  fs.mkdirSync(files);
  for (const [name, content] of Object.entries(opts.files ?? {})) fs.writeFileSync(path.join(files, name), content);
  const stdinFile = path.join(tmp, "stdin");
  fs.writeFileSync(stdinFile, opts.stdin ?? "", { mode: 0o644 });
  const root = path.join(tmp, "root");
  const lowers: string[] = [];
  const lines = ["set -e", `mkdir ${shq(root)}`];
  for (const [i, img] of images.entries()) {
    if (fs.statSync(img).isDirectory()) {
      lowers.push(img);
      continue;
    }
    const dir = path.join(tmp, `l${i}`);
    lines.push(`mkdir ${shq(dir)}`, `mount -t squashfs -o loop,ro,nodev ${shq(img)} ${shq(dir)}`);
    lowers.push(dir);
  }
  // overlayfs needs two lower layers when there is no upper one: one image is bind-mounted.
  lines.push(
    lowers.length === 1
      ? `mount --bind -o ro ${shq(lowers[0]!)} ${shq(root)}`
      : `mount -t overlay overlay -o ro,lowerdir=${lowers.map(shq).join(":")} ${shq(root)}`,
  );
  const uid = opts.asRoot ? 0 : RUNNER.uid;
  const gid = opts.asRoot ? 0 : RUNNER.gid;
  lines.push(
    `mount -t proc proc ${shq(root)}/proc`,
    `mount -t tmpfs -o size=512m,mode=0755,uid=${uid},gid=${gid} tmpfs ${shq(root)}/box`,
    `mount -t tmpfs -o size=512m,mode=1777 tmpfs ${shq(root)}/tmp`,
    `mount -t tmpfs -o size=64k,mode=0755 tmpfs ${shq(root)}/dev`,
    `for d in null zero full random urandom tty; do touch ${shq(root)}/dev/$d; mount --bind /dev/$d ${shq(root)}/dev/$d; done`,
    // As the launcher's /dev has them (sandbox-native/mount.c).
    `ln -s /proc/self/fd ${shq(root)}/dev/fd`,
    `for i in 0:stdin 1:stdout 2:stderr; do ln -s /proc/self/fd/\${i%%:*} ${shq(root)}/dev/\${i#*:}; done`,
    `cp -R ${shq(files)}/. ${shq(root)}/box/`,
    `chown -R ${uid}:${gid} ${shq(root)}/box`,
  );
  const env = { ...commonEnv, ...(opts.asRoot ? { HOME: "/root", USER: "root" } : {}), ...opts.env };
  const envArgs = Object.entries(env)
    .map(([k, v]) => shq(`${k}=${v}`))
    .join(" ");
  lines.push(
    // stdin from a file the runner may reopen (a pipe of ours would be root's, 0600: /dev/stdin denied).
    `exec chroot --userspec=${uid}:${gid} ${shq(root)} /usr/bin/env -i ${envArgs} /bin/sh -c 'cd /box && exec "$@"' sh ${argv.map(shq).join(" ")} < ${shq(stdinFile)}`,
  );
  const t0 = performance.now();
  const r = spawnSync(
    "unshare",
    // No PID namespace: the program must not be its init, which ignores signals (abort() would end in SIGSEGV).
    ["--mount", "--fork", "--kill-child", "--propagation", "private", "sh", "-c", lines.join("\n")],
    {
      encoding: "utf8",
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 << 20,
    },
  );
  const ms = performance.now() - t0;
  fs.rmSync(tmp, { recursive: true, force: true });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ms };
}

/** The build check's runner (rootfs/check.ts) over a chroot of `images` with environment `env`. */
export const chrootRunner =
  (images: readonly string[], env: Record<string, string>): Runner =>
  async ({ argv, files, stdin }) => {
    const r = runInImages(images, argv, { files, stdin, env });
    return { exitCode: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  };

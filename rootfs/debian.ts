// The two tools an image is built with: mmdebstrap (Debian packages into a
// tar of the root) and mksquashfs (the tar into a read-only image), with the
// fixed settings that make two builds of the same inputs alike. Part of every
// image's hash key, as build.ts and tar.ts are (rootfs/recipe.ts).

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { shq } from "./chroot.js";
import { commonEnv } from "./languages.js";
import { SUITE, type ImageSpec } from "./recipe.js";

const isRoot = process.getuid?.() === 0;

/** Packages in base besides Debian's Essential set (libc, coreutils, bash, dpkg, ...). */
export const BASE_PACKAGES = ["ca-certificates", "make", "tzdata"];
/** Fixed timestamp: generated files get stable mtimes (mmdebstrap clamps to it). */
const SOURCE_DATE_EPOCH = "1704067200";
/** Not needed in a sandbox; dpkg never writes them (keeping the licences). */
const DPKG_OPTS = [
  "path-exclude=/usr/share/doc/*",
  "path-include=/usr/share/doc/*/copyright",
  "path-exclude=/usr/share/man/*",
  "path-exclude=/usr/share/info/*",
  "path-exclude=/usr/share/locale/*",
  "path-include=/usr/share/locale/locale.alias",
  "path-exclude=/usr/share/lintian/*",
  "path-exclude=/usr/share/bug/*",
];

// Runs in the new root ($1) after the packages are installed: the sandbox user,
// the mount points the launcher needs, and no host-specific files.
const CUSTOMIZE = `set -eu
r="$1"
echo 'runner:x:1000:1000:ruse sandbox:/box:/bin/bash' >> "$r/etc/passwd"
echo 'runner:x:1000:' >> "$r/etc/group"
echo 'runner:*:19723:0:99999:7:::' >> "$r/etc/shadow"
echo 'runner:*::' >> "$r/etc/gshadow"
mkdir -p "$r/box" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/run"
chown 1000:1000 "$r/box"; chmod 0755 "$r/box"; chmod 1777 "$r/tmp"
echo sandbox > "$r/etc/hostname"; chmod 0644 "$r/etc/hostname"
printf '127.0.0.1\\tlocalhost\\n::1\\tlocalhost\\n' > "$r/etc/hosts"
rm -f "$r/etc/resolv.conf"`;

// Runs last (mmdebstrap itself then empties /tmp and apt's lists and cache,
// whose config it keeps in /tmp until then): logs and
// backups that differ between two builds (and so would leak into every layer)
// and that nothing in a sandbox reads.
const CLEANUP = `set -eu
r="$1"
rm -rf "$r/tmp/ruse-versions" "$r/run/"*
find "$r/var/log" -type f -delete
rm -f "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old "$r"/etc/*- "$r/var/cache/ldconfig/aux-cache"`;

function mustRun(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; stdin?: number; quiet?: boolean } = {},
): void {
  const r = spawnSync(cmd, args, {
    stdio: [opts.stdin ?? "ignore", opts.quiet ? "pipe" : "inherit", "pipe"],
    env: opts.env ?? process.env,
    maxBuffer: 256 << 20,
  });
  if (r.status !== 0) {
    const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n").slice(-30).join("\n");
    throw new Error(`${cmd} failed (${r.error?.message ?? `exit ${r.status}`}):\n${out}`);
  }
}

/** Debian packages into a tar of the whole root, with the language versions copied out to versionsDir. */
export function mmdebstrap(spec: ImageSpec, outTar: string, versionsDir: string, mirrors: string[]): void {
  const envArgs = Object.entries({ ...commonEnv, HOME: "/root" })
    .map(([k, v]) => shq(`${k}=${v}`))
    .join(" ");
  const versionHook = [
    "set -u",
    'mkdir -p "$1/tmp/ruse-versions"',
    'cp "$1/etc/debian_version" "$1/tmp/ruse-versions/_debian"',
    ...Object.entries(spec.versionCommands).map(
      ([id, argv]) =>
        `chroot "$1" /usr/bin/env -i ${envArgs} ${argv.map(shq).join(" ")} > "$1/tmp/ruse-versions/${id}" 2>&1 || echo "exit status $?" >> "$1/tmp/ruse-versions/${id}"`,
    ),
  ].join("\n");
  const args = [
    // essential: minbase without apt (no package manager needed in a read-only sandbox);
    // the merged-usr hook sets up /usr like usrmerge does, without pulling in full perl.
    "--variant=essential",
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    `--mode=${isRoot ? "root" : "unshare"}`,
    "--format=tar",
    `--include=${[...BASE_PACKAGES, ...spec.packages].join(",")}`,
    '--aptopt=Acquire::Languages "none"',
    ...DPKG_OPTS.map((o) => `--dpkgopt=${o}`),
    // openjdk's postinst registers man pages as update-alternatives links and
    // fails if the (path-excluded) man directory is missing (Debian #863199).
    '--essential-hook=mkdir -p "$1/usr/share/man/man1"',
    `--customize-hook=${CUSTOMIZE}`,
    `--customize-hook=${versionHook}`,
    `--customize-hook=copy-out /tmp/ruse-versions ${versionsDir}`,
    `--customize-hook=${CLEANUP}`,
    SUITE,
    outTar,
    ...mirrors,
  ];
  mustRun("mmdebstrap", ["--quiet", ...args], { env: { ...process.env, SOURCE_DATE_EPOCH }, quiet: true });
}

/** A tar into a squashfs image, with fixed times and ids: the same input gives the same image. */
export function mksquashfs(tar: string, out: string, comp: string): void {
  const compArgs = comp === "lz4" ? ["-comp", "lz4", "-Xhc"] : ["-comp", comp];
  const fd = fs.openSync(tar, "r");
  // With -tar, mksquashfs 4.5 ignores -root-uid/-root-gid and gives the image's
  // root directory the caller's ids: as a user, run it as root of a user namespace.
  const cmd = isRoot ? ["mksquashfs"] : ["unshare", "--map-root-user", "mksquashfs"];
  try {
    mustRun(
      cmd[0]!,
      [
        ...cmd.slice(1),
        "-",
        out,
        "-tar",
        ...compArgs,
        "-noappend",
        "-no-xattrs",
        "-quiet",
        "-no-progress",
        "-root-mode",
        "0755",
        "-root-uid",
        "0",
        "-root-gid",
        "0",
        "-root-time",
        SOURCE_DATE_EPOCH,
        "-mkfs-time",
        SOURCE_DATE_EPOCH,
      ],
      { stdin: fd, quiet: true },
    );
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(out, 0o644);
}

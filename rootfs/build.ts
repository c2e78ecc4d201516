// Builds the read-only root file system images from Debian packages.
//
//   npx tsx rootfs/build.ts [--only base,python,...] [--cache DIR] [--force] [--comp zstd|lz4]
//
// base.sqfs is a minimal Debian; each language layer holds only the files its
// packages add or change over base (composed at run time with overlayfs
// lowerdir=LAYER:BASE).  Pipeline per image, the same as root and as an
// unprivileged user (mmdebstrap --mode=unshare):
//   mmdebstrap --format=tar -> (layers: keep entries that differ from base's
//   index) -> mksquashfs -tar -> check -> rename into the cache + manifest.
// Working on tar streams means ownership is right without being root and the
// diff never needs to read a root-owned tree.  The content of this file is part
// of every image's hash key: editing it rebuilds everything.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gunzipSync, gzipSync } from "node:zlib";
import { runInImages, shq } from "./chroot.js";
import { commonEnv, getLanguage, layerName } from "./languages.js";
import {
  BASE_IMAGE, buildCacheDir, currentBuildInputs, imageFileName, imageHashes, imageSpecs, MANIFEST_FILE,
  readManifest, SUITE, verifyImage, writeManifest,
  type ImageRecord, type ImageSpec, type LanguageVersion, type Manifest,
} from "./images.js";

/** Packages in base besides Debian's Essential set (libc, coreutils, bash, dpkg, ...). */
const BASE_PACKAGES = ["ca-certificates", "make", "tzdata"];
/** Fixed timestamp: generated files get stable mtimes (mmdebstrap clamps to it). */
const SOURCE_DATE_EPOCH = "1704067200";
/** Not needed in a sandbox; dpkg never writes them (keeping the licences). */
const DPKG_OPTS = [
  "path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright",
  "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*",
  "path-exclude=/usr/share/locale/*", "path-include=/usr/share/locale/locale.alias",
  "path-exclude=/usr/share/lintian/*", "path-exclude=/usr/share/bug/*",
];
const isRoot = process.getuid?.() === 0;

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

// ---------------------------------------------------------------- helpers

const log = (msg: string): void => void process.stdout.write(`${msg}\n`);
const secs = (t0: number): number => Math.round((performance.now() - t0) / 100) / 10;
const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
const sha256 = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");

function die(msg: string): never {
  process.stderr.write(`build: ${msg}\n`);
  process.exit(1);
}

function mustRun(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: number; quiet?: boolean } = {}): void {
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

function fileSha256(file: string): string {
  const h = createHash("sha256");
  const fd = fs.openSync(file, "r");
  const buf = Buffer.alloc(1 << 20);
  for (let pos = 0, n; (n = fs.readSync(fd, buf, 0, buf.length, pos)) > 0; pos += n) h.update(buf.subarray(0, n));
  fs.closeSync(fd);
  return h.digest("hex");
}

/** First number like 3.11.2 in the first non-empty line of a version command's output. */
export function parseVersion(output: string): LanguageVersion {
  const text = output.split("\n").map((l) => l.trim()).find(Boolean) ?? "";
  return { version: /\d+(?:\.\d+)+/.exec(text)?.[0] ?? text, text };
}

// ---------------------------------------------------------------- tar

/** One archive member: [start, end) spans its pax/GNU headers, header and data. */
export interface TarEntry {
  path: string;
  type: string;
  link: string;
  /** Everything that makes two members equal: type, mode, owner, content hash, link target, xattrs. */
  id: string;
  start: number;
  end: number;
}

const cstr = (b: Buffer, off: number, len: number): string => {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? len : z).toString("utf8");
};

const tarNum = (b: Buffer, off: number, len: number): number => {
  if (b[off]! & 0x80) { // GNU base-256
    let n = 0;
    for (let i = off + 1; i < off + len; i++) n = n * 256 + b[i]!;
    return n;
  }
  return parseInt(cstr(b, off, len).trim() || "0", 8);
};

const normPath = (p: string): string => p.replace(/^\.?\/+/, "").replace(/^\.$/, "").replace(/\/+$/, "");

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let got = 0; got < len;) {
    const n = fs.readSync(fd, b, got, len - got, pos + got);
    if (n === 0) throw new Error("tar: unexpected end of archive");
    got += n;
  }
  return b;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < data.length;) {
    const sp = data.indexOf(0x20, i);
    const len = parseInt(data.subarray(i, sp).toString(), 10);
    if (!(len > 0) || sp < 0) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString("utf8");
    const eq = rec.indexOf("=");
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** Lists a tar file (pax/ustar/GNU) with a content identity per member. */
function scanTar(file: string): TarEntry[] {
  const fd = fs.openSync(file, "r");
  const size = fs.fstatSync(fd).size;
  const entries: TarEntry[] = [];
  const idByPath = new Map<string, string>();
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  let start = 0;
  const buf = Buffer.alloc(1 << 20);
  try {
    for (let pos = 0; pos + 512 <= size;) {
      const h = readAt(fd, pos, 512);
      if (h.every((x) => x === 0)) break;
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
      if (sum !== tarNum(h, 148, 8)) throw new Error(`tar: bad header checksum at ${pos} in ${file}`);
      const type = h[156] === 0 ? "0" : String.fromCharCode(h[156]!);
      const own = tarNum(h, 124, 12);
      const dataStart = pos + 512;
      if (type === "x" || type === "L" || type === "K") {
        const data = readAt(fd, dataStart, own);
        if (type === "x") pax = { ...pax, ...parsePax(data) };
        else if (type === "L") longName = cstr(data, 0, own);
        else longLink = cstr(data, 0, own);
        pos = dataStart + Math.ceil(own / 512) * 512;
        continue;
      }
      if (type === "g") throw new Error("tar: global pax headers are not supported");
      const dataSize = pax.size !== undefined ? Number(pax.size) : own;
      const prefix = cstr(h, 345, 155);
      const p = normPath(pax.path ?? longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100)));
      const link = pax.linkpath ?? longLink ?? cstr(h, 157, 100);
      const mode = (tarNum(h, 100, 8) & 0o7777).toString(8);
      const uid = pax.uid ?? String(tarNum(h, 108, 8));
      const gid = pax.gid ?? String(tarNum(h, 116, 8));
      const xattrs = Object.keys(pax).filter((k) => k.startsWith("SCHILY.xattr.")).sort()
        .map((k) => `${k}=${sha256(pax[k]!)}`).join(",");
      let id: string;
      if (type === "0" || type === "7") {
        const hash = createHash("sha256");
        for (let off = 0; off < dataSize;) {
          const n = fs.readSync(fd, buf, 0, Math.min(buf.length, dataSize - off), dataStart + off);
          if (n === 0) throw new Error("tar: unexpected end of archive");
          hash.update(buf.subarray(0, n));
          off += n;
        }
        id = `f ${mode} ${uid} ${gid} ${dataSize} ${hash.digest("hex")} ${xattrs}`;
      } else if (type === "1") {
        // A hard link is only equal if what it points to is equal too.
        id = `h ${normPath(link)} ${idByPath.get(normPath(link)) ?? "?"}`;
      } else if (type === "2") {
        id = `l ${uid} ${gid} ${link}`;
      } else if (type === "5") {
        id = `d ${mode} ${uid} ${gid} ${xattrs}`;
      } else if ("346".includes(type)) {
        id = `${type} ${mode} ${uid} ${gid} ${tarNum(h, 329, 8)}:${tarNum(h, 337, 8)}`;
      } else {
        throw new Error(`tar: unsupported member type ${JSON.stringify(type)} (${p})`);
      }
      const end = dataStart + Math.ceil(dataSize / 512) * 512;
      entries.push({ path: p, type, link: normPath(link), id, start, end });
      idByPath.set(p, id);
      pos = start = end;
      pax = {};
      longName = longLink = undefined;
    }
  } finally {
    fs.closeSync(fd);
  }
  return entries;
}

/** Copies the members `keep` (in archive order) of `src` to a new tar `out`. */
function writeTar(src: string, entries: readonly TarEntry[], keep: (e: TarEntry) => boolean, out: string): { members: number; bytes: number } {
  const inFd = fs.openSync(src, "r");
  const outFd = fs.openSync(out, "w");
  const buf = Buffer.alloc(1 << 20);
  let members = 0;
  let bytes = 0;
  for (const e of entries) {
    if (!keep(e)) continue;
    for (let pos = e.start; pos < e.end;) {
      const n = fs.readSync(inFd, buf, 0, Math.min(buf.length, e.end - pos), pos);
      fs.writeSync(outFd, buf, 0, n);
      pos += n;
    }
    members++;
    bytes += e.end - e.start;
  }
  fs.writeSync(outFd, Buffer.alloc(1024)); // end-of-archive marker
  fs.closeSync(inFd);
  fs.closeSync(outFd);
  return { members, bytes };
}

// /dev must be an empty mount point; mmdebstrap adds device nodes to its tar.
// The root member is skipped: mksquashfs -tar ignores it (-root-* set it instead).
const inImage = (e: TarEntry): boolean => e.path !== "" && !e.path.startsWith("dev/");

/**
 * Which members of the full tree (base + packages) belong in the layer: those
 * absent from base or different, the hard-link targets they need, and the
 * directories leading to them (with the full tree's metadata, as overlayfs
 * takes a merged directory's attributes from the top layer).
 */
export function layerMembers(baseIndex: ReadonlyMap<string, string>, full: readonly TarEntry[]): { keep: Set<string>; removed: string[] } {
  const keep = new Set<string>();
  const fullPaths = new Set<string>();
  for (const e of full) {
    if (!inImage(e)) continue;
    fullPaths.add(e.path);
    if (baseIndex.get(e.path) !== e.id) keep.add(e.path);
  }
  for (const e of full) if (e.type === "1" && keep.has(e.path)) keep.add(e.link);
  for (const p of [...keep]) {
    for (let d = path.posix.dirname(p); d !== "." && d !== "/" && !keep.has(d); d = path.posix.dirname(d)) keep.add(d);
  }
  const removed = [...baseIndex.keys()].filter((p) => !fullPaths.has(p));
  return { keep, removed };
}

// ---------------------------------------------------------------- build steps

interface Context {
  cacheDir: string;
  comp: string;
  hashes: Record<string, string>;
  mirrors: string[];
  manifest: Manifest;
}

function mmdebstrap(spec: ImageSpec, outTar: string, versionsDir: string, mirrors: string[]): void {
  const envArgs = Object.entries({ ...commonEnv, HOME: "/root" }).map(([k, v]) => shq(`${k}=${v}`)).join(" ");
  const versionHook = [
    "set -u", 'mkdir -p "$1/tmp/ruse-versions"', 'cp "$1/etc/debian_version" "$1/tmp/ruse-versions/_debian"',
    ...Object.entries(spec.versionCommands).map(([id, argv]) =>
      `chroot "$1" /usr/bin/env -i ${envArgs} ${argv.map(shq).join(" ")} > "$1/tmp/ruse-versions/${id}" 2>&1 || echo "exit status $?" >> "$1/tmp/ruse-versions/${id}"`),
  ].join("\n");
  const args = [
    // essential: minbase without apt (no package manager needed in a read-only sandbox);
    // the merged-usr hook sets up /usr like usrmerge does, without pulling in full perl.
    "--variant=essential", "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    `--mode=${isRoot ? "root" : "unshare"}`, "--format=tar",
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
    SUITE, outTar, ...mirrors,
  ];
  mustRun("mmdebstrap", ["--quiet", ...args], { env: { ...process.env, SOURCE_DATE_EPOCH }, quiet: true });
}

function mksquashfs(tar: string, out: string, comp: string): void {
  const compArgs = comp === "lz4" ? ["-comp", "lz4", "-Xhc"] : ["-comp", comp];
  const fd = fs.openSync(tar, "r");
  // With -tar, mksquashfs 4.5 ignores -root-uid/-root-gid and gives the image's
  // root directory the caller's ids: as a user, run it as root of a user namespace.
  const cmd = isRoot ? ["mksquashfs"] : ["unshare", "--map-root-user", "mksquashfs"];
  try {
    mustRun(cmd[0]!, [
      ...cmd.slice(1), "-", out, "-tar", ...compArgs, "-noappend", "-no-xattrs", "-quiet", "-no-progress",
      "-root-mode", "0755", "-root-uid", "0", "-root-gid", "0",
      "-root-time", SOURCE_DATE_EPOCH, "-mkfs-time", SOURCE_DATE_EPOCH,
    ], { stdin: fd, quiet: true });
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(out, 0o644);
}

const indexFile = (ctx: Context, name: string): string => path.join(ctx.cacheDir, imageFileName(name, ctx.hashes[name]!).replace(/\.sqfs$/, ".index.json.gz"));

function loadIndex(ctx: Context, name: string): Map<string, string> {
  try {
    return new Map(Object.entries(JSON.parse(gunzipSync(fs.readFileSync(indexFile(ctx, name))).toString()) as Record<string, string>));
  } catch {
    throw new Error(`the file index of image "${name}" is missing: rebuild it with npx tsx rootfs/build.ts --only ${name} --force`);
  }
}

function writeAtomic(file: string, data: Buffer): void {
  fs.writeFileSync(`${file}.tmp-${process.pid}`, data, { mode: 0o644 });
  fs.renameSync(`${file}.tmp-${process.pid}`, file);
}

/** Builds one image into the cache and records it in the manifest. */
function buildImage(ctx: Context, spec: ImageSpec): ImageRecord {
  const t0 = performance.now();
  const hash = ctx.hashes[spec.name]!;
  const work = fs.mkdtempSync(path.join(ctx.cacheDir, `.work-${process.pid}-${spec.name}-`));
  try {
    const full = path.join(work, "rootfs.tar");
    const versionsDir = path.join(work, "versions");
    fs.mkdirSync(versionsDir);
    log(`[${spec.name}] mmdebstrap ${SUITE} + ${[...BASE_PACKAGES, ...spec.packages].join(" ")} ...`);
    let t = performance.now();
    mmdebstrap(spec, full, versionsDir, ctx.mirrors);
    log(`[${spec.name}]   done in ${secs(t)} s (tar ${mb(fs.statSync(full).size)})`);

    t = performance.now();
    const entries = scanTar(full);
    const imageTar = path.join(work, "image.tar");
    let keep: (e: TarEntry) => boolean = inImage;
    if (spec.parent !== null) {
      const { keep: set, removed } = layerMembers(loadIndex(ctx, spec.parent), entries);
      keep = (e) => set.has(e.path);
      // Overlay layers can only add or replace: a file that installing packages removed would still show.
      if (removed.length) log(`[${spec.name}]   warning: ${removed.length} base paths absent here (still visible through base): ${removed.slice(0, 5).join(" ")}`);
    }
    const { members, bytes } = writeTar(full, entries, keep, imageTar);
    log(`[${spec.name}]   ${spec.parent ? "diff against base" : "filter"}: ${members}/${entries.length} members, ${mb(bytes)} in ${secs(t)} s`);

    t = performance.now();
    const tmpImage = path.join(work, "image.sqfs");
    mksquashfs(imageTar, tmpImage, ctx.comp);
    const sizeBytes = fs.statSync(tmpImage).size;
    log(`[${spec.name}]   mksquashfs -comp ${ctx.comp}: ${mb(sizeBytes)} in ${secs(t)} s`);

    // Versions: as printed inside the build chroot; as root, re-read from the
    // finished image composed like the launcher does, which also proves the layer works.
    const versions: Record<string, LanguageVersion> = {};
    for (const id of Object.keys(spec.versionCommands)) {
      versions[id] = parseVersion(fs.readFileSync(path.join(versionsDir, "ruse-versions", id), "utf8"));
    }
    if (isRoot) {
      t = performance.now();
      const stack = spec.parent ? [tmpImage, path.join(ctx.cacheDir, ctx.manifest.images[spec.parent]!.file)] : [tmpImage];
      for (const [id, argv] of Object.entries(spec.versionCommands)) {
        const r = runInImages(stack, argv);
        if (r.status !== 0) throw new Error(`${argv.join(" ")} fails in the composed image (exit ${r.status}): ${r.stdout}${r.stderr}`);
        versions[id] = parseVersion(r.stdout + r.stderr);
      }
      log(`[${spec.name}]   composed-image check (overlay, uid 1000) passed in ${secs(t)} s`);
    } else {
      log(`[${spec.name}]   composed-image check skipped (needs root; run npx tsx rootfs/verify.ts as root)`);
    }
    const debian = fs.readFileSync(path.join(versionsDir, "ruse-versions", "_debian"), "utf8").trim();

    // Commit: image, then index, then manifest; each by rename, so an
    // interrupted build leaves either the old state or the new one.
    const file = imageFileName(spec.name, hash);
    const record: ImageRecord = {
      file, hash, parent: spec.parent, parentHash: spec.parent ? ctx.hashes[spec.parent]! : null,
      packages: spec.packages, sizeBytes, sha256: fileSha256(tmpImage), compression: ctx.comp,
      version: spec.parent ? (Object.values(versions)[0]?.version ?? "") : debian,
      languages: versions, builtAt: new Date().toISOString(), buildSeconds: secs(t0),
    };
    fs.renameSync(tmpImage, path.join(ctx.cacheDir, file));
    if (spec.parent === null) {
      const index = Object.fromEntries(entries.filter(inImage).map((e) => [e.path, e.id]));
      writeAtomic(indexFile(ctx, spec.name), gzipSync(JSON.stringify(index)));
    }
    return record;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- cache housekeeping

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** One build per cache directory at a time; a lock left by a dead build is taken over. */
function lock(cacheDir: string): void {
  const file = path.join(cacheDir, ".build.lock");
  for (let i = 0; i < 2; i++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: "wx" });
      process.on("exit", () => fs.rmSync(file, { force: true }));
      return;
    } catch {
      const pid = Number(fs.readFileSync(file, "utf8"));
      if (pid && pidAlive(pid)) die(`another build (pid ${pid}) is using ${cacheDir}`);
      fs.rmSync(file, { force: true });
    }
  }
  die(`cannot lock ${cacheDir}`);
}

/** Removes work dirs and temp files of dead builds, and images no longer in the manifest. */
function sweep(ctx: Context): void {
  const current = new Set<string>([MANIFEST_FILE, ".build.lock"]);
  for (const [name, rec] of Object.entries(ctx.manifest.images)) {
    current.add(rec.file);
    current.add(imageFileName(name, rec.hash).replace(/\.sqfs$/, ".index.json.gz"));
  }
  for (const f of fs.readdirSync(ctx.cacheDir)) {
    const pid = /(?:^\.work-|\.tmp-)(\d+)/.exec(f)?.[1];
    if (pid !== undefined ? !pidAlive(Number(pid)) : !current.has(f) && /\.(sqfs|index\.json\.gz)$/.test(f)) {
      fs.rmSync(path.join(ctx.cacheDir, f), { recursive: true, force: true });
    }
  }
}

/** Fails early, with the fix, if mmdebstrap cannot run for this user. */
function checkCanBuild(): void {
  for (const tool of ["mmdebstrap", "mksquashfs"]) {
    if (spawnSync(tool, ["--version"], { stdio: "ignore" }).error) die(`${tool} is missing: apt-get install mmdebstrap squashfs-tools`);
  }
  if (isRoot) return;
  const r = spawnSync("mmdebstrap", ["--unshare-helper", "true"], { encoding: "utf8" });
  if (r.status !== 0) {
    const user = process.env.USER ?? String(process.getuid?.());
    die(`mmdebstrap --mode=unshare does not work for this user:\n${(r.stderr ?? "").trim()}\n` +
      `It needs newuidmap/newgidmap (package uidmap) and ranges for ${user} in /etc/subuid and /etc/subgid, e.g.\n` +
      `  usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user}\n` +
      `or run the build as root.`);
  }
}

// ---------------------------------------------------------------- main

function main(): void {
  const { values } = parseArgs({
    options: {
      only: { type: "string" },
      cache: { type: "string" },
      comp: { type: "string", default: "zstd" },
      force: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    log("usage: npx tsx rootfs/build.ts [--only NAME,...] [--cache DIR] [--force] [--comp zstd|lz4]\n" +
      "NAME: an image (base, gcc, python, ...) or a language id (c -> gcc, bash -> base).\n" +
      `cache: --cache, else $RUSE_IMAGE_CACHE, else ${buildCacheDir()}`);
    return;
  }
  if (!["zstd", "lz4", "xz", "gzip", "lzo"].includes(values.comp!)) die(`unknown compressor ${values.comp}`);
  const t0 = performance.now();
  const cacheDir = values.cache ? path.resolve(values.cache) : buildCacheDir();
  const inputs = currentBuildInputs(values.comp);
  if (inputs.mirrors.length === 0) die(`no Debian "${SUITE}" source in /etc/apt/sources.list{,.d/*}`);
  const specs = imageSpecs();
  const hashes = imageHashes(specs, inputs);

  let wanted = new Set(specs.map((s) => s.name));
  if (values.only) {
    wanted = new Set();
    for (const tok of values.only.split(",").map((s) => s.trim()).filter(Boolean)) {
      const lang = getLanguage(tok);
      const name = specs.some((s) => s.name === tok) ? tok : lang ? (layerName(lang) ?? BASE_IMAGE) : undefined;
      if (!name) die(`unknown image or language "${tok}" (images: ${specs.map((s) => s.name).join(", ")})`);
      wanted.add(name);
    }
  }
  // A layer is a diff against the current base: base is always brought up to date first.
  wanted.add(BASE_IMAGE);

  fs.mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
  lock(cacheDir);
  let manifest: Manifest;
  try {
    manifest = readManifest(cacheDir);
  } catch {
    manifest = { format: 1, suite: SUITE, images: {} };
  }
  const ctx: Context = { cacheDir, comp: values.comp!, hashes, mirrors: inputs.mirrors, manifest };
  sweep(ctx);

  const summary: string[] = [];
  let checked = false;
  for (const spec of specs.filter((s) => wanted.has(s.name))) {
    const old = manifest.images[spec.name];
    let fresh = !values.force && old?.hash === hashes[spec.name];
    if (fresh) {
      try {
        verifyImage(spec.name, { cacheDir, manifest });
        if (spec.parent === null && !fs.existsSync(indexFile(ctx, spec.name))) throw new Error("index missing");
      } catch (e) {
        log(`[${spec.name}] cached image unusable (${(e as Error).message.split(";")[0]}): rebuilding`);
        fresh = false;
      }
    }
    if (fresh) {
      summary.push(`${spec.name.padEnd(10)} cached  ${mb(old!.sizeBytes).padStart(10)}  ${old!.version}`);
      continue;
    }
    if (!checked) {
      checkCanBuild();
      checked = true;
    }
    let rec: ImageRecord;
    try {
      rec = buildImage(ctx, spec);
    } catch (e) {
      die(`image "${spec.name}" failed: ${(e as Error).message}`);
    }
    manifest.images[spec.name] = rec;
    writeManifest(cacheDir, manifest);
    sweep(ctx);
    log(`[${spec.name}] built ${rec.file}: ${mb(rec.sizeBytes)} in ${rec.buildSeconds} s; ` +
      Object.entries(rec.languages).map(([id, v]) => `${id} ${v.version}`).join(", "));
    summary.push(`${spec.name.padEnd(10)} built   ${mb(rec.sizeBytes).padStart(10)}  ${rec.version}  (${rec.buildSeconds} s)`);
  }
  log(`\nimages in ${cacheDir}:\n  ${summary.join("\n  ")}\ntotal ${secs(t0)} s`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();

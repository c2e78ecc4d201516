// Builds one image from Debian packages: the recipe of every image.
//
// base is a minimal Debian; each layer holds only the files its packages add
// or change over the image under it (composed at run time with overlayfs
// lowerdir=LAYER:...:BASE). Pipeline, the same as root and as an unprivileged
// user (mmdebstrap --mode=unshare):
//   mmdebstrap --format=tar (base + the packages of the layer and of those
//   under it) -> (layers: keep the members that differ from the index of the
//   image under it) -> mksquashfs -tar -> version check -> rename into the cache.
// Working on tar streams (rootfs/tar.ts) means ownership is right without being
// root and the diff never needs to read a root-owned tree. The content of this
// file, debian.ts and tar.ts is part of every image's hash key: editing any of
// them rebuilds everything. Which images to build, and the manifest, are
// rootfs/images.ts (npm run images).

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { runInImages } from "./chroot.js";
import {
  imageFileName,
  indexFileName,
  fileSha256,
  type ImageRecord,
  type LanguageVersion,
  type Manifest,
} from "./manifest.js";
import { SUITE, type ImageSpec } from "./recipe.js";
import { BASE_PACKAGES, mksquashfs, mmdebstrap } from "./debian.js";
import { scanTar, writeTar, type TarEntry } from "./tar.js";

const isRoot = process.getuid?.() === 0;

// ---------------------------------------------------------------- helpers

export const secs = (t0: number): number => Math.round((performance.now() - t0) / 100) / 10;
export const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

/** First number like 3.11.2 in the first non-empty line of a version command's output. */
export function parseVersion(output: string): LanguageVersion {
  const text =
    output
      .split("\n")
      .map((l) => l.trim())
      .find(Boolean) ?? "";
  return { version: /\d+(?:\.\d+)+/.exec(text)?.[0] ?? text, text };
}

// ---------------------------------------------------------------- layer diff

// /dev must be an empty mount point; mmdebstrap adds device nodes to its tar.
// The root member is skipped: mksquashfs -tar ignores it (-root-* set it instead).
const inImage = (e: TarEntry): boolean => e.path !== "" && !e.path.startsWith("dev/");

/**
 * Which members of the full tree (base + packages) belong in the layer: those
 * absent from base or different, the hard-link targets they need, and the
 * directories leading to them (with the full tree's metadata, as overlayfs
 * takes a merged directory's attributes from the top layer).
 */
export function layerMembers(
  baseIndex: ReadonlyMap<string, string>,
  full: readonly TarEntry[],
): { keep: Set<string>; removed: string[] } {
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

export interface Context {
  cacheDir: string;
  comp: string;
  hashes: Record<string, string>;
  mirrors: string[];
  manifest: Manifest;
  /** Where the build's steps are reported. */
  log: (msg: string) => void;
}

export const indexFile = (ctx: Context, name: string): string =>
  path.join(ctx.cacheDir, indexFileName(name, ctx.hashes[name]!));

function loadIndex(ctx: Context, name: string): Map<string, string> {
  try {
    return new Map(
      Object.entries(
        JSON.parse(gunzipSync(fs.readFileSync(indexFile(ctx, name))).toString()) as Record<string, string>,
      ),
    );
  } catch {
    throw new Error(
      `the file index of image "${name}" is missing: rebuild it with npx tsx rootfs/build.ts --only ${name} --force`,
    );
  }
}

function writeAtomic(file: string, data: Buffer): void {
  fs.writeFileSync(`${file}.tmp-${process.pid}`, data, { mode: 0o644 });
  fs.renameSync(`${file}.tmp-${process.pid}`, file);
}

/** Builds one image into the cache; the caller records it in the manifest. */
export function buildImage(ctx: Context, spec: ImageSpec): ImageRecord {
  const t0 = performance.now();
  const hash = ctx.hashes[spec.name]!;
  const work = fs.mkdtempSync(path.join(ctx.cacheDir, `.work-${process.pid}-${spec.name}-`));
  try {
    const full = path.join(work, "rootfs.tar");
    const versionsDir = path.join(work, "versions");
    fs.mkdirSync(versionsDir);
    ctx.log(`[${spec.name}] mmdebstrap ${SUITE} + ${[...BASE_PACKAGES, ...spec.packages].join(" ")} ...`);
    let t = performance.now();
    mmdebstrap(spec, full, versionsDir, ctx.mirrors);
    ctx.log(`[${spec.name}]   done in ${secs(t)} s (tar ${mb(fs.statSync(full).size)})`);

    t = performance.now();
    const entries = scanTar(full);
    const imageTar = path.join(work, "image.tar");
    let keep: (e: TarEntry) => boolean = inImage;
    if (spec.parent !== null) {
      const { keep: set, removed } = layerMembers(loadIndex(ctx, spec.parent), entries);
      keep = (e) => set.has(e.path);
      // Overlay layers can only add or replace: a file that installing packages removed would still show.
      if (removed.length)
        ctx.log(
          `[${spec.name}]   warning: ${removed.length} paths of ${spec.parent} absent here (still visible through it): ${removed.slice(0, 5).join(" ")}`,
        );
    }
    const { members, bytes } = writeTar(full, entries, keep, imageTar);
    ctx.log(
      `[${spec.name}]   ${spec.parent ? `diff against ${spec.parent}` : "filter"}: ${members}/${entries.length} members, ${mb(bytes)} in ${secs(t)} s`,
    );

    t = performance.now();
    const tmpImage = path.join(work, "image.sqfs");
    mksquashfs(imageTar, tmpImage, ctx.comp);
    const sizeBytes = fs.statSync(tmpImage).size;
    ctx.log(`[${spec.name}]   mksquashfs -comp ${ctx.comp}: ${mb(sizeBytes)} in ${secs(t)} s`);

    // Versions: as printed inside the build chroot; as root, re-read from the
    // finished image composed like the launcher does, which also proves the layer works.
    const versions: Record<string, LanguageVersion> = {};
    for (const id of Object.keys(spec.versionCommands)) {
      versions[id] = parseVersion(fs.readFileSync(path.join(versionsDir, "ruse-versions", id), "utf8"));
    }
    if (isRoot) {
      t = performance.now();
      const stack = [tmpImage];
      for (let p = spec.parent; p !== null; p = ctx.manifest.images[p]!.parent)
        stack.push(path.join(ctx.cacheDir, ctx.manifest.images[p]!.file));
      for (const [id, argv] of Object.entries(spec.versionCommands)) {
        const r = runInImages(stack, argv);
        if (r.status !== 0)
          throw new Error(`${argv.join(" ")} fails in the composed image (exit ${r.status}): ${r.stdout}${r.stderr}`);
        versions[id] = parseVersion(r.stdout + r.stderr);
      }
      ctx.log(`[${spec.name}]   composed-image check (overlay, uid 1000) passed in ${secs(t)} s`);
    } else {
      ctx.log(`[${spec.name}]   composed-image check skipped (needs root; run npx tsx rootfs/verify.ts as root)`);
    }
    const debian = fs.readFileSync(path.join(versionsDir, "ruse-versions", "_debian"), "utf8").trim();

    // Commit: image, then index, then manifest; each by rename, so an
    // interrupted build leaves either the old state or the new one.
    const file = imageFileName(spec.name, hash);
    const record: ImageRecord = {
      file,
      hash,
      parent: spec.parent,
      parentHash: spec.parent ? ctx.hashes[spec.parent]! : null,
      packages: spec.packages,
      sizeBytes,
      sha256: fileSha256(tmpImage),
      compression: ctx.comp,
      version: spec.parent ? (Object.values(versions)[0]?.version ?? "") : debian,
      languages: versions,
      builtAt: new Date().toISOString(),
      buildSeconds: secs(t0),
    };
    fs.renameSync(tmpImage, path.join(ctx.cacheDir, file));
    // The index of the whole tree (this image and those under it): what a layer over this one is diffed against.
    const index = Object.fromEntries(entries.filter(inImage).map((e) => [e.path, e.id]));
    writeAtomic(indexFile(ctx, spec.name), gzipSync(JSON.stringify(index)));
    return record;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Why this user cannot run mmdebstrap and mksquashfs, with the fix; null if it can. */
export function cannotBuild(): string | null {
  for (const tool of ["mmdebstrap", "mksquashfs"]) {
    if (spawnSync(tool, ["--version"], { stdio: "ignore" }).error)
      return `${tool} is missing: apt-get install mmdebstrap squashfs-tools`;
  }
  if (isRoot) return null;
  const r = spawnSync("mmdebstrap", ["--unshare-helper", "true"], { encoding: "utf8" });
  if (r.status === 0) return null;
  const user = process.env.USER ?? String(process.getuid?.());
  return (
    `mmdebstrap --mode=unshare does not work for this user:\n${(r.stderr ?? "").trim()}\n` +
    `It needs newuidmap/newgidmap (package uidmap) and ranges for ${user} in /etc/subuid and /etc/subgid, e.g.\n` +
    `  usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user}\n` +
    "or run the build as root."
  );
}

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
// Working on tar streams (rootfs/tar.ts) means ownership is right without being
// root and the diff never needs to read a root-owned tree.  The content of this
// file, debian.ts and tar.ts is part of every image's hash key: editing any of
// them rebuilds everything.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gunzipSync, gzipSync } from "node:zlib";
import { runInImages } from "./chroot.js";
import { getLanguage, layerName } from "./languages.js";
import {
  buildCacheDir,
  imageFileName,
  indexFileName,
  fileSha256,
  readManifest,
  verifyImage,
  writeManifest,
  type ImageRecord,
  type LanguageVersion,
  type Manifest,
} from "./manifest.js";
import { BASE_IMAGE, currentBuildInputs, imageHashes, imageSpecs, SUITE, type ImageSpec } from "./recipe.js";
import { lockCache, sweepCache } from "./cache.js";
import { BASE_PACKAGES, mksquashfs, mmdebstrap } from "./debian.js";
import { scanTar, writeTar, type TarEntry } from "./tar.js";

const isRoot = process.getuid?.() === 0;

// ---------------------------------------------------------------- helpers

const log = (msg: string): void => void process.stdout.write(`${msg}\n`);
const secs = (t0: number): number => Math.round((performance.now() - t0) / 100) / 10;
const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

function die(msg: string): never {
  process.stderr.write(`build: ${msg}\n`);
  process.exit(1);
}

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

interface Context {
  cacheDir: string;
  comp: string;
  hashes: Record<string, string>;
  mirrors: string[];
  manifest: Manifest;
}

const indexFile = (ctx: Context, name: string): string =>
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
      if (removed.length)
        log(
          `[${spec.name}]   warning: ${removed.length} base paths absent here (still visible through base): ${removed.slice(0, 5).join(" ")}`,
        );
    }
    const { members, bytes } = writeTar(full, entries, keep, imageTar);
    log(
      `[${spec.name}]   ${spec.parent ? "diff against base" : "filter"}: ${members}/${entries.length} members, ${mb(bytes)} in ${secs(t)} s`,
    );

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
      const stack = spec.parent
        ? [tmpImage, path.join(ctx.cacheDir, ctx.manifest.images[spec.parent]!.file)]
        : [tmpImage];
      for (const [id, argv] of Object.entries(spec.versionCommands)) {
        const r = runInImages(stack, argv);
        if (r.status !== 0)
          throw new Error(`${argv.join(" ")} fails in the composed image (exit ${r.status}): ${r.stdout}${r.stderr}`);
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
    if (spec.parent === null) {
      const index = Object.fromEntries(entries.filter(inImage).map((e) => [e.path, e.id]));
      writeAtomic(indexFile(ctx, spec.name), gzipSync(JSON.stringify(index)));
    }
    return record;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Fails early, with the fix, if mmdebstrap cannot run for this user. */
function checkCanBuild(): void {
  for (const tool of ["mmdebstrap", "mksquashfs"]) {
    if (spawnSync(tool, ["--version"], { stdio: "ignore" }).error)
      die(`${tool} is missing: apt-get install mmdebstrap squashfs-tools`);
  }
  if (isRoot) return;
  const r = spawnSync("mmdebstrap", ["--unshare-helper", "true"], { encoding: "utf8" });
  if (r.status !== 0) {
    const user = process.env.USER ?? String(process.getuid?.());
    die(
      `mmdebstrap --mode=unshare does not work for this user:\n${(r.stderr ?? "").trim()}\n` +
        `It needs newuidmap/newgidmap (package uidmap) and ranges for ${user} in /etc/subuid and /etc/subgid, e.g.\n` +
        `  usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user}\n` +
        `or run the build as root.`,
    );
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
    log(
      "usage: npx tsx rootfs/build.ts [--only NAME,...] [--cache DIR] [--force] [--comp zstd|lz4]\n" +
        "NAME: an image (base, gcc, python, ...) or a language id (c -> gcc, bash -> base).\n" +
        `cache: --cache, else $RUSE_IMAGE_CACHE, else ${buildCacheDir()}`,
    );
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
    for (const tok of values.only
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)) {
      const lang = getLanguage(tok);
      const name = specs.some((s) => s.name === tok) ? tok : lang ? (layerName(lang) ?? BASE_IMAGE) : undefined;
      if (!name) die(`unknown image or language "${tok}" (images: ${specs.map((s) => s.name).join(", ")})`);
      wanted.add(name);
    }
  }
  // A layer is a diff against the current base: base is always brought up to date first.
  wanted.add(BASE_IMAGE);

  fs.mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
  try {
    lockCache(cacheDir);
  } catch (e) {
    die((e as Error).message);
  }
  let manifest: Manifest;
  try {
    manifest = readManifest(cacheDir);
  } catch {
    manifest = { format: 1, suite: SUITE, images: {} };
  }
  const ctx: Context = { cacheDir, comp: values.comp!, hashes, mirrors: inputs.mirrors, manifest };
  sweepCache(ctx.cacheDir, ctx.manifest);

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
    sweepCache(ctx.cacheDir, ctx.manifest);
    log(
      `[${spec.name}] built ${rec.file}: ${mb(rec.sizeBytes)} in ${rec.buildSeconds} s; ` +
        Object.entries(rec.languages)
          .map(([id, v]) => `${id} ${v.version}`)
          .join(", "),
    );
    summary.push(
      `${spec.name.padEnd(10)} built   ${mb(rec.sizeBytes).padStart(10)}  ${rec.version}  (${rec.buildSeconds} s)`,
    );
  }
  log(`\nimages in ${cacheDir}:\n  ${summary.join("\n  ")}\ntotal ${secs(t0)} s`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();

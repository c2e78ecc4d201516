// The image cache and its manifest: where images are kept and mounted, the
// manifest reader and writer, integrity checks, language versions and the
// layer lists the worker composes; what each image is built from is
// rootfs/recipe.ts.  Used by rootfs/build.ts, the worker and the API;
// mounting the images is rootfs/mounts.ts.
//
// Images: `base` (minimal Debian) plus one layer per language (only the files
// its packages add or change).  At run time a language's root is the overlay
// `lowerdir=<mounts>/<layer>:<mounts>/base` (see layersFor).

import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { imagePaths } from "../core/config.js";
import { languages as catalogue } from "./languages.js";
import { BASE_IMAGE, imagesFor } from "./recipe.js";

const SYSTEM_CACHE_DIR = "/var/cache/ruse/images";
export const MANIFEST_FILE = "manifest.json";

export const isRoot = (): boolean => process.getuid?.() === 0;

// ---------------------------------------------------------------- locations

function userCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(xdg, "ruse", "images");
}

/** Where build.ts writes: $RUSE_IMAGE_CACHE, else the system cache as root, else the user's. */
export function buildCacheDir(): string {
  const { cacheDir } = imagePaths();
  if (cacheDir) return path.resolve(cacheDir);
  return isRoot() ? SYSTEM_CACHE_DIR : userCacheDir();
}

/**
 * Where the machine's images are read from: like buildCacheDir(), except that
 * an unprivileged user reads the system cache when there is one: the worker
 * runs unprivileged but the images are normally built once by root. (Its own
 * cache then holds only what it built on demand: onDemandSource().)
 */
export function imageCacheDir(): string {
  const own = buildCacheDir();
  if (imagePaths().cacheDir || isRoot()) return own;
  return fs.existsSync(path.join(SYSTEM_CACHE_DIR, MANIFEST_FILE)) ? SYSTEM_CACHE_DIR : own;
}

/** A cache of images and where they are mounted. */
export interface ImageSource {
  cacheDir: string;
  mountRoot: string;
}

/**
 * Where a worker keeps the images it builds on demand (worker/images.ts): its
 * user's own cache, FUSE-mounted beside it. Never the machine's cache: root
 * loop-mounts that one with the kernel, and must not be handed images the
 * unprivileged worker wrote.
 */
export function onDemandSource(): ImageSource {
  const cacheDir = userCacheDir();
  return { cacheDir, mountRoot: path.join(path.dirname(cacheDir), "mounts") };
}

const DEFAULT_MOUNT_ROOT = "/run/ruse/images";

/** Where images are mounted: $RUSE_IMAGE_MOUNTS or /run/ruse/images. */
export function defaultMountRoot(): string {
  const { mountRoot } = imagePaths();
  if (mountRoot) return path.resolve(mountRoot);
  // The privileged set-up mounts under /run for everyone; a user without it
  // mounts with FUSE in a directory of their own.
  if (isRoot() || fs.existsSync(DEFAULT_MOUNT_ROOT)) return DEFAULT_MOUNT_ROOT;
  return path.join(process.env.XDG_RUNTIME_DIR || path.join(os.homedir(), ".cache"), "ruse", "images");
}

/** The sha256 of a file's whole content (a path, or a descriptor open on it), read a MiB at a time. */
export function fileSha256(file: string | number): string {
  const fd = typeof file === "number" ? file : fs.openSync(file, "r");
  try {
    const h = createHash("sha256");
    const buf = Buffer.alloc(1 << 20);
    for (let pos = 0; ; ) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) return h.digest("hex");
      h.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    if (fd !== file) fs.closeSync(fd);
  }
}

/** File name of an image in the cache. */
export const imageFileName = (name: string, hash: string): string => `${name}-${hash.slice(0, 12)}.sqfs`;
/** The image's member index, beside it: what a language layer leaves out of its base. */
export const indexFileName = (name: string, hash: string): string =>
  imageFileName(name, hash).replace(/\.sqfs$/, ".index.json.gz");

// ---------------------------------------------------------------- manifest

export interface LanguageVersion {
  /** The version number, e.g. "3.11.2". */
  version: string;
  /** First line of the versionCommand's output. */
  text: string;
}

export interface ImageRecord {
  file: string;
  hash: string;
  parent: string | null;
  parentHash: string | null;
  packages: string[];
  sizeBytes: number;
  /** sha256 of the image file, for a deep check (verifyImage(..., {deep: true})). */
  sha256: string;
  compression: string;
  /** Debian version for base; the (first) language's version for a layer. */
  version: string;
  languages: Record<string, LanguageVersion>;
  builtAt: string;
  buildSeconds: number;
}

export interface Manifest {
  format: 1;
  suite: string;
  images: Record<string, ImageRecord>;
}

/** A missing, corrupt or stale image; the message names the command that rebuilds it. */
export class ImageError extends Error {
  constructor(
    readonly image: string,
    problem: string,
    readonly rebuild: string,
  ) {
    super(`image "${image}" ${problem}; rebuild it with: ${rebuild}`);
    this.name = "ImageError";
  }
}

/** The exact command that (re)builds `image` into `cacheDir`. */
export function rebuildCommand(image: string | null, cacheDir = imageCacheDir()): string {
  let cmd = `npm run images --${image ? ` ${image}` : ""}`;
  if (path.resolve(cacheDir) !== buildCacheDir()) cmd += ` --cache ${cacheDir}`;
  let writable = true;
  try {
    fs.accessSync(fs.existsSync(cacheDir) ? cacheDir : path.dirname(cacheDir), fs.constants.W_OK);
  } catch {
    writable = false;
  }
  return writable ? cmd : `${cmd} (as root)`;
}

const manifestCache = new Map<string, { key: string; manifest: Manifest }>();

/** Reads and parses `<cacheDir>/manifest.json` (cached while the file is unchanged). */
export function readManifest(cacheDir = imageCacheDir()): Manifest {
  const file = path.join(cacheDir, MANIFEST_FILE);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new ImageError(BASE_IMAGE, `is not built (no ${file})`, rebuildCommand(null, cacheDir));
  }
  const key = `${st.mtimeMs}:${st.size}:${st.ino}`;
  const hit = manifestCache.get(file);
  if (hit?.key === key) return hit.manifest;
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(file, "utf8")) as Manifest;
    if (manifest.format !== 1 || typeof manifest.images !== "object" || manifest.images === null)
      throw new Error("bad format");
  } catch (e) {
    throw new ImageError(
      BASE_IMAGE,
      `manifest ${file} is corrupt (${(e as Error).message})`,
      rebuildCommand(null, cacheDir),
    );
  }
  manifestCache.set(file, { key, manifest });
  return manifest;
}

/** Writes the manifest atomically (temp file + rename). */
export function writeManifest(cacheDir: string, manifest: Manifest): void {
  const file = path.join(cacheDir, MANIFEST_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
  fs.renameSync(tmp, file);
}

// squashfs superblock: magic "hsqs" at 0, bytes_used (u64 LE) at 40.
const SQUASHFS_MAGIC = 0x73717368;

/**
 * Checks an image cheaply: present in the manifest, file present, size as
 * recorded and a valid squashfs superblock whose length fits the file.
 * `deep` also compares the file's sha256 (reads the whole image).
 * Returns the image's absolute path.
 */
export function verifyImage(
  name: string,
  opts: { cacheDir?: string; manifest?: Manifest; deep?: boolean } = {},
): string {
  const cacheDir = opts.cacheDir ?? imageCacheDir();
  const rebuild = rebuildCommand(name, cacheDir);
  const manifest = opts.manifest ?? readManifest(cacheDir);
  const rec = manifest.images[name];
  if (!rec) throw new ImageError(name, `is not built (not in ${path.join(cacheDir, MANIFEST_FILE)})`, rebuild);
  const file = path.join(cacheDir, rec.file);
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (e) {
    throw new ImageError(name, `is missing (${file}: ${(e as NodeJS.ErrnoException).code})`, rebuild);
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size !== rec.sizeBytes) {
      throw new ImageError(name, `is corrupt: ${file} has ${size} bytes, the manifest says ${rec.sizeBytes}`, rebuild);
    }
    const sb = Buffer.alloc(96);
    const n = fs.readSync(fd, sb, 0, sb.length, 0);
    const bytesUsed = n === sb.length ? Number(sb.readBigUInt64LE(40)) : -1;
    if (n !== sb.length || sb.readUInt32LE(0) !== SQUASHFS_MAGIC || bytesUsed > size || bytesUsed < 96) {
      throw new ImageError(name, `is corrupt: ${file} is not a valid squashfs image`, rebuild);
    }
    if (opts.deep) {
      if (fileSha256(fd) !== rec.sha256)
        throw new ImageError(name, `is corrupt: sha256 of ${file} differs from the manifest`, rebuild);
    }
  } finally {
    fs.closeSync(fd);
  }
  if (rec.parent !== null) {
    const parent = manifest.images[rec.parent];
    if (!parent || parent.hash !== rec.parentHash) {
      throw new ImageError(name, `was built on another "${rec.parent}" image than the current one`, rebuild);
    }
  }
  return file;
}

/** Versions of all built languages, read from the manifest (for GET /v1/languages). */
export function languageVersions(cacheDir = imageCacheDir()): Record<string, LanguageVersion> {
  const out: Record<string, LanguageVersion> = {};
  for (const rec of Object.values(readManifest(cacheDir).images)) Object.assign(out, rec.languages);
  return out;
}

/** Whether `cacheDir` holds a manifest: images were built on this machine. */
export const hasImages = (cacheDir = imageCacheDir()): boolean => fs.existsSync(path.join(cacheDir, MANIFEST_FILE));

/** Whether every image a language needs is built (and so passed its check) in `cacheDir`, on the current images under it. */
export function languageReady(languageId: string, cacheDir = imageCacheDir()): boolean {
  try {
    layersFor(languageId, defaultMountRoot(), cacheDir);
    return true;
  } catch {
    return false;
  }
}

/**
 * A language's mounted image directories, top first, from the machine's
 * images, else from those its worker built on demand (onDemandSource);
 * throws the machine's ImageError when neither has them.
 */
export function resolveLayers(languageId: string): { layers: string[]; onDemand: boolean } {
  try {
    return { layers: layersFor(languageId), onDemand: false };
  } catch (e) {
    const own = onDemandSource();
    if (path.resolve(own.cacheDir) === path.resolve(imageCacheDir())) throw e;
    try {
      return { layers: layersFor(languageId, own.mountRoot, own.cacheDir), onDemand: true };
    } catch {
      throw e;
    }
  }
}

/** The image directories (layersFor) of every language built and mounted here, each image once. */
export function catalogueLayers(mountRoot = defaultMountRoot(), cacheDir = imageCacheDir()): string[][] {
  const stacks = catalogue.flatMap((l) => {
    try {
      return [layersFor(l.id, mountRoot, cacheDir)];
    } catch {
      return []; // not built here
    }
  });
  const mounted = stacks.filter((ls) => ls.every((dir) => fs.existsSync(path.join(dir, "usr"))));
  const byKey = new Map(mounted.map((ls) => [ls.join(":"), ls]));
  return [...byKey.values()];
}

/**
 * The mounted image directories of a language, top first ([layer, ..., base] or
 * [base]): the overlay lowerdir is `layersFor(id).join(":")`.  Throws an
 * ImageError if an image the language needs is not built or broken.
 */
export function layersFor(languageId: string, mountRoot = defaultMountRoot(), cacheDir = imageCacheDir()): string[] {
  const names = imagesFor(languageId);
  const manifest = readManifest(cacheDir);
  for (const n of names) {
    const rec = manifest.images[n];
    if (!rec) throw new ImageError(n, `is not built (needed by language "${languageId}")`, rebuildCommand(n, cacheDir));
    if (rec.parent !== null && manifest.images[rec.parent]?.hash !== rec.parentHash) {
      throw new ImageError(
        n,
        `was built on another "${rec.parent}" image than the current one`,
        rebuildCommand(n, cacheDir),
      );
    }
  }
  return names.map((n) => path.join(mountRoot, n));
}

/**
 * At worker start: the images of `languageIds` (the machine's RUSE_LANGUAGES)
 * are built, intact (size and manifest checks) and mounted; the first
 * problem found is thrown, naming the image and the command that fixes it.
 */
export function checkImages(
  languageIds: readonly string[],
  mountRoot = defaultMountRoot(),
  cacheDir = imageCacheDir(),
): void {
  const manifest = readManifest(cacheDir);
  for (const id of languageIds) {
    for (const dir of layersFor(id, mountRoot, cacheDir)) {
      const name = path.basename(dir);
      verifyImage(name, { cacheDir, manifest });
      if (!fs.existsSync(path.join(dir, "usr")))
        throw new ImageError(
          name,
          `is not mounted at ${dir}`,
          "npx tsx rootfs/mounts.ts (or sudo bash scripts/setup.sh)",
        );
    }
  }
}

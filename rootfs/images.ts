// Image cache, manifest, hash keys and mounting of the read-only root file
// systems built by rootfs/build.ts.  Used by the build script and the worker.
//
// Images: `base` (minimal Debian) plus one layer per language (only the files
// its packages add or change).  At run time a language's root is the overlay
// `lowerdir=<mounts>/<layer>:<mounts>/base` (see layersFor).

import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getLanguage, languages as catalogue, layerName, type Language } from "./languages.js";

export const SUITE = "bookworm";
export const BASE_IMAGE = "base";
export const SYSTEM_CACHE_DIR = "/var/cache/ruse/images";
export const DEFAULT_MOUNT_ROOT = "/run/ruse/images";
export const MANIFEST_FILE = "manifest.json";
const BUILD_SCRIPT = fileURLToPath(new URL("./build.ts", import.meta.url));

const isRoot = (): boolean => process.getuid?.() === 0;

// ---------------------------------------------------------------- locations

function userCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(xdg, "ruse", "images");
}

/** Where build.ts writes: $RUSE_IMAGE_CACHE, else the system cache as root, else the user's. */
export function buildCacheDir(): string {
  if (process.env.RUSE_IMAGE_CACHE) return path.resolve(process.env.RUSE_IMAGE_CACHE);
  return isRoot() ? SYSTEM_CACHE_DIR : userCacheDir();
}

/**
 * Where the images are read from: like buildCacheDir(), except that an
 * unprivileged user without images of its own reads the system cache: the
 * worker runs unprivileged but images are normally built once by root.
 */
export function imageCacheDir(): string {
  const own = buildCacheDir();
  if (process.env.RUSE_IMAGE_CACHE || isRoot()) return own;
  if (!fs.existsSync(path.join(own, MANIFEST_FILE)) && fs.existsSync(path.join(SYSTEM_CACHE_DIR, MANIFEST_FILE))) {
    return SYSTEM_CACHE_DIR;
  }
  return own;
}

/** Where images are mounted: $RUSE_IMAGE_MOUNTS or /run/ruse/images. */
export function defaultMountRoot(): string {
  if (process.env.RUSE_IMAGE_MOUNTS) return path.resolve(process.env.RUSE_IMAGE_MOUNTS);
  // The privileged set-up mounts under /run for everyone; a user without it
  // mounts with FUSE in a directory of their own.
  if (isRoot() || fs.existsSync(DEFAULT_MOUNT_ROOT)) return DEFAULT_MOUNT_ROOT;
  return path.join(process.env.XDG_RUNTIME_DIR || path.join(os.homedir(), ".cache"), "ruse", "images");
}

// ---------------------------------------------------------------- image specs and hash keys

export interface ImageSpec {
  name: string;
  /** The image this one is layered on (null for base). */
  parent: string | null;
  /** Debian packages over the parent, sorted. */
  packages: string[];
  /** Catalogue entries served by this image: id -> versionCommand. */
  versionCommands: Record<string, readonly string[]>;
}

/** The images the catalogue needs, base first.  Throws if the catalogue is inconsistent. */
export function imageSpecs(langs: readonly Language[] = catalogue): ImageSpec[] {
  const base: ImageSpec = { name: BASE_IMAGE, parent: null, packages: [], versionCommands: {} };
  const specs = new Map<string, ImageSpec>([[BASE_IMAGE, base]]);
  for (const lang of langs) {
    const layer = layerName(lang);
    const packages = [...new Set(lang.debianPackages)].sort();
    if (layer === null) {
      base.versionCommands[lang.id] = lang.versionCommand;
      continue;
    }
    if (layer === BASE_IMAGE) throw new Error(`language ${lang.id}: layer name "${BASE_IMAGE}" is reserved`);
    const spec = specs.get(layer);
    if (!spec) {
      specs.set(layer, { name: layer, parent: BASE_IMAGE, packages, versionCommands: { [lang.id]: lang.versionCommand } });
    } else if (spec.packages.join(" ") !== packages.join(" ")) {
      throw new Error(`languages sharing layer "${layer}" must list the same debianPackages (${lang.id} differs)`);
    } else {
      spec.versionCommands[lang.id] = lang.versionCommand;
    }
  }
  return [...specs.values()];
}

/** Image name a language needs over base (null: base only). Throws for unknown ids. */
export function imageFor(languageId: string): string | null {
  const lang = getLanguage(languageId);
  if (!lang) throw new Error(`unknown language "${languageId}"`);
  return layerName(lang);
}

/** Everything outside the catalogue that determines an image's content. */
export interface BuildInputs {
  suite: string;
  /** sha256 of rootfs/build.ts: its recipe (mmdebstrap options, clean-up, base packages). */
  buildScriptSha256: string;
  /** Debian sources (one-line form) used by mmdebstrap. */
  mirrors: string[];
  /** squashfs compressor. */
  compression: string;
}

const sha256 = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");

/** Hash key of one image; a layer's key includes its parent's key. */
export function imageHash(spec: ImageSpec, inputs: BuildInputs, parentHash: string | null): string {
  if ((spec.parent === null) !== (parentHash === null)) throw new Error(`image ${spec.name}: parent hash mismatch`);
  const versionCommands = Object.fromEntries(Object.entries(spec.versionCommands).sort(([a], [b]) => a.localeCompare(b)));
  return sha256(JSON.stringify({
    format: 1,
    name: spec.name,
    parent: spec.parent,
    parentHash,
    packages: spec.packages,
    versionCommands,
    suite: inputs.suite,
    buildScriptSha256: inputs.buildScriptSha256,
    mirrors: inputs.mirrors,
    compression: inputs.compression,
  }));
}

/** name -> hash key for all specs (parents must come first, as imageSpecs() orders them). */
export function imageHashes(specs: readonly ImageSpec[], inputs: BuildInputs): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of specs) {
    const parentHash = spec.parent === null ? null : out[spec.parent];
    if (parentHash === undefined) throw new Error(`image ${spec.name}: parent ${spec.parent} not specified before it`);
    out[spec.name] = imageHash(spec, inputs, parentHash);
  }
  return out;
}

/** File name of an image in the cache. */
export const imageFileName = (name: string, hash: string): string => `${name}-${hash.slice(0, 12)}.sqfs`;

/**
 * The Debian sources configured on this machine for `suite` (and its -updates
 * and -security suites), in one-line form for mmdebstrap.  We use the host's
 * mirror rather than a hard-coded one: it is the only one known to be reachable.
 */
export function hostMirrors(suite = SUITE, aptDir = "/etc/apt"): string[] {
  const suiteRe = new RegExp(`^${suite}(-[a-z]+)?$`);
  const out: string[] = [];
  const add = (uri: string, suites: string[], components: string[], signedBy?: string) => {
    const opts = signedBy && signedBy.startsWith("/") ? `[signed-by=${signedBy}] ` : "";
    for (const s of suites) if (suiteRe.test(s)) out.push(`deb ${opts}${uri} ${s} ${components.join(" ")}`);
  };
  const files: string[] = [];
  if (fs.existsSync(path.join(aptDir, "sources.list"))) files.push(path.join(aptDir, "sources.list"));
  const d = path.join(aptDir, "sources.list.d");
  if (fs.existsSync(d)) for (const f of fs.readdirSync(d).sort()) files.push(path.join(d, f));
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    if (file.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const fields: Record<string, string> = {};
        for (const line of stanza.split("\n")) {
          const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
          if (m) fields[m[1]!.toLowerCase()] = m[2]!.trim();
        }
        if (fields.enabled === "no" || !(fields.types ?? "").split(/\s+/).includes("deb")) continue;
        for (const uri of (fields.uris ?? "").split(/\s+/).filter(Boolean)) {
          add(uri, (fields.suites ?? "").split(/\s+/), (fields.components ?? "").split(/\s+/), fields["signed-by"]);
        }
      }
    } else if (file.endsWith(".list") || file === path.join(aptDir, "sources.list")) {
      for (const raw of text.split("\n")) {
        const line = raw.replace(/#.*/, "").trim();
        const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line);
        if (!m) continue;
        const signedBy = /signed-by=(\S+)/.exec(m[1] ?? "")?.[1];
        add(m[2]!, [m[3]!], m[4]!.split(/\s+/), signedBy);
      }
    }
  }
  return [...new Set(out)];
}

/** The build inputs of this checkout and machine. */
export function currentBuildInputs(compression = "zstd"): BuildInputs {
  return {
    suite: SUITE,
    buildScriptSha256: sha256(fs.readFileSync(BUILD_SCRIPT)),
    mirrors: hostMirrors(SUITE),
    compression,
  };
}

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
  constructor(readonly image: string, problem: string, readonly rebuild: string) {
    super(`image "${image}" ${problem}; rebuild it with: ${rebuild}`);
    this.name = "ImageError";
  }
}

/** The exact command that (re)builds `image` into `cacheDir`. */
export function rebuildCommand(image: string | null, cacheDir = imageCacheDir()): string {
  let cmd = "npx tsx rootfs/build.ts" + (image ? ` --only ${image}` : "");
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
    if (manifest.format !== 1 || typeof manifest.images !== "object" || manifest.images === null) throw new Error("bad format");
  } catch (e) {
    throw new ImageError(BASE_IMAGE, `manifest ${file} is corrupt (${(e as Error).message})`, rebuildCommand(null, cacheDir));
  }
  manifestCache.set(file, { key, manifest });
  return manifest;
}

/** Writes the manifest atomically (temp file + rename). */
export function writeManifest(cacheDir: string, manifest: Manifest): void {
  const file = path.join(cacheDir, MANIFEST_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(manifest, null, 2) + "\n", { mode: 0o644 });
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
export function verifyImage(name: string, opts: { cacheDir?: string; manifest?: Manifest; deep?: boolean } = {}): string {
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
      const h = createHash("sha256");
      const buf = Buffer.alloc(1 << 20);
      for (let pos = 0, r; (r = fs.readSync(fd, buf, 0, buf.length, pos)) > 0; pos += r) h.update(buf.subarray(0, r));
      if (h.digest("hex") !== rec.sha256) throw new ImageError(name, `is corrupt: sha256 of ${file} differs from the manifest`, rebuild);
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

/** Images whose hash differs from what this checkout's catalogue and build script would build. */
export function staleImages(cacheDir = imageCacheDir()): string[] {
  const manifest = readManifest(cacheDir);
  const hashes = imageHashes(imageSpecs(), currentBuildInputs(manifest.images[BASE_IMAGE]?.compression));
  return Object.keys(hashes).filter((n) => manifest.images[n] && manifest.images[n]!.hash !== hashes[n]);
}

/** Versions of all built languages, read from the manifest (for GET /v1/languages). */
export function languageVersions(cacheDir = imageCacheDir()): Record<string, LanguageVersion> {
  const out: Record<string, LanguageVersion> = {};
  for (const rec of Object.values(readManifest(cacheDir).images)) Object.assign(out, rec.languages);
  return out;
}

/** Every language's image directories (layersFor), each image once. */
export function catalogueLayers(mountRoot = defaultMountRoot(), cacheDir = imageCacheDir()): string[][] {
  const byKey = new Map(catalogue.map((l) => layersFor(l.id, mountRoot, cacheDir)).map((ls) => [ls.join(":"), ls]));
  return [...byKey.values()];
}

/**
 * The mounted image directories of a language, top first ([layer, base] or
 * [base]): the overlay lowerdir is `layersFor(id).join(":")`.  Throws an
 * ImageError if an image the language needs is not built or broken.
 */
export function layersFor(languageId: string, mountRoot = defaultMountRoot(), cacheDir = imageCacheDir()): string[] {
  const layer = imageFor(languageId);
  const names = layer ? [layer, BASE_IMAGE] : [BASE_IMAGE];
  const manifest = readManifest(cacheDir);
  for (const n of names) {
    const rec = manifest.images[n];
    if (!rec) throw new ImageError(n, `is not built (needed by language "${languageId}")`, rebuildCommand(n, cacheDir));
    if (rec.parent !== null && manifest.images[rec.parent]?.hash !== rec.parentHash) {
      throw new ImageError(n, `was built on another "${rec.parent}" image than the current one`, rebuildCommand(n, cacheDir));
    }
  }
  return names.map((n) => path.join(mountRoot, n));
}

/**
 * At worker start: every language's images are built, intact (size and
 * manifest checks) and mounted; the first problem found is thrown, naming
 * the image and the command that fixes it.
 */
export function checkImages(mountRoot = defaultMountRoot(), cacheDir = imageCacheDir()): void {
  const manifest = readManifest(cacheDir);
  for (const lang of catalogue) {
    for (const dir of layersFor(lang.id, mountRoot, cacheDir)) {
      const name = path.basename(dir);
      verifyImage(name, { cacheDir, manifest });
      if (!fs.existsSync(path.join(dir, "usr")))
        throw new ImageError(name, `is not mounted at ${dir}`, "npx tsx rootfs/mount.ts (or sudo bash scripts/setup.sh)");
    }
  }
}

// ---------------------------------------------------------------- mounting

interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
  /** the file system's own options (mountinfo's last field), e.g. cgroup2's favordynmods */
  superOptions: string[];
}

const unescapeMount = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Mounts of this process's namespace (later entries are on top). */
export function mountTable(): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [pre, post] = line.split(" - ");
    if (!pre || !post) continue;
    const f = pre.split(" ");
    const g = post.split(" ");
    out.push({ mountPoint: unescapeMount(f[4] ?? ""), fsType: g[0] ?? "", source: unescapeMount(g[1] ?? ""), superOptions: (g[2] ?? "").split(",") });
  }
  return out;
}

const topMount = (dir: string): MountEntry | undefined => mountTable().filter((m) => m.mountPoint === dir).pop();

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

export interface MountResult {
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
function mountAll(mountRoot: string, mountOne: (name: string, image: string, dir: string) => MountResult["action"]): MountResult[] {
  const cacheDir = imageCacheDir();
  const manifest = readManifest(cacheDir);
  fs.mkdirSync(mountRoot, { recursive: true, mode: 0o755 });
  const results: MountResult[] = [];
  const errors: ImageError[] = [];
  for (const name of Object.keys(manifest.images)) {
    let image: string;
    try {
      image = fs.realpathSync(verifyImage(name, { cacheDir, manifest }));
    } catch (e) {
      if (e instanceof ImageError) { errors.push(e); continue; }
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
    throw new ImageError(errors.map((e) => e.image).join(","), `are broken:\n  ${errors.map((e) => e.message).join("\n  ")}\n`,
      rebuildCommand(errors.map((e) => e.image).join(","), cacheDir));
  }
  return results;
}

/**
 * As root: loop-mounts every image read-only at <mountRoot>/<name>.
 * Idempotent: an image already mounted there is left alone; a mount of an
 * older image file is detached lazily (running sandboxes keep their view) and
 * replaced.
 */
export function mountKernel(mountRoot = defaultMountRoot()): MountResult[] {
  if (!isRoot()) throw new Error("mountKernel needs root (loop mounts); unprivileged users use mountFuse()");
  return mountAll(mountRoot, (_name, image, dir) => {
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

/** Lazily unmounts the kernel squashfs mounts under mountRoot (root only). */
export function unmountKernel(mountRoot = defaultMountRoot()): string[] {
  return unmountWhere(mountRoot, (m) => m.fsType === "squashfs", (dir) => run("umount", ["-l", dir]));
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
    } catch { /* missing: same as not enabled */ }
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
export function mountFuse(mountRoot = defaultMountRoot()): MountResult[] {
  const problem = fuseProblem();
  if (problem) throw new Error(`mountFuse: ${problem}`);
  return mountAll(mountRoot, (_name, image, dir) => {
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
  return unmountWhere(mountRoot, (m) => m.fsType === `fuse.${FUSE_SUBTYPE}`, (dir) => run("fusermount3", ["-u", "-z", dir]));
}

function unmountWhere(mountRoot: string, match: (m: MountEntry) => boolean, unmount: (dir: string) => void): string[] {
  const root = path.resolve(mountRoot);
  const dirs = [...new Set(mountTable().filter((m) => path.dirname(m.mountPoint) === root && match(m)).map((m) => m.mountPoint))];
  for (const dir of dirs) unmount(dir);
  return dirs;
}

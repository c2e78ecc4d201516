// npm run images -- [LANG|IMAGE|all ...] [--cache DIR] [--force] [--comp zstd|lz4]
//
// Builds the images a set of languages needs (with the images under them),
// one at a time under the cache's lock, with a progress line; checks each
// fresh layer's languages (rootfs/check.ts) before it enters the manifest, so
// a broken package never reaches a worker. Without names: the RUSE_LANGUAGES
// set (default: the eight first languages), as `npm start` does; the tests
// build `all`. The worker runs this same command to build an image on demand.

import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { imageChoice } from "../core/config.js";
import { lockCache, sweepCache } from "./cache.js";
import { checkLanguage } from "./check.js";
import { chrootRunner } from "./chroot.js";
import { buildImage, cannotBuild, indexFile, mb, secs, type Context } from "./build.js";
import { getLanguage, languageEnv, languages } from "./languages.js";
import {
  buildCacheDir,
  imageFileName,
  readManifest,
  verifyImage,
  writeManifest,
  type ImageRecord,
  type Manifest,
} from "./manifest.js";
import { BASE_IMAGE, currentBuildInputs, imageHashes, imageSpecs, imagesFor, SUITE, type ImageSpec } from "./recipe.js";

const isRoot = process.getuid?.() === 0;
/** Suffix of an image that failed its check (and of its record, + ".json"), kept for a recheck. */
const REJECTED = ".rejected";
const tty = process.stdout.isTTY;

function die(msg: string): never {
  if (tty) process.stdout.write("\n");
  process.stderr.write(`images: ${msg}\n`);
  process.exit(1);
}

/** The images `names` (languages, else images, or "all") need, with the images under them. */
export function wantedImages(names: readonly string[], specs: readonly ImageSpec[]): Set<string> {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const wanted = new Set<string>([BASE_IMAGE]);
  const add = (image: string) => {
    for (let s = byName.get(image); s && !wanted.has(s.name); s = s.parent ? byName.get(s.parent) : undefined)
      wanted.add(s.name);
  };
  for (const n of names) {
    if (n === "all") for (const s of specs) wanted.add(s.name);
    else if (getLanguage(n))
      for (const image of imagesFor(n)) add(image); // "java": the language, with its pack
    else if (byName.has(n)) add(n);
    else throw new Error(`unknown language or image "${n}" (languages: ${languages.map((l) => l.id).join(", ")})`);
  }
  return wanted;
}

/** The build's progress: a bar redrawn in place on a terminal, plain lines elsewhere (logs, CI). */
function progress(total: number) {
  let done = 0;
  let status = "";
  const t0 = performance.now();
  const bar = () => {
    const width = 24;
    const fill = Math.round((done / total) * width);
    return `[${"#".repeat(fill)}${"-".repeat(width - fill)}] ${done}/${total} images, ${secs(t0)} s  ${status}`;
  };
  const draw = () => tty && process.stdout.write(`\r\x1b[K${bar()}`);
  return {
    log(msg: string) {
      if (tty) process.stdout.write(`\r\x1b[K${msg}\n`);
      else process.stdout.write(`${msg}\n`);
      draw();
    },
    step(what: string) {
      status = what;
      if (tty) draw();
      else process.stdout.write(`${bar()}\n`);
    },
    advance() {
      done++;
      draw();
    },
    end() {
      if (tty) process.stdout.write("\n");
    },
  };
}

/** As root: the examples of each language `spec` serves, in a chroot of the composed images. */
async function checkFresh(spec: ImageSpec, ctx: Context, log: (m: string) => void): Promise<string[]> {
  const ids = Object.keys(spec.versionCommands);
  if (!isRoot) {
    if (ids.length) log(`[${spec.name}]   check of ${ids.join(", ")} left to the worker (needs root here)`);
    return [];
  }
  const stack: string[] = [];
  for (let n: string | null = spec.name; n !== null; n = ctx.manifest.images[n]!.parent)
    stack.push(path.join(ctx.cacheDir, ctx.manifest.images[n]!.file));
  const problems: string[] = [];
  for (const id of ids) {
    const lang = getLanguage(id)!;
    const t = performance.now();
    const found = await checkLanguage(lang, chrootRunner(stack, languageEnv(lang)));
    problems.push(...found.map((p) => `${id}: ${p}`));
    log(`[${spec.name}]   check of ${id}: ${found.length ? "FAILED" : "passed"} in ${secs(t)} s`);
  }
  return problems;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      cache: { type: "string" },
      comp: { type: "string", default: "zstd" },
      force: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      "usage: npm run images -- [LANG|IMAGE|all ...] [--cache DIR] [--force] [--comp zstd|lz4]\n" +
        "Without names: $RUSE_LANGUAGES (default bash,c,cpp,python,javascript,java,go,rust).\n" +
        `cache: --cache, else $RUSE_IMAGE_CACHE, else ${buildCacheDir()}\n`,
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
  let wanted: Set<string>;
  try {
    wanted = wantedImages(positionals.length ? positionals : imageChoice().languages, specs);
  } catch (e) {
    die((e as Error).message);
  }

  fs.mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
  try {
    await lockCache(cacheDir, (pid) => process.stdout.write(`images: waiting for the build of pid ${pid}\n`));
  } catch (e) {
    die((e as Error).message);
  }
  let manifest: Manifest;
  try {
    manifest = readManifest(cacheDir);
  } catch {
    manifest = { format: 1, suite: SUITE, images: {} };
  }
  const todo = specs.filter((s) => wanted.has(s.name));
  const bar = progress(todo.length);
  const ctx: Context = { cacheDir, comp: values.comp!, hashes, mirrors: inputs.mirrors, manifest, log: bar.log };
  sweepCache(ctx.cacheDir, ctx.manifest, hashes);

  const summary: string[] = [];
  let checked = false;
  const failed: string[] = [];
  for (const spec of todo) {
    if (spec.parent && !manifest.images[spec.parent]) {
      failed.push(`image "${spec.name}" not built: the image under it, "${spec.parent}", is not`);
      bar.advance();
      continue;
    }
    const old = manifest.images[spec.name];
    let fresh = !values.force && old?.hash === hashes[spec.name];
    if (fresh) {
      try {
        verifyImage(spec.name, { cacheDir, manifest });
        if (!fs.existsSync(indexFile(ctx, spec.name))) throw new Error("index missing");
      } catch (e) {
        bar.log(`[${spec.name}] cached image unusable (${(e as Error).message.split(";")[0]}): rebuilding`);
        fresh = false;
      }
    }
    if (fresh) {
      summary.push(`${spec.name.padEnd(12)} cached  ${mb(old!.sizeBytes).padStart(10)}  ${old!.version}`);
      bar.advance();
      continue;
    }
    if (!checked) {
      const why = cannotBuild();
      if (why) die(why);
      checked = true;
    }
    try {
      // An image that failed its check is kept aside: the examples are not part of its key, so once they
      // (or the compile and run commands) are fixed, the same image is checked again rather than rebuilt.
      const held = path.join(cacheDir, `${imageFileName(spec.name, hashes[spec.name]!)}${REJECTED}`);
      let rec: ImageRecord;
      if (!values.force && fs.existsSync(`${held}.json`)) {
        rec = JSON.parse(fs.readFileSync(`${held}.json`, "utf8")) as ImageRecord;
        fs.renameSync(held, path.join(cacheDir, rec.file));
        bar.log(`[${spec.name}] checking again the image that failed its check before`);
      } else {
        bar.step(`building ${spec.name}`);
        rec = buildImage(ctx, spec);
      }
      manifest.images[spec.name] = rec;
      const problems = await checkFresh(spec, ctx, bar.log);
      if (problems.length) {
        // Not installed; the other images still get built (but those over this one).
        delete manifest.images[spec.name];
        fs.renameSync(path.join(cacheDir, rec.file), held);
        fs.writeFileSync(`${held}.json`, JSON.stringify(rec));
        const why = `image "${spec.name}" failed its check, not installed:\n    ${problems.join("\n    ")}`;
        bar.log(why);
        failed.push(why);
        bar.advance();
        continue;
      }
      fs.rmSync(`${held}.json`, { force: true });
      writeManifest(cacheDir, manifest);
      sweepCache(ctx.cacheDir, ctx.manifest, hashes);
      bar.log(
        `[${spec.name}] built ${rec.file}: ${mb(rec.sizeBytes)} in ${rec.buildSeconds} s; ` +
          Object.entries(rec.languages)
            .map(([id, v]) => `${id} ${v.version}`)
            .join(", "),
      );
      summary.push(
        `${spec.name.padEnd(12)} built   ${mb(rec.sizeBytes).padStart(10)}  ${rec.version}  (${rec.buildSeconds} s)`,
      );
    } catch (e) {
      delete manifest.images[spec.name];
      failed.push(`image "${spec.name}" failed: ${(e as Error).message}`);
    }
    bar.advance();
  }
  bar.end();
  process.stdout.write(`images in ${cacheDir}:\n  ${summary.join("\n  ")}\ntotal ${secs(t0)} s\n`);
  if (failed.length) die(failed.join("\n"));
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) await main();

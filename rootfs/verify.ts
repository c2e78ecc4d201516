// Smoke test of the built images, as root:
//   npx tsx rootfs/verify.ts [language ...] [--deep]
// For each built language (or those named): the build check (rootfs/check.ts:
// hello world, a+b, a compile error, a runtime error) in a chroot of its
// composed images as uid 1000, and what its packs promise. --deep also checks
// each image's sha256.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { checkLanguage } from "./check.js";
import { chrootRunner, runInImages } from "./chroot.js";
import { languageEnv, languages } from "./languages.js";
import { imageCacheDir, readManifest, verifyImage } from "./manifest.js";
import { imagesFor } from "./recipe.js";

/** What a language's packs promise beyond its examples: each must exit 0. */
const packs: Record<string, { files: Record<string, string>; argv: string[] }> = {
  python: {
    files: {
      "test_main.py": "import numpy, ssl, sqlite3\n\ndef test_answer():\n    assert int(numpy.arange(7).sum()) == 21\n",
    },
    argv: ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_main.py"],
  },
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const deep = args.includes("--deep");
  const ids = args.filter((a) => !a.startsWith("--"));
  const cacheDir = imageCacheDir();
  const manifest = readManifest(cacheDir);
  if (deep) for (const name of Object.keys(manifest.images)) verifyImage(name, { cacheDir, manifest, deep: true });
  let failed = 0;
  for (const lang of languages) {
    const images = imagesFor(lang.id);
    if (ids.length ? !ids.includes(lang.id) : !images.every((n) => manifest.images[n])) continue;
    const t0 = performance.now();
    let problems: string[];
    try {
      const stack = images.map((n) => verifyImage(n, { cacheDir, manifest }));
      problems = await checkLanguage(lang, chrootRunner(stack, languageEnv(lang)));
      const pack = packs[lang.id];
      if (pack) {
        const r = runInImages(stack, pack.argv, { files: pack.files, env: languageEnv(lang) });
        if (r.status !== 0) problems.push(`pack check: exit ${r.status}: ${r.stdout}${r.stderr}`);
      }
    } catch (e) {
      problems = [(e as Error).message];
    }
    if (problems.length) failed++;
    const ms = Math.round(performance.now() - t0);
    process.stdout.write(
      `${problems.length ? "FAIL" : "ok  "} ${lang.id.padEnd(11)} ${problems.length ? problems.join("; ") : `${ms} ms`}\n`,
    );
  }
  process.exit(failed ? 1 : 0);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();

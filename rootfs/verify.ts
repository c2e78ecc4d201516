// Smoke test of the built images, as root:
//   npx tsx rootfs/verify.ts [language ...] [--deep]
// For each language: compose its images (overlay lowerdir=LAYER:BASE, as the
// launcher will), write a sample program to /box, compile and run it as uid
// 1000, and check its output.  --deep also checks each image's sha256.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { runInImages, shq } from "./chroot.js";
import { languages, languageEnv, layerName, type Language } from "./languages.js";
import { imageCacheDir, readManifest, verifyImage } from "./manifest.js";
import { BASE_IMAGE } from "./recipe.js";

/** A program per language that prints exactly "hello ruse 42\n" (reads nothing). */
export const samples: Record<string, string> = {
  bash: 'x=$((6*7)); echo "hello ruse $x"\n',
  c: '#include <stdio.h>\nint main(void) { printf("hello ruse %d\\n", 6 * 7); return 0; }\n',
  cpp: '#include <iostream>\nint main() { std::cout << "hello ruse " << 6 * 7 << std::endl; }\n',
  python: 'print("hello ruse", 6 * 7)\n',
  javascript: 'console.log("hello ruse", 6 * 7);\n',
  java: 'public class Main { public static void main(String[] a) { System.out.println("hello ruse " + 6 * 7); } }\n',
  go: 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello ruse", 6*7) }\n',
  rust: 'fn main() { println!("hello ruse {}", 6 * 7); }\n',
};

/** Extra checks of what the catalogue promises: must exit 0. */
const extras: Record<string, { files: Record<string, string>; argv: string[] }> = {
  python: {
    files: { "test_main.py": "import ssl, sqlite3\n\ndef test_answer():\n    assert 6 * 7 == 42\n" },
    argv: ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_main.py"],
  },
};

export interface VerifyResult {
  id: string;
  ok: boolean;
  compileMs?: number;
  runMs: number;
  detail: string;
}

export function verifyLanguage(lang: Language, cacheDir = imageCacheDir()): VerifyResult {
  const manifest = readManifest(cacheDir);
  const layer = layerName(lang);
  const stack = (layer ? [layer, BASE_IMAGE] : [BASE_IMAGE]).map((n) => verifyImage(n, { cacheDir, manifest }));
  const files = { [lang.sourceFile]: samples[lang.id] ?? "" };
  const env = languageEnv(lang);
  const want = "hello ruse 42\n";
  let compileMs: number | undefined;
  if (lang.compile) {
    // Compile and run in one sandbox: /box is a fresh tmpfs per call.
    const c = runInImages(
      stack,
      ["/bin/sh", "-c", `${lang.compile.map(shq).join(" ")} && ${lang.run.map(shq).join(" ")}`],
      { files, env },
    );
    compileMs = c.ms;
    if (c.status !== 0 || c.stdout !== want)
      return {
        id: lang.id,
        ok: false,
        compileMs,
        runMs: 0,
        detail: `compile+run: exit ${c.status}: ${c.stdout}${c.stderr}`,
      };
  }
  const r = runInImages(stack, lang.compile ? ["/bin/true"] : lang.run, { files, env });
  if (r.status !== 0 || (!lang.compile && r.stdout !== want))
    return { id: lang.id, ok: false, compileMs, runMs: r.ms, detail: `run: exit ${r.status}: ${r.stdout}${r.stderr}` };
  const extra = extras[lang.id];
  if (extra) {
    const e = runInImages(stack, extra.argv, { files: extra.files, env });
    if (e.status !== 0)
      return {
        id: lang.id,
        ok: false,
        compileMs,
        runMs: r.ms,
        detail: `extra check: exit ${e.status}: ${e.stdout}${e.stderr}`,
      };
  }
  return { id: lang.id, ok: true, compileMs, runMs: r.ms, detail: "ok" };
}

function main(): void {
  const args = process.argv.slice(2);
  const deep = args.includes("--deep");
  const ids = args.filter((a) => !a.startsWith("--"));
  const cacheDir = imageCacheDir();
  const manifest = readManifest(cacheDir);
  if (deep) for (const name of Object.keys(manifest.images)) verifyImage(name, { cacheDir, manifest, deep: true });
  let failed = 0;
  for (const lang of languages) {
    if (ids.length ? !ids.includes(lang.id) : !manifest.images[layerName(lang) ?? BASE_IMAGE]) continue;
    let r: VerifyResult;
    try {
      r = verifyLanguage(lang, cacheDir);
    } catch (e) {
      r = { id: lang.id, ok: false, runMs: 0, detail: (e as Error).message };
    }
    if (!r.ok) failed++;
    const times = `${r.compileMs !== undefined ? `compile+run ${Math.round(r.compileMs)} ms, ` : ""}sandbox start ${Math.round(r.runMs)} ms`;
    process.stdout.write(`${r.ok ? "ok  " : "FAIL"} ${lang.id.padEnd(11)} ${r.ok ? times : r.detail}\n`);
  }
  process.exit(failed ? 1 : 0);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();

// Hello world per language: the catalogue's `examples.hello`, compiled once
// (compiled languages), then only its run step timed, in ruse (`sb.run`, as
// the worker runs it: the language's layers, environment, limits and run
// argv, the compile's files shown in /box) against the same program run bare
// in a chroot of the same composed images: a read-only overlay of the same
// mounted layer directories, so the very same binaries and libraries run on
// both sides and the ratio is the sandbox's own cost (namespaces, cgroup,
// seccomp, copying files in and output out), not a difference of toolchains.
// Ruse twice, as in bench/sandbox.ts: after a 20 ms pause (its sandbox
// prepared, as a playground's runs come) and right after that run (its
// sandbox still being prepared, as a problem's tests come).
// The bare side is one `unshare -rm --pid --fork` per language (the bench
// runs unprivileged; the pid namespace lets it mount /proc), in which the
// host's hyperfine (bound into the chroot's /tmp) runs in the chroot, in /box
// with the language's environment, and times the run argv with -N (no shell).
// BENCH_LANGUAGES (comma-separated ids) picks the languages; default: every
// language whose images are built and mounted.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { builtinLimits } from "../core/limits.js";
import { getLanguage, languageEnv, languages, type Language } from "../rootfs/languages.js";
import { languageReady, layersFor } from "../rootfs/manifest.js";
import { Sandbox } from "../worker/sandbox/sandbox.js";
import { prepare } from "../worker/execute.js";
import { runArgv, sandboxLimits } from "../worker/stage.js";
import { compare } from "./stats.js";

const HELLO = "hello, world\n";
const RUN_MB = builtinLimits.run.default.memoryMb; // the default run memory: -Xmx256m for a JVM

/** One argument for a POSIX shell, and for hyperfine -N (which splits its command the same way). */
const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** Why `id` cannot be measured here, or null. */
function unready(id: string): string | null {
  if (!getLanguage(id)) return "not in the catalogue";
  if (!languageReady(id)) return "images not built";
  if (!layersFor(id).every((d) => existsSync(join(d, "usr")))) return "images not mounted";
  return null;
}

function exec(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    c.stdout.on("data", (b: Buffer) => out.push(b));
    c.stderr.on("data", (b: Buffer) => err.push(b));
    c.on("error", reject);
    c.on("close", (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
  });
}

/** The bare run's median in ms (hyperfine over `runs` runs), or the reason it failed. */
async function bare(lang: Language, runs: number): Promise<number | string> {
  const dir = mkdtempSync(join(tmpdir(), "ruse-bench-bare-"));
  try {
    const root = join(dir, "root");
    mkdirSync(root);
    writeFileSync(join(dir, "src"), lang.examples.hello);
    const env = Object.entries(languageEnv(lang)).map(([k, v]) => `${k}=${v}`);
    const inRoot = (argv: readonly string[]) => ["chroot", root, "/usr/bin/env", "-i", "-C", "/box", ...env, ...argv];
    const cmd = (argv: readonly string[]) => inRoot(argv).map(q).join(" ");
    const json = join(dir, "bare.json");
    const lower = layersFor(lang.id);
    const script = [
      "set -eu",
      lower.length > 1 // an overlay needs two lower dirs at least
        ? `mount -t overlay overlay -o ro,lowerdir=${lower.join(":")} ${q(root)}`
        : `mount --bind ${q(lower[0]!)} ${q(root)}; mount -o remount,bind,ro ${q(root)}`,
      `for d in box tmp; do mount -t tmpfs tmpfs ${q(root)}/$d; done`,
      // Not 1777: a sticky dir would refuse O_CREAT opens of the bound nodes (owned by an unmapped root).
      `mount -t tmpfs -o mode=755 tmpfs ${q(root)}/dev`,
      `for n in null zero urandom; do : >${q(root)}/dev/$n; mount --bind /dev/$n ${q(root)}/dev/$n; done`,
      `mount -t proc proc ${q(root)}/proc`,
      `cp ${q(join(dir, "src"))} ${q(`${root}/box/${lang.sourceFile}`)}`,
      ...(lang.compile ? [`${cmd(lang.compile)} >&2`] : []),
      cmd(runArgv(lang, RUN_MB, [])), // once, its output checked
      `: >${q(root)}/tmp/hyperfine; mount --bind "$(command -v hyperfine)" ${q(root)}/tmp/hyperfine`,
      `${inRoot(["/tmp/hyperfine", "-N", "--warmup", "3", "--runs", String(runs), "--export-json", "/tmp/bare.json"])
        .map(q)
        .join(" ")} ${q(runArgv(lang, RUN_MB, []).map(q).join(" "))} >/dev/null`,
      `cat ${q(root)}/tmp/bare.json >${q(json)}`,
    ].join("\n");
    const r = await exec(["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "bash", "-c", script]);
    if (r.code !== 0) return `bare side failed (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`;
    if (r.stdout !== HELLO) return `bare side printed ${JSON.stringify(r.stdout.slice(0, 200))}`;
    return (JSON.parse(readFileSync(json, "utf8")) as { results: { median: number }[] }).results[0]!.median * 1000;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The ruse run's medians in ms over `rounds` runs, after one compile in the sandbox (worker/execute.ts's prepare). */
async function ruse(lang: Language, rounds: number): Promise<{ ruse: number; b2b: number }> {
  const layers = layersFor(lang.id);
  // A sandbox of its own holding this image built, as the worker's holds each of the catalogue's.
  const sb = await Sandbox.create({ concurrency: 1, images: [layers] });
  const source = { path: lang.sourceFile, content: Buffer.from(lang.examples.hello) };
  const cleanup: string[] = [];
  try {
    // Compiled once, as the worker does for a run's tests: the artifacts shown read-only in each run's /box.
    const p = await prepare(sb, lang.id, [source], builtinLimits.compile.default, cleanup);
    if ("failed" in p) throw new Error(`ruse: ${lang.id} compile: ${p.verdict} ${p.message ?? p.failed.stderr}`);
    const spec = {
      layers: p.layers,
      boxLower: p.boxLower,
      argv: runArgv(lang, RUN_MB, []),
      env: p.env,
      files: p.files,
      limits: sandboxLimits(builtinLimits.run.default, lang, false),
    };
    const run = async () => {
      const r = await sb.run(spec);
      const out = r.stdout.toString();
      if (r.verdict !== "ok" || out !== HELLO)
        throw new Error(`ruse: ${lang.id}: ${r.verdict} ${JSON.stringify(out)} ${r.error ?? r.stderr}`);
    };
    const pause = () => new Promise((resolve) => setTimeout(resolve, 20));
    const t = await compare(
      [
        { name: "pause", run: pause },
        { name: "ruse", run },
        { name: "back to back", run },
      ],
      rounds,
      3,
    );
    return { ruse: t[1]!.median, b2b: t[2]!.median };
  } finally {
    await sb.close();
    for (const d of cleanup) rmSync(d, { recursive: true, force: true });
  }
}

export async function benchLanguages(
  rounds: number,
  ids = process.env.BENCH_LANGUAGES?.split(",").map((s) => s.trim()) ?? languages.map((l) => l.id),
): Promise<void> {
  const ready = ids.filter((id) => !unready(id));
  const skipped = ids.filter((id) => unready(id)).map((id) => `${id} (${unready(id)})`);
  if (skipped.length) console.log(`# languages: skipped ${skipped.join(", ")}`);
  console.log(`# languages: ${ready.join(", ") || "none ready"} (bare: hyperfine -N, chroot of the same overlay)`);
  if (!ready.length) return;
  const rows: { id: string; ruse: number; b2b: number; bare: number }[] = [];
  for (const id of ready) {
    const lang = getLanguage(id)!;
    const b = await bare(lang, rounds);
    if (typeof b === "string") console.log(`# languages: skipped ${id}: ${b}`);
    else rows.push({ id, ...(await ruse(lang, rounds)), bare: b });
  }
  console.log(`\n## languages: hello world, run step only (${rounds} runs each)`);
  const cols = ["ruse ms", "back to back", "bare ms", "x bare", "b2b x bare"];
  console.log(`${"language".padEnd(14)} ${cols.map((c) => c.padStart(12)).join(" ")}`);
  for (const r of rows) {
    const cells = [r.ruse, r.b2b, r.bare, r.ruse / r.bare, r.b2b / r.bare].map((v) => v.toFixed(2).padStart(12));
    console.log(`${r.id.padEnd(14)} ${cells.join(" ")}`);
  }
}

// One run of the service: compile (if the language compiles) in one sandbox,
// then run the artifacts in another, once or once per test.
import { layersFor } from "../rootfs/images.js";
import { getLanguage, languageEnv, type Language } from "../rootfs/languages.js";
import type { Limits } from "../api/config.js";
import type { RunJob, RunResult, Stage } from "../api/schemas.js";
import type { Sandbox, SandboxLimits, SandboxResult } from "./sandbox/sandbox.js";
import type { SandboxFile } from "./sandbox/files-stream.js";
import { sameLines } from "./judge.js";

const MiB = 1 << 20;

/** The API's limits, with the language's adjustments, as the sandbox takes them. */
export function sandboxLimits(l: Limits, lang: Language, compile: boolean): SandboxLimits {
  const memoryBytes = (l.memoryMb + (lang.limits?.memoryMbExtra ?? 0)) * MiB;
  const minMs = compile ? (lang.limits?.compileSeconds ?? 0) * 1000 : 0;
  return {
    cpuMs: Math.max(l.cpuMs, minMs),
    wallMs: Math.max(l.wallMs, minMs),
    memoryBytes,
    processes: Math.max(l.processes, lang.limits?.processes ?? 0),
    outputBytes: l.outputKb * 1024,
    scratchBytes: l.scratchMb * MiB,
    fileSizeBytes: l.scratchMb * MiB, // no file can outgrow the scratch space anyway
    openFiles: 1024,
    stackBytes: Math.min(memoryBytes, 1024 * MiB), // judges promise a stack as large as memory
  };
}

export function runArgv(lang: Language, memoryMb: number, args: readonly string[]): string[] {
  const [cmd, ...rest] = lang.run;
  const heap = lang.runMemoryArg ? [lang.runMemoryArg.replace("{mb}", String(memoryMb))] : [];
  return [cmd!, ...heap, ...rest, ...args];
}

function stage(r: SandboxResult, verdict: Stage["verdict"] = r.verdict, message?: string): Stage {
  return {
    verdict,
    exitCode: r.exitCode,
    signal: r.signal,
    stdout: r.stdout.toString("utf8"),
    stderr: r.stderr.toString("utf8"),
    stdoutTruncated: r.stdoutTruncated,
    stderrTruncated: r.stderrTruncated,
    usage: { cpuMs: r.usage.cpuMs, wallMs: r.usage.wallMs, memoryKb: r.usage.memoryKb },
    ...(message || r.error ? { message: message ?? r.error } : {}),
  };
}

export type Executed = Pick<RunResult, "verdict" | "compile" | "run" | "tests" | "usage" | "language" | "message">;

export async function executeRun(job: RunJob, sb: Sandbox): Promise<Executed> {
  const lang = getLanguage(job.language);
  if (!lang) throw new Error(`unknown language ${job.language}`);
  const layers = layersFor(lang.id);
  const env = languageEnv(lang);
  let files: SandboxFile[] = job.files.map((f) => ({ path: f.path, content: Buffer.from(f.contentBase64, "base64") }));

  let compile: Stage | null = null;
  if (lang.compile) {
    const limits = sandboxLimits(job.compileLimits, lang, true);
    const c = await sb.run({ layers, argv: [...lang.compile], env, files, collect: ["."], collectMaxBytes: limits.scratchBytes, limits });
    if (c.verdict === "internal_error") return { language: lang.id, verdict: "internal_error", compile: stage(c), run: null, message: c.error };
    if (c.verdict !== "ok") return { language: lang.id, verdict: "compile_error", compile: stage(c, "compile_error"), run: null };
    compile = stage(c);
    // The artifacts (and the sources) go on to the run, as regular files only.
    files = c.collected.flatMap((f) => ("content" in f ? [{ path: f.path, content: f.content, executable: true }] : []));
  }

  const limits = sandboxLimits(job.limits, lang, false);
  const argv = runArgv(lang, job.limits.memoryMb, job.args);
  const runOnce = (stdin: string) => sb.run({ layers, argv, env, files, stdin, limits, network: job.network });

  if (!job.tests) {
    const r = await runOnce(job.stdin);
    return { language: lang.id, verdict: r.verdict, compile, run: stage(r), ...(r.error ? { message: r.error } : {}) };
  }
  const tests: Stage[] = [];
  for (const t of job.tests) {
    const r = await runOnce(t.stdin);
    const judged = r.verdict !== "ok" ? r.verdict : sameLines(r.stdout.toString("utf8"), t.expectedOutput) ? "accepted" : "wrong_answer";
    tests.push(stage(r, judged));
  }
  const verdict = tests.find((t) => t.verdict !== "accepted")?.verdict ?? "accepted";
  const message = tests.find((t) => t.verdict === "internal_error")?.message;
  const max = (k: "cpuMs" | "wallMs" | "memoryKb") => Math.max(...tests.map((t) => t.usage[k]));
  return { language: lang.id, verdict, compile, run: null, tests, ...(message ? { message } : {}), usage: { cpuMs: max("cpuMs"), wallMs: max("wallMs"), memoryKb: max("memoryKb") } };
}

// One sandbox run of a job, in the service's terms: a language's image
// layers, the API's limits as the sandbox takes them, the program's argv, and
// what the sandbox answered as a Stage of the result.
import { resolveLayers } from "../rootfs/manifest.js";
import type { Language } from "../rootfs/languages.js";
import type { Limits } from "../core/limits.js";
import { emptyStage, type Stage } from "../core/schemas.js";
import type { SandboxLimits, SandboxResult } from "./sandbox/sandbox.js";

const MiB = 1 << 20;

/**
 * A language's image directories (the machine's, or those its worker built
 * on demand: worker/images.ts made them usable first), checked against the
 * image manifest once per worker, not read again for every run.
 */
const imageLayers = new Map<string, string[]>();
export function layersOf(languageId: string): string[] {
  const known = imageLayers.get(languageId);
  if (known) return known;
  const l = resolveLayers(languageId).layers;
  imageLayers.set(languageId, l);
  return l;
}

/** The API's limits, with the language's adjustments, as the sandbox takes them. */
export function sandboxLimits(l: Limits, lang: Language, compile: boolean): SandboxLimits {
  const memoryBytes = (l.memoryMb + (lang.limits?.memoryMbExtra ?? 0)) * MiB;
  const minMs = compile ? (lang.limits?.compileSeconds ?? 0) * 1000 : 0;
  // A runtime's own start-up (a JVM loading Clojure) is not the program's time: runs get it on top.
  const startMs = compile ? 0 : (lang.limits?.startupMs ?? 0);
  return {
    cpuMs: Math.max(l.cpuMs, minMs) + startMs,
    wallMs: Math.max(l.wallMs, minMs) + startMs,
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

/** A sandbox result as a stage of the run, each stream kept up to `keep` bytes. */
export function stage(
  r: SandboxResult,
  verdict: Stage["verdict"] = r.verdict,
  message?: string,
  keep = Infinity,
): Stage {
  const cut = (b: Buffer) => (b.length > keep ? b.subarray(0, keep) : b);
  return {
    verdict,
    exitCode: r.exitCode,
    signal: r.signal,
    stdout: cut(r.stdout).toString("utf8"),
    stderr: cut(r.stderr).toString("utf8"),
    stdoutTruncated: r.stdoutTruncated || r.stdout.length > keep,
    stderrTruncated: r.stderrTruncated || r.stderr.length > keep,
    usage: { cpuMs: r.usage.cpuMs, wallMs: r.usage.wallMs, memoryKb: r.usage.memoryKb },
    ...(message || r.error ? { message: message ?? r.error } : {}),
  };
}

/** A stage that did not run (a test after the first failure, with stopOnFirstFailure). */
export const SKIPPED: Stage = emptyStage("skipped");

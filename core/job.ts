// A validated request becomes the job the worker runs: its files decoded
// to one form (base64 under their paths), its limits resolved against the
// server's policy. Every API that queues runs goes through here.
import { getLanguage } from "../rootfs/languages.js";
import type { Config } from "./config.js";
import { resolveLimits } from "./limits.js";
import type { Problem } from "./problems.js";
import type { RunJob, RunRequest } from "./schemas.js";

type Sources = {
  language: string;
  source?: string;
  files?: { path: string; content: string; encoding: "utf8" | "base64" }[];
};

const base64 = (text: string): string => Buffer.from(text).toString("base64");

/** The request's files, base64, or its source under the language's default name. */
function jobFiles(r: Sources): RunJob["files"] {
  if (r.files)
    return r.files.map((f) => ({
      path: f.path,
      contentBase64: f.encoding === "base64" ? f.content : base64(f.content),
    }));
  if (r.source !== undefined) return [{ path: getLanguage(r.language)!.sourceFile, contentBase64: base64(r.source) }];
  return [];
}

/** The job of a run request; with `problem`, the stored problem it names (its tests by hash, its judging and limits). */
/** A checker's or an interactor's program as the job carries it. */
export const jobProgram = (p: Sources): { language: string; files: RunJob["files"] } => ({
  language: p.language,
  files: jobFiles(p),
});

export function toJob(r: RunRequest, cfg: Config, problem?: Problem): RunJob {
  const judging = problem
    ? {
        problem: {
          id: problem.id,
          version: problem.version,
          tests: problem.tests.map((t) => ({ input: t.input, ...(t.answer ? { answer: t.answer } : {}) })),
        },
        compare: problem.compare,
        checker: problem.checker,
        interactor: problem.interactor,
      }
    : {
        tests: r.tests,
        compare: r.compare ?? "lines",
        checker: r.checker ? jobProgram(r.checker) : undefined,
        interactor: r.interactor ? jobProgram(r.interactor) : undefined,
      };
  return {
    language: r.language,
    files: jobFiles(r),
    archive: r.archive ? { format: r.archive.format, contentBase64: r.archive.content } : undefined,
    stdin: r.stdin,
    args: r.args,
    // The request's own limits over the problem's defaults, both within the server's maximums.
    limits: resolveLimits(cfg.limits.run, { ...problem?.limits, ...r.limits }),
    compileLimits: resolveLimits(cfg.limits.compile, { ...problem?.compileLimits, ...r.compileLimits }),
    ...judging,
    stopOnFirstFailure: r.stopOnFirstFailure,
    command: r.command,
    collect: r.collect,
    network: r.network,
    callbackUrl: r.callbackUrl,
    createdAt: new Date().toISOString(),
  };
}

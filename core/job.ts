// A validated request becomes the job the worker runs: its files decoded
// to one form (base64 under their paths), its limits resolved against the
// server's policy. Every API that queues runs goes through here.
import { getLanguage } from "../rootfs/languages.js";
import type { Config } from "./config.js";
import { resolveLimits } from "./limits.js";
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

export function toJob(r: RunRequest, cfg: Config): RunJob {
  return {
    language: r.language,
    files: jobFiles(r),
    archive: r.archive ? { format: r.archive.format, contentBase64: r.archive.content } : undefined,
    stdin: r.stdin,
    args: r.args,
    limits: resolveLimits(cfg.limits.run, r.limits),
    compileLimits: resolveLimits(cfg.limits.compile, r.compileLimits),
    tests: r.tests,
    compare: r.compare,
    checker: r.checker ? { language: r.checker.language, files: jobFiles(r.checker) } : undefined,
    interactor: r.interactor ? { language: r.interactor.language, files: jobFiles(r.interactor) } : undefined,
    stopOnFirstFailure: r.stopOnFirstFailure,
    command: r.command,
    collect: r.collect,
    network: r.network,
    createdAt: new Date().toISOString(),
  };
}

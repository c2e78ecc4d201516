// The zod schemas at the service's boundaries, shared by the API (validation
// and OpenAPI) and the worker (the job it accepts, the result it writes).
import { z } from "@hono/zod-openapi";
import { languages } from "../rootfs/languages.js";
import { callbackRefusal } from "./callbacks.js";
import type { Config } from "./config.js";
import { argBounds, limitFields, type LimitPolicy, type Limits } from "./limits.js";
import { verdicts } from "./verdicts.js";

const languageIds = languages.map((l) => l.id) as [string, ...string[]];

const utf8Bytes = (s: string) => Buffer.byteLength(s, "utf8");

/**
 * A relative path under /box: no "..", no absolute path, no empty part; in
 * UTF-8 bytes as the kernel counts them, each part a name (NAME_MAX, 255)
 * and the whole within the launcher's MAX_PATH_LEN (1024, files.c).
 */
const safePath = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.startsWith("/") && p.split("/").every((c) => c !== "" && c !== "." && c !== ".."), {
    message: "must be a relative path without '.', '..' or empty parts",
  })
  .refine((p) => !/[\0\n]/.test(p), { message: "must not contain NUL or newline" })
  .refine((p) => utf8Bytes(p) <= 1024 && p.split("/").every((c) => utf8Bytes(c) <= 255), {
    message: "must be at most 1024 bytes (UTF-8), each part at most 255",
  });

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** A string the launcher takes as one argument: NUL-separated there, so none inside. */
const argString = (maxBytes: number) =>
  z
    .string()
    .refine((a) => !a.includes("\0"), { message: "must not contain NUL" })
    .refine((a) => utf8Bytes(a) <= maxBytes, { message: `must be at most ${maxBytes} bytes (UTF-8)` });

/** The program's arguments, bounded in UTF-8 bytes as the launcher counts them (core/limits.ts argBounds). */
const argsSchema = z
  .array(argString(argBounds.bytes))
  .max(argBounds.count)
  .refine((args) => args.reduce((n, a) => n + utf8Bytes(a), 0) <= argBounds.totalBytes, {
    message: `must be at most ${argBounds.totalBytes} bytes (UTF-8) in all`,
  });

export const fileSchema = z
  .object({
    path: safePath,
    content: z.string(),
    encoding: z.enum(["utf8", "base64"]).default("utf8"),
  })
  .strict()
  .refine((f) => f.encoding !== "base64" || (f.content.length % 4 === 0 && base64.test(f.content)), {
    message: "content is not valid base64",
    path: ["content"],
  });

function limitsSchema(p: LimitPolicy) {
  const shape = Object.fromEntries(limitFields.map((f) => [f, z.number().int().positive().max(p.max[f]).optional()]));
  return z.object(shape).strict() as unknown as z.ZodType<Partial<Limits>>;
}

/** expectedOutput may be left out where a checker or an interactor judges (a checker then gets an empty answer). */
export const testCaseSchema = z
  .object({ stdin: z.string().default(""), expectedOutput: z.string().optional() })
  .strict();

/** A problem's name in /v1/problems/{id}. */
export const problemIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, { message: "1 to 64 letters, digits, '-' or '_'" });

/** How a test's output is compared with expectedOutput (worker/judge.ts). */
export const compareSchema = z
  .union([
    z.enum(["lines", "exact", "tokens"]),
    z
      .object({
        mode: z.literal("float"),
        absError: z.number().min(0).default(1e-6),
        relError: z.number().min(0).default(1e-6),
      })
      .strict(),
  ])
  .openapi({
    description: "lines (default): ignore trailing spaces and blank lines; exact; tokens; or float tolerances",
  });
export type Compare = z.infer<typeof compareSchema>;

/** One file under the default name, or several: exactly one of the two. */
function oneOfSourceOrFiles(
  r: { source?: string; files?: { path: string }[]; archive?: unknown },
  ctx: z.RefinementCtx,
  at: (string | number)[] = [],
): void {
  const given = [r.source, r.files, r.archive].filter((x) => x !== undefined).length;
  if (given !== 1)
    ctx.addIssue({
      code: "custom",
      path: [...at, "source"],
      message: "give exactly one of source, files or (for a run) archive",
    });
  // A path may be neither another's duplicate nor one of its parent directories.
  const paths = new Set((r.files ?? []).map((f) => f.path));
  const seen = new Set<string>();
  for (const [i, f] of (r.files ?? []).entries()) {
    const parts = f.path.split("/");
    const parent = parts
      .slice(0, -1)
      .map((_, j) => parts.slice(0, j + 1).join("/"))
      .find((p) => paths.has(p));
    if (seen.has(f.path))
      ctx.addIssue({ code: "custom", path: [...at, "files", i, "path"], message: "duplicate path" });
    else if (parent)
      ctx.addIssue({
        code: "custom",
        path: [...at, "files", i, "path"],
        message: `"${parent}" is a file, not a directory`,
      });
    seen.add(f.path);
  }
}

/** A checker's or an interactor's program: a language and its source or files. */
function judgeProgram(cfg: Config) {
  return z
    .object({
      language: z.enum(languageIds),
      source: z.string().optional(),
      files: z.array(fileSchema).min(1).max(cfg.maxFiles).optional(),
    })
    .strict()
    .superRefine((c, ctx) => oneOfSourceOrFiles(c, ctx))
    .optional();
}

/** Tests, compare mode and a checker or an interactor, as a run or a problem gives them. */
type Judging = {
  tests?: { expectedOutput?: string }[];
  checker?: unknown;
  interactor?: unknown;
};

/** What a set of tests needs: answers unless a program judges, one judging program at most. */
function judgingRules(r: Judging, ctx: z.RefinementCtx): void {
  if (r.checker && !r.tests) ctx.addIssue({ code: "custom", path: ["checker"], message: "a checker needs tests" });
  if (r.interactor && !r.tests)
    ctx.addIssue({ code: "custom", path: ["interactor"], message: "an interactor needs tests" });
  if (r.interactor && r.checker)
    ctx.addIssue({ code: "custom", path: ["checker"], message: "give a checker or an interactor, not both" });
  if (!r.checker && !r.interactor)
    for (const [i, t] of (r.tests ?? []).entries())
      if (t.expectedOutput === undefined)
        ctx.addIssue({
          code: "custom",
          path: ["tests", i, "expectedOutput"],
          message: "needed: without a checker or an interactor the output is compared with it",
        });
}

/** PUT /v1/problems/{id}: a problem's tests, how they are judged, its default limits. */
export function problemRequestSchema(cfg: Config) {
  return z
    .object({
      tests: z.array(testCaseSchema).min(1).max(cfg.maxTests),
      compare: compareSchema.default("lines"),
      checker: judgeProgram(cfg),
      interactor: judgeProgram(cfg),
      limits: limitsSchema(cfg.limits.run)
        .optional()
        .openapi({ description: "a run's defaults; a run may set its own" }),
      compileLimits: limitsSchema(cfg.limits.compile).optional(),
    })
    .strict()
    .superRefine(judgingRules)
    .openapi("ProblemRequest");
}
export type ProblemRequest = z.infer<ReturnType<typeof problemRequestSchema>>;

/** A URL the server may call back (core/callbacks.ts), or a 400 naming the field and why not. */
export function callbackUrlSchema(cfg: Config) {
  return z
    .string()
    .max(2048)
    .optional()
    .superRefine((url, ctx) => {
      const why = url === undefined ? null : callbackRefusal(url, cfg.callbackAllow);
      if (why) ctx.addIssue({ code: "custom", message: why });
    });
}

/** What became of a callback: delivered (the receiver's status), or given up (the last try's error). */
export const callbackRecordSchema = z
  .object({
    delivered: z.boolean(),
    attempts: z.number().int(),
    status: z.number().int().optional(),
    error: z.string().optional(),
  })
  .openapi("Callback");

/** POST /v1/runs, with the server's maximums built in. */
export function runRequestSchema(cfg: Config) {
  return z
    .object({
      language: z.enum(languageIds).openapi({ description: "an id from GET /v1/languages" }),
      source: z.string().optional().openapi({ description: "one file under the language's default name" }),
      files: z.array(fileSchema).min(1).max(cfg.maxFiles).optional(),
      archive: z
        .object({
          format: z.enum(["tar.gz", "zip"]),
          content: z
            .string()
            .refine((c) => c.length % 4 === 0 && base64.test(c), { message: "content is not valid base64" }),
        })
        .strict()
        .optional()
        .openapi({
          description:
            "a whole project, unpacked inside the sandbox (never on the host) with caps on entries and bytes",
        }),
      stdin: z.string().default(""),
      args: argsSchema.default([]),
      limits: limitsSchema(cfg.limits.run).optional(),
      compileLimits: limitsSchema(cfg.limits.compile).optional(),
      tests: z.array(testCaseSchema).min(1).max(cfg.maxTests).optional(),
      problem: problemIdSchema
        .optional()
        .openapi({ description: "a stored problem (PUT /v1/problems/{id}): its tests, judging and limits" }),
      compare: compareSchema.optional().openapi({ description: "default lines" }),
      checker: judgeProgram(cfg).openapi({
        description:
          "testlib convention: argv input output answer; exit 0 accepted, 1 wrong answer, 2 presentation error. With files, the language's default source name (main.cpp, ...) is the one compiled",
      }),
      interactor: judgeProgram(cfg).openapi({
        description:
          "runs beside the program, its stdout piped to the program's stdin and back; argv input output; exit codes as a checker's",
      }),
      stopOnFirstFailure: z.boolean().default(false),
      command: argString(argBounds.bytes)
        .min(1)
        .optional()
        .openapi({ description: "a shell command run instead of the language's run command" }),
      collect: z.array(safePath).max(32).optional().openapi({
        description: "files (or * ? globs) under /box copied out after the run, base64 in the result's files",
      }),
      network: z
        .boolean()
        .default(false)
        .refine((v) => !v || cfg.allowNetwork, { message: "network is disabled on this server" }),
      callbackUrl: callbackUrlSchema(cfg).openapi({
        description: "POSTed the result once the run completes, signed (README: Callbacks)",
      }),
    })
    .strict()
    .superRefine((r, ctx) => {
      oneOfSourceOrFiles(r, ctx);
      judgingRules(r, ctx);
      if (r.problem)
        for (const f of ["tests", "compare", "checker", "interactor", "stdin"] as const)
          if (r[f] !== undefined && !(f === "stdin" && r.stdin === ""))
            ctx.addIssue({ code: "custom", path: [f], message: `the problem gives its own ${f}; leave it out` });
      if (r.collect && (r.tests || r.problem))
        ctx.addIssue({ code: "custom", path: ["collect"], message: "collect is for a single run, not tests" });
    })
    .openapi("RunRequest");
}
export type RunRequest = z.infer<ReturnType<typeof runRequestSchema>>;

const limitsResolved = z.object(
  Object.fromEntries(limitFields.map((f) => [f, z.number().int().positive()])),
) as unknown as z.ZodType<Limits>;

const jobFiles = z.array(z.object({ path: safePath, contentBase64: z.string() }));

/** What the API queues and the worker accepts: files decoded, limits resolved. */
export const runJobSchema = z.object({
  language: z.enum(languageIds),
  files: jobFiles,
  archive: z.object({ format: z.enum(["tar.gz", "zip"]), contentBase64: z.string() }).optional(),
  stdin: z.string(),
  args: z.array(z.string()),
  limits: limitsResolved,
  compileLimits: limitsResolved,
  tests: z.array(testCaseSchema).optional(),
  /** a stored problem's tests by hash (core/problems.ts), in place of tests */
  problem: z
    .object({
      id: z.string(),
      version: z.number().int(),
      tests: z.array(z.object({ input: z.string(), answer: z.string().optional() })),
    })
    .optional(),
  compare: compareSchema,
  checker: z.object({ language: z.enum(languageIds), files: jobFiles }).optional(),
  interactor: z.object({ language: z.enum(languageIds), files: jobFiles }).optional(),
  stopOnFirstFailure: z.boolean(),
  command: z.string().optional(),
  collect: z.array(z.string()).optional(),
  network: z.boolean(),
  callbackUrl: z.string().optional(),
  /** the batch the run is part of: its size and callback, for the worker that finishes its last run */
  batch: z.object({ id: z.string(), size: z.number().int(), callbackUrl: z.string().optional() }).optional(),
  createdAt: z.string(),
  /** a request waits for it (wait=true): its completion is announced (store.ts, DONE_CHANNEL) */
  notify: z.boolean().optional(),
  /** a streamed run: stdin from STREAM_IN_KEY, output to STREAM_OUT_CHANNEL as it comes (core/stream.ts) */
  stream: z.boolean().optional(),
});
export type RunJob = z.infer<typeof runJobSchema>;

export const usageSchema = z.object({ cpuMs: z.number(), wallMs: z.number(), memoryKb: z.number() });

export const stageSchema = z
  .object({
    verdict: z.enum(verdicts),
    exitCode: z.number().int().nullable(),
    signal: z.number().int().nullable(),
    stdout: z.string(),
    stderr: z.string(),
    stdoutTruncated: z.boolean(),
    stderrTruncated: z.boolean(),
    usage: usageSchema,
    message: z.string().optional(),
  })
  .openapi("Stage");
export type Stage = z.infer<typeof stageSchema>;

/** A stage that did not run: no output, no usage (a test skipped, a run that never started). */
export const emptyStage = (verdict: Stage["verdict"], message?: string): Stage => ({
  verdict,
  exitCode: null,
  signal: null,
  stdout: "",
  stderr: "",
  stdoutTruncated: false,
  stderrTruncated: false,
  usage: { cpuMs: 0, wallMs: 0, memoryKb: 0 },
  ...(message !== undefined && { message }),
});

export const runResultSchema = z
  .object({
    id: z.string(),
    status: z.enum(["queued", "running", "completed"]),
    language: z.string().optional(),
    verdict: z.enum(verdicts).optional(),
    compile: stageSchema.nullable().optional(),
    run: stageSchema.nullable().optional(),
    tests: z.array(stageSchema).optional(),
    usage: usageSchema.optional().openapi({ description: "with tests: the maximum over tests" }),
    files: z
      .array(z.object({ path: z.string(), content: z.string().optional(), error: z.string().optional() }))
      .optional()
      .openapi({ description: "collected files, content base64, or why one was refused" }),
    message: z.string().optional().openapi({ description: "why a run ended in internal_error" }),
    problem: z
      .object({ id: z.string(), version: z.number().int() })
      .optional()
      .openapi({ description: "the stored problem, and its version, the run was judged against" }),
    createdAt: z.string().optional(),
    startedAt: z.string().nullable().optional(),
    completedAt: z.string().nullable().optional(),
  })
  .openapi("RunResult");
export type RunResult = z.infer<typeof runResultSchema>;

export const errorSchema = z
  .object({
    error: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Error");

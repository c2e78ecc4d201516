// Piston v2's API (engineer-man/piston) under /piston/api/v2, so that Piston
// clients (piston-client: server "http://HOST:PORT/piston") run on ruse. A
// thin translation: a Piston request is made a v1 run request and checked by
// the v1 schema (one place for limits and maximums), queued by the one
// submitter, waited for, and its result told in Piston's words. Piston's
// clients read `{message}` on an error, whatever the status.
//
// What Piston has and ruse does not: `output` is stdout then stderr (ruse
// keeps the two streams apart, not their interleaving).
import { z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { constants } from "node:os";
import type { Config } from "../../core/config.js";
import type { Limits } from "../../core/limits.js";
import { IDEMPOTENCY_HEADER, idempotencyOf } from "../../core/idempotency.js";
import { emptyStage, errorSchema, runRequestSchema, type RunResult, type Stage } from "../../core/schemas.js";
import type { Language } from "../../rootfs/languages.js";
import { offered } from "../catalogue.js";
import { callerScope } from "../guard.js";
import type { RunSubmitter } from "../enqueue.js";
import { jsonContent } from "../reply.js";

/** Piston's name for each language where it has one, and the aliases its users send (ruse's id is always one). */
export const pistonNames: Readonly<Record<string, { language: string; aliases: string[] }>> = {
  c: { language: "c", aliases: ["gcc"] },
  cpp: { language: "c++", aliases: ["cpp", "g++"] },
  go: { language: "go", aliases: ["golang"] },
  rust: { language: "rust", aliases: ["rs"] },
  haskell: { language: "haskell", aliases: ["hs"] },
  ocaml: { language: "ocaml", aliases: ["ml"] },
  fortran: { language: "fortran", aliases: ["f90", "f95"] },
  d: { language: "d", aliases: ["dmd", "gdc"] },
  ada: { language: "ada", aliases: ["gnat"] },
  pascal: { language: "pascal", aliases: ["freepascal", "pp", "pas", "fpc"] },
  nim: { language: "nim", aliases: [] },
  cobol: { language: "cobol", aliases: ["cob"] },
  assembly: { language: "nasm64", aliases: ["asm", "asm64", "nasm"] },
  java: { language: "java", aliases: [] },
  kotlin: { language: "kotlin", aliases: ["kt"] },
  scala: { language: "scala", aliases: ["sc"] },
  clojure: { language: "clojure", aliases: ["clj"] },
  groovy: { language: "groovy", aliases: ["gvy"] },
  csharp: { language: "csharp", aliases: ["mono", "mono-csharp", "mono-c#", "mono-cs", "c#", "cs"] },
  bash: { language: "bash", aliases: ["sh"] },
  python: { language: "python", aliases: ["py", "py3", "python3"] },
  javascript: { language: "javascript", aliases: ["node-javascript", "node-js", "js", "node"] },
  typescript: { language: "typescript", aliases: ["ts", "node-ts", "tsc"] },
  ruby: { language: "ruby", aliases: ["ruby3", "rb"] },
  php: { language: "php", aliases: [] },
  perl: { language: "perl", aliases: ["pl"] },
  lua: { language: "lua", aliases: [] },
  tcl: { language: "tcl", aliases: ["tclsh"] },
  r: { language: "rscript", aliases: ["r"] },
  octave: { language: "octave", aliases: ["matlab", "m"] },
  erlang: { language: "erlang", aliases: ["erl", "escript"] },
  elixir: { language: "elixir", aliases: ["exs"] },
  racket: { language: "racket", aliases: ["rkt"] },
  scheme: { language: "scheme", aliases: ["guile", "scm"] },
  commonlisp: { language: "lisp", aliases: ["cl", "sbcl", "commonlisp"] },
  prolog: { language: "prolog", aliases: ["plg", "swipl"] },
  sqlite: { language: "sqlite3", aliases: ["sqlite", "sql"] },
  awk: { language: "awk", aliases: ["gawk"] },
};

const nameOf = (lang: Language) => pistonNames[lang.id]?.language ?? lang.id;
const aliasesOf = (lang: Language) => {
  const p = pistonNames[lang.id];
  return [...new Set([...(p?.aliases ?? []), ...(p && p.language !== lang.id ? [lang.id] : [])])];
};
/** What a runtime's version is called when its image is not built here (its version is known once built). */
const UNKNOWN_VERSION = "0.0.0";

/** -1 (Piston's "the server's default"), or a positive integer. */
const limitValue = z.number().int().min(-1).optional();

export const pistonRuntimeSchema = z
  .object({ language: z.string(), version: z.string(), aliases: z.array(z.string()), runtime: z.string().optional() })
  .openapi("PistonRuntime");

export const pistonExecuteSchema = z
  .object({
    language: z.string().min(1).openapi({ description: "a runtime's language or one of its aliases" }),
    version: z.string().optional().openapi({ description: "the runtime's version, or * (any)" }),
    files: z
      .array(
        z
          .object({
            name: z.string().optional(),
            content: z.string(),
            encoding: z.enum(["utf8", "base64", "hex"]).default("utf8"),
          })
          // Node's hex decoder stops at the first bad digit: refused here, never run cut short.
          .refine((f) => f.encoding !== "hex" || /^(?:[0-9a-fA-F]{2})*$/.test(f.content), {
            message: "content is not valid hex",
            path: ["content"],
          }),
      )
      .min(1)
      .openapi({ description: "the first file is the program (written under the language's source file name)" }),
    stdin: z.string().default(""),
    args: z.array(z.string()).default([]),
    compile_timeout: limitValue.openapi({ description: "ms, wall (and CPU, unless compile_cpu_time); -1: default" }),
    run_timeout: limitValue.openapi({ description: "ms, wall (and CPU, unless run_cpu_time); -1: default" }),
    compile_cpu_time: limitValue,
    run_cpu_time: limitValue,
    compile_memory_limit: limitValue.openapi({ description: "bytes; -1: default" }),
    run_memory_limit: limitValue.openapi({ description: "bytes; -1: default" }),
  })
  .openapi("PistonExecute");
export type PistonExecute = z.infer<typeof pistonExecuteSchema>;

const pistonStageSchema = z.object({
  stdout: z.string(),
  stderr: z.string(),
  output: z.string().openapi({ description: "stdout, then stderr" }),
  code: z.number().int().nullable(),
  signal: z.string().nullable().openapi({ description: "a name such as SIGKILL" }),
  message: z.string().nullable(),
  status: z.string().nullable().openapi({ description: "RE, SG, TO, OL, XX, or null" }),
  cpu_time: z.number(),
  wall_time: z.number(),
  memory: z.number().openapi({ description: "bytes" }),
});

export const pistonResultSchema = z
  .object({
    language: z.string(),
    version: z.string(),
    run: pistonStageSchema.optional().openapi({ description: "absent when compiling failed" }),
    compile: pistonStageSchema.optional(),
  })
  .openapi("PistonResult");

/** Piston's error body; `message` names the field at fault. */
const pistonErrorSchema = z.object({ message: z.string() }).openapi("PistonError");

export const pistonRefuse = (c: Context, status: 400 | 401 | 404 | 413 | 422 | 429 | 503, message: string) =>
  c.json({ message }, status);

/**
 * A key or rate refusal: `success: false` besides, the mark piston-client
 * looks for on runtimes() (a call before every execute), so that it hands
 * the refusal to its caller rather than failing on a body that is no list.
 */
export const pistonGuardRefuse = (c: Context, status: 401 | 429, message: string) =>
  c.json({ success: false, message }, status);

/** The v1 field a Piston field becomes, to name the Piston field when the v1 schema refuses a value. */
export const v1Fields: Record<string, string> = {
  "limits.wallMs": "run_timeout",
  "limits.cpuMs": "run_cpu_time (or run_timeout)",
  "limits.memoryMb": "run_memory_limit",
  "compileLimits.wallMs": "compile_timeout",
  "compileLimits.cpuMs": "compile_cpu_time (or compile_timeout)",
  "compileLimits.memoryMb": "compile_memory_limit",
};

/**
 * A Piston stage's time and memory limits as v1 limits (only those asked
 * for). Piston's timeout is the wall limit, and the CPU limit too (at most
 * the server's CPU maximum) unless a CPU time is given.
 */
function limitsOf(maxCpuMs: number, timeout?: number, cpu?: number, memory?: number): Partial<Limits> | undefined {
  const given = (v?: number) => (v !== undefined && v >= 0 ? Math.max(1, v) : undefined);
  const wallMs = given(timeout);
  const cpuMs = given(cpu) ?? (wallMs && Math.min(wallMs, maxCpuMs));
  const memoryMb = given(memory) && Math.ceil(memory! / (1 << 20));
  const l = { ...(wallMs && { wallMs }), ...(cpuMs && { cpuMs }), ...(memoryMb && { memoryMb }) };
  return Object.keys(l).length ? l : undefined;
}

/** The runtime a request names: its language, and the version it must match ("*" or absent: any). */
export function runtimeOf(req: PistonExecute): { lang: Language; version: string } | null {
  const want = req.language.toLowerCase();
  const hit = offered().find(({ lang }) => nameOf(lang) === want || aliasesOf(lang).includes(want));
  if (!hit) return null;
  const version = hit.version ?? UNKNOWN_VERSION;
  const v = req.version;
  // A version prefix ("3", "3.11") matches as Piston's semver ranges would.
  const matches = !v || v === "*" || !hit.version || version === v || version.startsWith(`${v}.`);
  return matches ? { lang: hit.lang, version } : null;
}

/** The v1 request for a Piston one: the first file is the program, the rest sit beside it. */
export function v1Request(req: PistonExecute, lang: Language, cfg: Config) {
  const file = (f: PistonExecute["files"][number], path: string) => ({
    path,
    content: f.encoding === "hex" ? Buffer.from(f.content, "hex").toString("base64") : f.content,
    encoding: f.encoding === "utf8" ? ("utf8" as const) : ("base64" as const),
  });
  const [main, ...rest] = req.files;
  return {
    language: lang.id,
    ...(rest.length === 0 && main!.encoding === "utf8"
      ? { source: main!.content }
      : { files: [file(main!, lang.sourceFile), ...rest.map((f, i) => file(f, f.name || `file${i + 1}`))] }),
    stdin: req.stdin,
    args: req.args,
    limits: limitsOf(cfg.limits.run.max.cpuMs, req.run_timeout, req.run_cpu_time, req.run_memory_limit),
    compileLimits: limitsOf(
      cfg.limits.compile.max.cpuMs,
      req.compile_timeout,
      req.compile_cpu_time,
      req.compile_memory_limit,
    ),
  };
}

export const signalName = (n: number | null): string | null =>
  n === null ? null : (Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? `SIG${n}`);

/** Piston's stage status: TO timed out, OL output too long, SG killed by a signal, RE failed, XX internal. */
function pistonStatus(s: Stage): string | null {
  switch (s.verdict) {
    case "time_limit_exceeded":
      return "TO";
    case "output_limit_exceeded":
      return "OL";
    case "internal_error":
      return "XX";
    case "ok":
    case "accepted":
      return null;
    default:
      return s.signal !== null ? "SG" : "RE";
  }
}

const pistonStage = (s: Stage): z.infer<typeof pistonStageSchema> => ({
  stdout: s.stdout,
  stderr: s.stderr,
  output: s.stdout + s.stderr,
  code: s.exitCode,
  signal: signalName(s.signal),
  message: s.message ?? null,
  status: pistonStatus(s),
  cpu_time: Math.round(s.usage.cpuMs),
  wall_time: Math.round(s.usage.wallMs),
  memory: s.usage.memoryKb * 1024,
});

/** A completed v1 result in Piston's shape; a run that never started (internal error) says why in run.message. */
export function pistonResult(r: RunResult, lang: Language, version: string): z.infer<typeof pistonResultSchema> {
  const failed = emptyStage("internal_error", r.message ?? "the run did not complete");
  const compiled = r.compile ? { compile: pistonStage(r.compile) } : {};
  const run = r.run ?? (r.verdict === "compile_error" ? null : failed);
  return { language: nameOf(lang), version, ...compiled, ...(run ? { run: pistonStage(run) } : {}) };
}

export function pistonRoutes(app: OpenAPIHono, cfg: Config, submitter: RunSubmitter): void {
  const runRequest = runRequestSchema(cfg);

  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/piston/api/v2/runtimes",
    summary: "Piston: the runtimes (languages, versions, aliases)",
    responses: { 200: jsonContent(z.array(pistonRuntimeSchema), "every language this server runs") },
  });
  app.get("/piston/api/v2/runtimes", (c) =>
    c.json(
      offered().map(({ lang, version }) => ({
        language: nameOf(lang),
        version: version ?? UNKNOWN_VERSION,
        aliases: aliasesOf(lang),
      })),
    ),
  );

  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/piston/api/v2/execute",
    summary: "Piston: run a program and answer when it is done (a v1 run with wait)",
    request: { body: { content: { "application/json": { schema: pistonExecuteSchema } }, required: true } },
    responses: {
      200: jsonContent(pistonResultSchema, "the completed run"),
      400: jsonContent(pistonErrorSchema, "invalid request, or an unknown runtime: message names the field"),
      401: jsonContent(pistonErrorSchema, "missing or unknown API key"),
      413: jsonContent(pistonErrorSchema, "the body too large"),
      422: jsonContent(errorSchema, "a language whose image is not built on this server"),
      429: jsonContent(pistonErrorSchema, "rate limit or full queue; see Retry-After"),
      503: jsonContent(pistonErrorSchema, "not done within RUSE_WAIT_MAX_MS; the run goes on (message names it)"),
    },
  });
  app.post("/piston/api/v2/execute", async (c) => {
    // Piston's clients send JSON without a JSON content type (piston-client sends text/plain).
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      return pistonRefuse(c, 400, "the body is not valid JSON");
    }
    const parsed = pistonExecuteSchema.safeParse(body);
    if (!parsed.success) return pistonRefuse(c, 400, describe(parsed.error.issues));
    const runtime = runtimeOf(parsed.data);
    if (!runtime)
      return pistonRefuse(c, 400, `${parsed.data.language}-${parsed.data.version ?? "*"} runtime is unknown`);
    const request = runRequest.safeParse(v1Request(parsed.data, runtime.lang, cfg));
    if (!request.success) return pistonRefuse(c, 400, describe(request.error.issues, v1Fields));
    const idem = idempotencyOf(c.req.header(IDEMPOTENCY_HEADER), callerScope(c), "run", request.data);
    if (typeof idem === "string") return pistonRefuse(c, 400, `${IDEMPOTENCY_HEADER}: ${idem}`);
    const s = await submitter.submit(request.data, true, undefined, idem);
    if ("refused" in s) return pistonRefuse(c, s.refused.status, describe(s.refused.issues, {}, s.refused.error));
    if ("full" in s) {
      c.header("Retry-After", "5");
      return pistonRefuse(c, 429, s.full);
    }
    c.header("X-Run-Id", s.id);
    const result = await s.result;
    if (!result) {
      c.header("Retry-After", "5");
      return pistonRefuse(
        c,
        503,
        `the run did not complete within ${cfg.waitMaxMs} ms (RUSE_WAIT_MAX_MS); it goes on: GET /v1/runs/${s.id}`,
      );
    }
    return c.json(pistonResult(JSON.parse(result) as RunResult, runtime.lang, runtime.version), 200);
  });
}

/** Issues as one message, each naming its field (as Piston calls it where the v1 name differs). */
export function describe(
  issues: readonly { path: readonly PropertyKey[] | string; message: string }[],
  rename: Record<string, string> = {},
  lead?: string,
): string {
  const parts = issues.map((i) => {
    const path = typeof i.path === "string" ? i.path : i.path.map(String).join(".");
    // A file after the first is written under its Piston name: v1's files.N.path is Piston's files.N.name.
    const named = rename[path] ?? path.replace(/^files\.(\d+)\.path$/, "files.$1.name");
    return `${named || "(body)"}: ${i.message}`;
  });
  return [lead, ...parts].filter(Boolean).join("; ");
}

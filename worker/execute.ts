// One run of the service: compile (if the language compiles) in one sandbox,
// then run the artifacts in another, once or once per test.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { getLanguage, languageEnv, type Language } from "../rootfs/languages.js";
import type { Limits } from "../core/limits.js";
import type { RunJob, RunResult, Stage } from "../core/schemas.js";
import type { Sandbox, SandboxResult, SandboxSpec } from "./sandbox/sandbox.js";
import type { SandboxFile } from "./sandbox/files-stream.js";
import { checkerVerdict, globToRegExp, sameOutput } from "./judge.js";
import { layersOf, runArgv, sandboxLimits, SKIPPED, stage } from "./stage.js";
import { CompiledJudges } from "./compiled-judges.js";
import type { RunIo } from "./stream.js";
import type { TestDataCache } from "./test-data.js";
import { unpack } from "./unpack.js";

/**
 * With tests, each test's output is judged whole but stored only up to this
 * many bytes per stream (flagged as truncated): 200 tests of full output
 * would make one result hundreds of megabytes in Redis.
 */
export const TEST_OUTPUT_KEPT = 64 * 1024;

export type Executed = Pick<
  RunResult,
  "verdict" | "compile" | "run" | "tests" | "usage" | "language" | "message" | "files"
>;

/**
 * A test as the worker judges it, read when its turn comes: a stored
 * problem's data (up to hundreds of MiB a test) is in memory only while its
 * test is judged, not all of a run's at once.
 */
type Test = () => Promise<{ stdin: string | Buffer; expectedOutput?: string }>;

/** The run's tests: its own, or its problem's, read through the worker's cache of test data. */
function testsOf(job: RunJob, testData?: TestDataCache): Test[] | undefined {
  if (!job.problem) return job.tests?.map((t) => async () => t);
  if (!testData) throw new Error("this worker has no test data store");
  return job.problem.tests.map((t) => async () => ({
    stdin: await testData.get(t.input),
    ...(t.answer ? { expectedOutput: (await testData.get(t.answer)).toString("utf8") } : {}),
  }));
}

const decode = (files: RunJob["files"]): SandboxFile[] =>
  files.map((f) => ({ path: f.path, content: Buffer.from(f.contentBase64, "base64") }));

/** A language's program, ready to run: its image, environment and files. */
export interface Prepared {
  lang: Language;
  layers: string[];
  env: Record<string, string>;
  /** copied into each run's /box */
  files: SandboxFile[];
  /** compiled artifacts: a private host directory every run shows read-only in /box */
  boxLower?: string;
  compile: Stage | null;
}

/**
 * Writes a compile's artifacts once into a fresh private directory (0700,
 * with a world-readable "box" inside for the sandbox), which no sandbox ever
 * writes to: the paths come from the launcher's copy-out (relative, no
 * links) and every file is created new (wx).
 */
function materialize(files: SandboxFile[]): { dir: string; box: string } {
  const dir = mkdtempSync(join(tmpdir(), "ruse-artifacts-"));
  const box = join(dir, "box");
  mkdirSync(box, { mode: 0o755 });
  for (const f of files) {
    const path = join(box, f.path);
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    writeFileSync(path, f.content, { flag: "wx", mode: f.executable ? 0o755 : 0o644 });
  }
  return { dir, box };
}

/**
 * Compiles (if the language compiles) in a sandbox of its own; the artifacts
 * and sources come back as regular files only, for the runs. (Also what
 * bench/languages.ts times the runs of.)
 */
export async function prepare(
  sb: Sandbox,
  languageId: string,
  files: SandboxFile[],
  compileLimits: Limits,
  cleanups: string[],
  compile = true,
): Promise<Prepared | { failed: Stage; verdict: "compile_error" | "internal_error"; message?: string }> {
  const lang = getLanguage(languageId);
  if (!lang) throw new Error(`unknown language ${languageId}`);
  const layers = layersOf(lang.id);
  const env = languageEnv(lang);
  if (!lang.compile || !compile) return { lang, layers, env, files, compile: null };
  const limits = sandboxLimits(compileLimits, lang, true);
  const c = await sb.run({
    layers,
    argv: [...lang.compile],
    env,
    files,
    collect: ["."],
    collectMaxBytes: limits.scratchBytes,
    limits,
  });
  if (c.verdict === "internal_error") return { failed: stage(c), verdict: "internal_error", message: c.error };
  if (c.verdict !== "ok") return { failed: stage(c, "compile_error"), verdict: "compile_error" };
  const artifacts = c.collected.flatMap((f) =>
    "content" in f ? [{ path: f.path, content: f.content, executable: true }] : [],
  );
  const { dir, box } = materialize(artifacts);
  cleanups.push(dir);
  return { lang, layers, env, files: [], boxLower: box, compile: stage(c) };
}

/** Where a glob's walk starts: the directory above its first wildcard part. */
function globRoot(pattern: string): string {
  const parts = pattern.split("/");
  const i = parts.findIndex((c) => /[*?]/.test(c));
  return i === 0 ? "." : `${parts.slice(0, i).join("/")}/`;
}

/** Collect patterns as the launcher takes them: a glob becomes the directory it walks, filtered here. */
function collectPlan(patterns: string[]): { paths: string[]; keep: (path: string) => boolean } {
  const globs = patterns.filter((p) => /[*?]/.test(p));
  const exact = new Set(patterns.filter((p) => !/[*?]/.test(p)));
  const match = globs.map(globToRegExp);
  return {
    paths: [...new Set([...exact, ...globs.map(globRoot)])],
    keep: (path) => exact.has(path) || match.some((g) => g.test(path)),
  };
}

/** The judging program's failures: a limit, a signal or the sandbox's own error. */
function judgeFailure(c: SandboxResult): string | undefined {
  if (c.verdict === "internal_error") return c.error;
  if (c.verdict !== "ok" && c.verdict !== "runtime_error") return c.verdict;
  return c.signal ? `killed by signal ${c.signal}` : undefined;
}

/**
 * One test of an interactive problem: the program and the interactor run at
 * once, each in its own sandbox, each one's stdout the other's stdin. A
 * program that hits its limits gets that verdict (one that never answers is
 * time_limit_exceeded, not a hang); otherwise the interactor judges, as a
 * checker does, from the test's input file.
 */
async function interact(
  job: RunJob,
  sb: Sandbox,
  inter: Prepared,
  program: SandboxSpec,
  input: string | Buffer,
): Promise<Stage> {
  const [r, c] = await sb.runPair(program, {
    layers: inter.layers,
    boxLower: inter.boxLower,
    argv: [...runArgv(inter.lang, job.compileLimits.memoryMb, []), "input.txt", "output.txt"],
    env: inter.env,
    files: [...inter.files, { path: "input.txt", content: input }],
    limits: sandboxLimits(job.compileLimits, inter.lang, false),
  });
  if (["time_limit_exceeded", "memory_limit_exceeded", "output_limit_exceeded", "internal_error"].includes(r.verdict))
    return stage(r, r.verdict, undefined, TEST_OUTPUT_KEPT);
  const v = checkerVerdict(c.exitCode, c.stderr.toString("utf8"), judgeFailure(c));
  // The interactor's wrong_answer beats a program killed by a closed pipe.
  const verdict = v.verdict === "accepted" && r.verdict !== "ok" ? r.verdict : v.verdict;
  return stage(r, verdict, v.message || undefined, TEST_OUTPUT_KEPT);
}

async function runTests(
  job: RunJob,
  sb: Sandbox,
  tests: Test[],
  judgeProg: Prepared | null,
  runOnce: (stdin: string | Buffer) => Promise<SandboxResult>,
  interactOnce: (stdin: string | Buffer) => Promise<Stage>,
): Promise<Stage[]> {
  const checker = job.checker ? judgeProg : null;
  const judge = async (i: number): Promise<Stage> => {
    const t = await tests[i]!();
    if (job.interactor) return interactOnce(t.stdin);
    const r = await runOnce(t.stdin);
    if (r.verdict !== "ok") return stage(r, r.verdict, undefined, TEST_OUTPUT_KEPT);
    const output = r.stdout.toString("utf8");
    if (!checker)
      return stage(
        r,
        sameOutput(output, t.expectedOutput ?? "", job.compare) ? "accepted" : "wrong_answer",
        undefined,
        TEST_OUTPUT_KEPT,
      );
    const limits = sandboxLimits(job.compileLimits, checker.lang, false);
    const c = await sb.run({
      layers: checker.layers,
      boxLower: checker.boxLower,
      argv: [...runArgv(checker.lang, job.compileLimits.memoryMb, []), "input.txt", "output.txt", "answer.txt"],
      env: checker.env,
      files: [
        ...checker.files,
        { path: "input.txt", content: t.stdin },
        { path: "output.txt", content: r.stdout },
        { path: "answer.txt", content: t.expectedOutput ?? "" },
      ],
      limits,
    });
    const v = checkerVerdict(c.exitCode, c.stderr.toString("utf8"), judgeFailure(c));
    return stage(r, v.verdict, v.message || undefined, TEST_OUTPUT_KEPT);
  };
  const out: Stage[] = new Array(tests.length).fill(SKIPPED);
  if (job.stopOnFirstFailure) {
    for (let i = 0; i < tests.length; i++) {
      out[i] = await judge(i);
      if (out[i]!.verdict !== "accepted") break;
    }
    return out;
  }
  // Tests of one run use the worker's idle slots too; results stay in test order.
  // (An interactive test takes two slots at once: those run one at a time.)
  let next = 0;
  const lanes = job.interactor ? 1 : Math.min(tests.length, 1 + sb.idleSlots());
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      for (let i = next++; i < tests.length; i = next++) out[i] = await judge(i);
    }),
  );
  return out;
}

/** What a worker keeps between runs: a stored problem's test data, and compiled checkers and interactors. */
export interface RunContext {
  testData?: TestDataCache;
  judges?: CompiledJudges<Awaited<ReturnType<typeof prepare>>>;
}

/** `io`: a streamed run's (worker/stream.ts): its stdin and output go through it as they come. */
export async function executeRun(job: RunJob, sb: Sandbox, ctx: RunContext = {}, io?: RunIo): Promise<Executed> {
  const cleanups: string[] = [];
  try {
    return await execute(job, sb, cleanups, ctx, io);
  } finally {
    for (const d of cleanups) rmSync(d, { recursive: true, force: true });
  }
}

async function execute(
  job: RunJob,
  sb: Sandbox,
  cleanups: string[],
  ctx: RunContext,
  io: RunIo | undefined,
): Promise<Executed> {
  let sources = decode(job.files);
  if (job.archive) {
    const unpacked = await unpack(sb, job);
    if (!Array.isArray(unpacked))
      return {
        language: job.language,
        verdict: unpacked.verdict,
        compile: unpacked,
        run: null,
        ...(unpacked.message ? { message: unpacked.message } : {}),
      };
    sources = unpacked;
  }
  // A shell command builds the project itself: no compile step of the language's.
  if (getLanguage(job.language)?.compile && !job.command) io?.stage("compile");
  const prog = await prepare(sb, job.language, sources, job.compileLimits, cleanups, !job.command);
  if ("failed" in prog)
    return {
      language: job.language,
      verdict: prog.verdict,
      compile: prog.failed,
      run: null,
      ...(prog.message ? { message: prog.message } : {}),
    };
  // A checker, or an interactor: compiled once, like the program.
  const judgeJob = job.checker ?? job.interactor;
  let judgeProg: Prepared | null = null;
  if (judgeJob) {
    const compile = (dirs: string[]) => prepare(sb, judgeJob.language, decode(judgeJob.files), job.compileLimits, dirs);
    const c = ctx.judges
      ? await ctx.judges.get(CompiledJudges.key(judgeJob), async () => {
          const dirs: string[] = [];
          const value = await compile(dirs);
          return { value, dirs, keep: !("failed" in value) };
        })
      : await compile(cleanups);
    const what = job.checker ? "checker" : "interactor";
    if ("failed" in c)
      return {
        language: job.language,
        verdict: "internal_error",
        compile: prog.compile,
        run: null,
        message: `the ${what} did not compile: ${c.failed.stderr.slice(0, 4096) || c.message}`,
      };
    judgeProg = c;
  }

  const limits = sandboxLimits(job.limits, prog.lang, false);
  // A shell command runs with the language image's tools instead of its run command.
  const argv = job.command
    ? ["bash", "-c", job.command, "bash", ...job.args]
    : runArgv(prog.lang, job.limits.memoryMb, job.args);
  const plan = job.collect ? collectPlan(job.collect) : null;
  const runSpec = (stdin: SandboxSpec["stdin"]): SandboxSpec => ({
    layers: prog.layers,
    boxLower: prog.boxLower,
    argv,
    env: prog.env,
    files: prog.files,
    stdin,
    limits,
    network: job.network,
    ...(plan ? { collect: plan.paths, collectMaxBytes: limits.scratchBytes } : {}),
    // A streamed run is one run (the API refuses tests in a stream): its output goes out as it comes.
    ...(io && { stdoutTo: io.stdoutTo, stderrTo: io.stderrTo }),
  });
  const runOnce = (stdin: SandboxSpec["stdin"]) => sb.run(runSpec(stdin));

  const tests = testsOf(job, ctx.testData);
  if (!tests) {
    io?.stage("run", prog.compile);
    const r = await runOnce(io?.stdin ?? job.stdin);
    // A file named both exactly and by a glob is walked twice: keep it once.
    const once = new Map(r.collected.map((f) => [f.path, f]));
    const files = plan
      ? [...once.values()]
          .filter((f) => plan.keep(f.path))
          .map((f) =>
            "content" in f ? { path: f.path, content: f.content.toString("base64") } : { path: f.path, error: f.error },
          )
      : undefined;
    return {
      language: prog.lang.id,
      verdict: r.verdict,
      compile: prog.compile,
      run: stage(r),
      ...(files ? { files } : {}),
      ...(r.error ? { message: r.error } : {}),
    };
  }
  const judged = await runTests(job, sb, tests, judgeProg, runOnce, (input) =>
    interact(job, sb, judgeProg!, runSpec(""), input),
  );
  const verdict = judged.find((t) => t.verdict !== "accepted")?.verdict ?? "accepted";
  const message = judged.find((t) => t.verdict === "internal_error")?.message;
  const max = (k: "cpuMs" | "wallMs" | "memoryKb") => Math.max(...judged.map((t) => t.usage[k]));
  return {
    language: prog.lang.id,
    verdict,
    compile: prog.compile,
    run: null,
    tests: judged,
    ...(message ? { message } : {}),
    usage: { cpuMs: max("cpuMs"), wallMs: max("wallMs"), memoryKb: max("memoryKb") },
  };
}

// `ruse run` and `ruse judge`: a program's files sent to a ruse server as one
// run (with its stdin, or its tests), its output and verdict printed, and an
// exit status from the verdict (EXIT below; the usage text in cli/main.ts
// lists it too).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { parseArgs } from "node:util";
import type { RunResult, Stage } from "../core/schemas.js";
import type { Verdict } from "../core/verdicts.js";
import { type LanguageInfo, type RunBody, RuseClient } from "./client.js";

/**
 * The exit status of `ruse run` and `ruse judge`:
 *
 * | status | when                                                                          |
 * | ------ | ----------------------------------------------------------------------------- |
 * | 0      | ok, or accepted (every test)                                                  |
 * | 1      | the program failed: wrong_answer, runtime_error, skipped                      |
 * | 2      | usage or request error: bad arguments, unreadable files, the server refused   |
 * |        | the request (4xx: invalid, 401 key, 413 too large, 429 ...), or is unreachable |
 * | 3      | compile_error                                                                 |
 * | 4      | a limit: time_limit_exceeded, memory_limit_exceeded, output_limit_exceeded    |
 * | 5      | internal_error, or the server failed (5xx)                                    |
 *
 * With tests the run's verdict is the server's: its first failed test's.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, compileError: 3, limit: 4, internal: 5 } as const;

/** The exit status of a run's verdict (EXIT). */
export function exitStatus(verdict: Verdict | undefined): number {
  switch (verdict) {
    case "ok":
    case "accepted":
      return EXIT.ok;
    case "wrong_answer":
    case "runtime_error":
    case "skipped":
      return EXIT.failed;
    case "compile_error":
      return EXIT.compileError;
    case "time_limit_exceeded":
    case "memory_limit_exceeded":
    case "output_limit_exceeded":
      return EXIT.limit;
    default:
      return EXIT.internal;
  }
}

/** A mistake in the command line: printed with a pointer to the usage, exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Options that take a value: their value is never read as --test's or --args'. */
const VALUE_OPTIONS = new Set(["--language", "--stdin", "--tests", "--url", "--key"]);

/**
 * What parseArgs cannot read: `--test IN OUT` (two values a flag, repeatable)
 * and `--args ...` (every argument after it is the program's). The rest is
 * left for parseArgs.
 */
export function preprocess(argv: string[]): { rest: string[]; tests: [string, string][]; args: string[] | undefined } {
  const rest: string[] = [];
  const tests: [string, string][] = [];
  let args: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    if (t === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    if (t === "--args") {
      args = argv.slice(i + 1);
      break;
    }
    if (t === "--test") {
      const pair = argv.slice(i + 1, i + 3);
      if (pair.length < 2) throw new UsageError("--test takes two files: --test IN OUT");
      tests.push(pair as [string, string]);
      i += 2;
    } else if (t.startsWith("--test=")) throw new UsageError("--test takes two files, as two arguments: --test IN OUT");
    else if (VALUE_OPTIONS.has(t) && i + 1 < argv.length) {
      rest.push(t, argv[i + 1]!);
      i++;
    } else rest.push(t);
  }
  return { rest, tests, args };
}

function readText(path: string, what: string): string {
  try {
    return path === "-" ? readFileSync(0, "utf8") : readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path === "-" ? "(stdin)" : path}: ${(e as Error).message}`);
  }
}

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Extensions people use that no language's sourceFile has. */
const EXTRA_EXTENSIONS: Record<string, string[]> = {
  ".h": ["c", "cpp"],
  ".hpp": ["cpp"],
  ".hh": ["cpp"],
  ".cc": ["cpp"],
  ".cxx": ["cpp"],
  ".c++": ["cpp"],
  ".mjs": ["javascript"],
  ".cjs": ["javascript"],
  ".bash": ["bash"],
};

/**
 * The language of `file` from its extension: those whose sourceFile has that
 * extension exactly, else the same ignoring case, else the usual extensions
 * of EXTRA_EXTENSIONS; of several, the first ready one in the server's order,
 * with a note saying which was taken.
 */
export function languageOf(file: string, langs: LanguageInfo[]): { id: string; note?: string } {
  const ext = extname(file);
  const tiers: LanguageInfo[][] = ext
    ? [
        langs.filter((l) => extname(l.sourceFile) === ext),
        langs.filter((l) => extname(l.sourceFile).toLowerCase() === ext.toLowerCase()),
        langs.filter((l) => (EXTRA_EXTENSIONS[ext.toLowerCase()] ?? []).includes(l.id)),
      ]
    : [];
  const found = tiers.find((t) => t.length > 0);
  if (!found)
    throw new UsageError(
      `no language of the server has the extension of ${file}${ext ? ` ("${ext}")` : ""}: give one with --language ID (ruse languages lists them)`,
    );
  const taken = found.find((l) => l.ready) ?? found[0]!;
  if (found.length === 1) return { id: taken.id };
  const others = found.filter((l) => l !== taken).map((l) => l.id);
  return {
    id: taken.id,
    note: `${basename(file)}: "${ext}" is the extension of ${found.map((l) => l.id).join(", ")}: taken as ${taken.id} (else --language ${others[0]})`,
  };
}

const usageText = (u: { cpuMs: number; wallMs: number; memoryKb: number } | undefined) =>
  u ? `cpu ${Math.round(u.cpuMs)} ms, wall ${Math.round(u.wallMs)} ms, memory ${Math.round(u.memoryKb)} KB` : "";

/** What a stage's verdict line says besides its verdict: exit code or signal of a crash, usage. */
function details(s: Stage): string {
  const parts: string[] = [];
  if (s.verdict === "runtime_error")
    parts.push(s.signal !== null ? `signal ${s.signal}` : s.exitCode !== null ? `exit ${s.exitCode}` : "");
  if (s.verdict !== "skipped") parts.push(usageText(s.usage));
  const d = parts.filter(Boolean).join(", ");
  return `${d ? ` (${d})` : ""}${s.message ? `: ${s.message}` : ""}`;
}

const err = (line: string) => process.stderr.write(`${line}\n`);

/** The last lines of a failed test's stderr, indented, so that a crash says why. */
function stderrTail(s: Stage): void {
  if (s.verdict !== "runtime_error" || !s.stderr.trim()) return;
  const lines = s.stderr.trimEnd().split("\n");
  for (const l of lines.slice(-10)) err(`    ${l}`);
}

/** The compiler's output of a compile_error, on stderr. */
function compileOutput(r: RunResult): void {
  const c = r.compile;
  if (!c) return;
  for (const text of [c.stdout, c.stderr]) if (text) process.stderr.write(text.endsWith("\n") ? text : `${text}\n`);
  if (c.message) err(`ruse: ${c.message}`);
}

/** A result that has no stage to show: internal_error, with the server's message. */
function internal(r: RunResult): string {
  return `ruse: ${r.verdict ?? "internal_error"}${r.message ? `: ${r.message}` : ""}`;
}

/** `ruse run`'s report: the program's output, the compiler's on a compile error, the verdict line(s); the exit status. */
function reportRun(r: RunResult): number {
  if (r.verdict === "compile_error") {
    compileOutput(r);
    err("ruse: compile_error");
  } else if (r.tests) {
    const firstFailed = r.tests.find((t) => t.verdict !== "accepted");
    r.tests.forEach((t, i) => {
      err(`test ${i + 1}: ${t.verdict}${details(t)}`);
      if (t === firstFailed) stderrTail(t);
    });
    const passed = r.tests.filter((t) => t.verdict === "accepted").length;
    const max = usageText(r.usage);
    err(
      r.verdict === "accepted"
        ? `ruse: accepted (${passed}/${r.tests.length} tests${max ? `; max ${max}` : ""})`
        : `ruse: ${r.verdict} (accepted ${passed}/${r.tests.length} tests${max ? `; max ${max}` : ""})${r.message ? `: ${r.message}` : ""}`,
    );
  } else if (r.run) {
    process.stdout.write(r.run.stdout);
    process.stderr.write(r.run.stderr);
    if (r.run.stderr && !r.run.stderr.endsWith("\n")) err("");
    if (r.run.stdoutTruncated) err("ruse: stdout truncated (the run's output limit)");
    if (r.run.stderrTruncated) err("ruse: stderr truncated (the run's output limit)");
    err(`ruse: ${r.verdict}${details({ ...r.run, message: r.message ?? r.run.message })}`);
  } else err(internal(r));
  return exitStatus(r.verdict);
}

/** A test of `ruse judge`: its name and its files' contents. */
export interface NamedTest {
  name: string;
  stdin: string;
  expectedOutput: string;
}

const natural = new Intl.Collator(undefined, { numeric: true, sensitivity: "variant" }).compare;

/** The tests of a folder: pairs NAME.in and NAME.out (or NAME.ans), NAME in natural order (2 before 10). */
export function readTestDir(dir: string): NamedTest[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error("not a directory");
    names = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile() || e.isSymbolicLink())
      .map((e) => e.name);
  } catch (e) {
    throw new UsageError(`cannot read the tests folder ${dir}: ${(e as Error).message}`);
  }
  const has = new Set(names);
  const stems = names.filter((n) => n.endsWith(".in")).map((n) => n.slice(0, -3));
  if (stems.length === 0)
    throw new UsageError(`no tests in ${dir}: it should hold pairs NAME.in and NAME.out (or NAME.ans)`);
  for (const n of names) {
    const stem = n.replace(/\.(out|ans)$/, "");
    if (stem !== n && !has.has(`${stem}.in`)) err(`ruse: note: ${join(dir, n)} has no ${stem}.in: left out`);
  }
  return stems.sort(natural).map((name) => {
    const answer = has.has(`${name}.out`) ? `${name}.out` : has.has(`${name}.ans`) ? `${name}.ans` : null;
    if (!answer) throw new UsageError(`${join(dir, `${name}.in`)} has no answer: ${name}.out or ${name}.ans`);
    if (answer.endsWith(".out") && has.has(`${name}.ans`))
      err(`ruse: note: ${name} has both .out and .ans: ${name}.out taken`);
    return {
      name,
      stdin: readText(join(dir, `${name}.in`), "the test input"),
      expectedOutput: readText(join(dir, answer), "the test answer"),
    };
  });
}

/** The program: one file as the language's source, several under their base names (the language's sourceFile among them). */
async function programBody(
  files: string[],
  language: string | undefined,
  client: RuseClient,
): Promise<Pick<RunBody, "language" | "source" | "files">> {
  if (files.length === 0) throw new UsageError("give the program's FILE");
  const contents = files.map(readBytes);
  // The catalogue is read for the language of an extension, and to check a set of files' names.
  const langs = !language || files.length > 1 ? await client.languages() : [];
  if (!language) {
    const picked = languageOf(files[0]!, langs);
    if (picked.note) err(`ruse: ${picked.note}`);
    language = picked.id;
  }
  if (files.length === 1) return { language, source: contents[0]!.toString("utf8") };
  const paths = files.map((f) => basename(f));
  const dup = paths.find((p, i) => paths.indexOf(p) !== i);
  if (dup) throw new UsageError(`two files are named ${dup}: with several files each is sent under its base name`);
  const lang = langs.find((l) => l.id === language);
  if (lang && !paths.includes(lang.sourceFile))
    err(`ruse: note: with several files, ${lang.id} compiles or runs ${lang.sourceFile}, and none is named so`);
  return {
    language,
    files: contents.map((c, i) => {
      const utf8 = c.toString("utf8");
      return Buffer.from(utf8, "utf8").equals(c)
        ? { path: paths[i]!, content: utf8, encoding: "utf8" as const }
        : { path: paths[i]!, content: c.toString("base64"), encoding: "base64" as const };
    }),
  };
}

const queuedNote = (id: string) => err(`ruse: run ${id} queued past the server's wait limit: waiting for it`);

const common = {
  language: { type: "string" },
  url: { type: "string" },
  key: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** `ruse run FILE... [--language ID] [--stdin FILE] [--test IN OUT]... [--args ARGS...]`. */
export async function runCommand(argv: string[]): Promise<number | "help"> {
  const pre = preprocess(argv);
  const { values, positionals } = parseArgs({
    args: pre.rest,
    allowPositionals: true,
    options: { ...common, stdin: { type: "string" } },
  });
  if (values.help) return "help";
  const client = new RuseClient({ url: values.url, key: values.key });
  const stdin = values.stdin === undefined ? undefined : readText(values.stdin, "stdin from");
  const tests = pre.tests.map(([i, o]) => ({
    stdin: readText(i, "the test input"),
    expectedOutput: readText(o, "the test answer"),
  }));
  const body: RunBody = {
    ...(await programBody(positionals, values.language, client)),
    ...(stdin !== undefined && { stdin }),
    ...(tests.length > 0 && { tests }),
    ...(pre.args && { args: pre.args }),
  };
  return reportRun(await client.run(body, queuedNote));
}

/** `ruse judge FILE... --tests DIR [--language ID]`. */
export async function judgeCommand(argv: string[]): Promise<number | "help"> {
  const pre = preprocess(argv);
  if (pre.tests.length) throw new UsageError("ruse judge takes its tests from --tests DIR, not --test");
  const { values, positionals } = parseArgs({
    args: pre.rest,
    allowPositionals: true,
    options: { ...common, tests: { type: "string" } },
  });
  if (values.help) return "help";
  if (!values.tests) throw new UsageError("give the tests' folder: --tests DIR");
  const client = new RuseClient({ url: values.url, key: values.key });
  const named = readTestDir(values.tests);
  const body: RunBody = {
    ...(await programBody(positionals, values.language, client)),
    tests: named.map(({ stdin, expectedOutput }) => ({ stdin, expectedOutput })),
    ...(pre.args && { args: pre.args }),
  };
  const r = await client.run(body, queuedNote);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (r.verdict === "compile_error") {
    compileOutput(r);
    out(`ruse: compile_error (accepted 0/${named.length})`);
    return exitStatus(r.verdict);
  }
  if (!r.tests) {
    out(internal(r));
    return exitStatus(r.verdict);
  }
  const w = Math.max(...named.map((t) => t.name.length));
  const vw = Math.max(...r.tests.map((t) => t.verdict.length));
  const firstFailed = r.tests.find((t) => t.verdict !== "accepted");
  r.tests.forEach((t, i) => {
    const use = t.verdict === "skipped" ? "" : usageText(t.usage);
    out(
      `${(named[i]?.name ?? `${i + 1}`).padEnd(w)}  ${use ? t.verdict.padEnd(vw) : t.verdict}${use ? `  ${use}` : ""}${t.message ? `: ${t.message}` : ""}`.trimEnd(),
    );
    if (t === firstFailed) stderrTail(t);
  });
  const passed = r.tests.filter((t) => t.verdict === "accepted").length;
  const max = usageText(r.usage);
  out(
    `ruse: accepted ${passed}/${r.tests.length}${r.verdict === "accepted" ? "" : `, verdict ${r.verdict}`}${max ? ` (max ${max})` : ""}${r.message ? `: ${r.message}` : ""}`,
  );
  return exitStatus(r.verdict);
}

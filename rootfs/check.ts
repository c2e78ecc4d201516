// The build check: a language's layer is used only once its examples behave
// (hello world, a+b on stdin, a compile error where compiled, a runtime error
// with its exit code), so that a broken package never reaches a worker.
// The check says what to run and what must come out; the caller says how to
// run it (rootfs/images.ts: a chroot of the composed images, as root; the
// worker, after building an image on demand: its own sandbox).

import { shq } from "./chroot.js";
import type { Language } from "./languages.js";

export interface CheckRun {
  /** argv, run with cwd /box, the language's environment and `files` written to /box */
  argv: readonly string[];
  files: Record<string, string>;
  stdin: string;
}

export interface CheckOutcome {
  exitCode: number | null;
  /** the signal's name (SIGSEGV) when one ended it */
  signal: string | null;
  stdout: string;
  stderr: string;
}

export type Runner = (run: CheckRun) => Promise<CheckOutcome>;

const SUM_INPUT = "-7 1000000000000\n";
const SUM_OUTPUT = "999999999993";

/** Compile (where the language compiles) then run, as one command. */
function compileAndRun(lang: Language): string[] {
  if (!lang.compile) return [...lang.run];
  return ["/bin/sh", "-c", `${lang.compile.map(shq).join(" ")} >&2 && exec ${lang.run.map(shq).join(" ")}`];
}

/** The problems found with `lang` (empty: it works). */
export async function checkLanguage(lang: Language, run: Runner): Promise<string[]> {
  const ex = lang.examples;
  const problems: string[] = [];
  const go = (source: string, stdin = "", argv = compileAndRun(lang)) =>
    run({ argv, files: { [lang.sourceFile]: source }, stdin });
  const show = (o: CheckOutcome) =>
    `exit ${o.exitCode ?? o.signal}: ${(o.stdout + o.stderr).trim().slice(0, 400) || "(no output)"}`;

  const hello = await go(ex.hello);
  if (hello.exitCode !== 0 || hello.stdout !== "hello, world\n") problems.push(`hello world: ${show(hello)}`);
  const sum = await go(ex.sum, SUM_INPUT);
  if (sum.exitCode !== 0 || sum.stdout.trim() !== SUM_OUTPUT) problems.push(`a+b: ${show(sum)}`);
  if (lang.compile) {
    if (!ex.broken) problems.push("a compiled language needs a compile-error example");
    else {
      const broken = await go(ex.broken.source, "", [...lang.compile]);
      if (broken.exitCode === 0 || broken.signal || !ex.broken.message.test(broken.stdout + broken.stderr))
        problems.push(`compile error: wanted a failure matching ${ex.broken.message}, got ${show(broken)}`);
    }
  }
  const crash = await go(ex.crash.source);
  const want = ex.crash.signal ?? ex.crash.exitCode;
  const got = ex.crash.signal ? crash.signal : crash.exitCode;
  if (got !== want || (ex.crash.message && !ex.crash.message.test(crash.stderr)))
    problems.push(
      `runtime error: wanted ${want}${ex.crash.message ? ` and ${ex.crash.message}` : ""}, got ${show(crash)}`,
    );
  return problems;
}

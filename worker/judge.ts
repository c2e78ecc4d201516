// Judging a test's output: comparison modes, and checkers in the testlib
// convention.
import type { Compare } from "../core/schemas.js";

/** Trailing spaces, tabs and CRs on each line and trailing blank lines do not count. */
function lines(s: string): string[] {
  const l = s.split("\n").map((x) => x.replace(/[ \t\r]+$/, ""));
  while (l.length && l[l.length - 1] === "") l.pop();
  return l;
}

/** Tokens as testlib reads them: separated by spaces, tabs, CRs and LFs only. */
const tokens = (s: string): string[] => s.split(/[ \t\r\n]+/).filter(Boolean);

/** A decimal number, as a judge's float comparison reads one (no hex, no "Infinity"). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A number token within the absolute or the relative error; any other token equal. */
function closeEnough(a: string, e: string, abs: number, rel: number): boolean {
  if (a === e) return true;
  if (!DECIMAL.test(a) || !DECIMAL.test(e)) return false;
  const x = Number(a);
  const y = Number(e);
  const d = Math.abs(x - y);
  return d <= abs || d <= rel * Math.abs(y);
}

export function sameOutput(actual: string, expected: string, mode: Compare = "lines"): boolean {
  if (mode === "exact") return actual === expected;
  if (mode === "lines") {
    const a = lines(actual);
    const e = lines(expected);
    return a.length === e.length && a.every((l, i) => l === e[i]);
  }
  const a = tokens(actual);
  const e = tokens(expected);
  if (a.length !== e.length) return false;
  if (mode === "tokens") return a.every((t, i) => t === e[i]);
  return a.every((t, i) => closeEnough(t, e[i]!, mode.absError, mode.relError));
}

export type CheckerVerdict = { verdict: "accepted" | "wrong_answer" | "internal_error"; message: string };

/**
 * testlib's exit codes: 0 accepted, 1 wrong answer, 2 presentation error
 * (reported as wrong_answer), 3 the checker failed; anything else, a signal
 * or a limit is the checker's failure too: internal_error, never a verdict
 * against the program.
 */
export function checkerVerdict(exitCode: number | null, stderr: string, failure?: string): CheckerVerdict {
  const said = stderr.trim().slice(0, 4096);
  if (failure) return { verdict: "internal_error", message: `checker: ${failure}${said ? `: ${said}` : ""}` };
  if (exitCode === 0) return { verdict: "accepted", message: said };
  if (exitCode === 1) return { verdict: "wrong_answer", message: said };
  if (exitCode === 2) return { verdict: "wrong_answer", message: `presentation error${said ? `: ${said}` : ""}` };
  return { verdict: "internal_error", message: `checker failed (exit ${exitCode})${said ? `: ${said}` : ""}` };
}

/** A glob over /box paths: * and ? never cross a "/". */
export function globToRegExp(glob: string): RegExp {
  const re = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, "[^/]*")
    .replace(/\?/g, "[^/]");
  return new RegExp(`^${re}$`);
}

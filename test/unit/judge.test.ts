// worker/judge.ts on its own: every compare mode with its edge cases, the
// testlib exit codes of a checker, and the collect globs. No sandbox.
import { describe, expect, it } from "vitest";
import { checkerVerdict, globToRegExp, sameOutput } from "../../worker/judge.js";
import type { Compare } from "../../core/schemas.js";

const float = (absError: number, relError: number): Compare => ({ mode: "float", absError, relError });

describe("sameOutput: lines (the default)", () => {
  const same = (a: string, e: string) => sameOutput(a, e, "lines");

  it("is the default mode", () => {
    expect(sameOutput("3  \n", "3")).toBe(true);
    expect(sameOutput("3\n", "4\n")).toBe(false);
    expect(sameOutput("1 2\n", "1\n2\n")).toBe(false); // not tokens
  });

  it("a trailing newline present or absent does not count", () => {
    expect(same("3", "3\n")).toBe(true);
    expect(same("3\n", "3")).toBe(true);
    expect(same("1\n2", "1\n2\n")).toBe(true);
  });

  it("trailing spaces and tabs on each line do not count; leading ones and inner ones do", () => {
    expect(same("1 2   \n3\t\n", "1 2\n3\n")).toBe(true);
    expect(same("1 2\n3\n", "1 2  \n3 \t \n")).toBe(true);
    expect(same(" 1 2\n", "1 2\n")).toBe(false);
    expect(same("1  2\n", "1 2\n")).toBe(false);
  });

  it("CRLF equals LF (a trailing \\r is ignored), an inner \\r is not", () => {
    expect(same("1\r\n2\r\n", "1\n2\n")).toBe(true);
    expect(same("1\n2\n", "1\r\n2\r\n")).toBe(true);
    expect(same("1\r2\n", "12\n")).toBe(false);
    expect(same("1\r2\n", "1\n2\n")).toBe(false);
  });

  it("blank lines at the end do not count, anywhere else they do", () => {
    expect(same("3\n\n\n", "3\n")).toBe(true);
    expect(same("3\n  \n\t\n\r\n", "3")).toBe(true);
    expect(same("", "\n\n")).toBe(true);
    expect(same("\n3\n", "3\n")).toBe(false);
    expect(same("1\n\n2\n", "1\n2\n")).toBe(false);
  });

  it("a missing or extra line is a difference, as is an empty output for a non-empty answer", () => {
    expect(same("1\n", "1\n2\n")).toBe(false);
    expect(same("1\n2\n3\n", "1\n2\n")).toBe(false);
    expect(same("", "0\n")).toBe(false);
  });

  it("tokens across line breaks are not equal lines", () => {
    expect(same("1\n2\n", "1 2\n")).toBe(false);
  });
});

describe("sameOutput: exact", () => {
  const same = (a: string, e: string) => sameOutput(a, e, "exact");

  it("compares byte for byte", () => {
    expect(same("3\n", "3\n")).toBe(true);
    expect(same("", "")).toBe(true);
    expect(same("3", "3\n")).toBe(false);
    expect(same("3\n", "3")).toBe(false);
    expect(same("3 \n", "3\n")).toBe(false);
    expect(same("3\n\n", "3\n")).toBe(false);
  });

  it("CRLF is not LF", () => {
    expect(same("3\r\n", "3\n")).toBe(false);
    expect(same("3\n", "3\r\n")).toBe(false);
    expect(same("3\r\n", "3\r\n")).toBe(true);
  });
});

describe("sameOutput: tokens", () => {
  const same = (a: string, e: string) => sameOutput(a, e, "tokens");

  it("tokens may move across line breaks, spaces, tabs and CRs", () => {
    expect(same("1\n2\n3\n", "1 2 3")).toBe(true);
    expect(same("  1\t2\r\n\n3  ", "1 2 3\n")).toBe(true);
    expect(same("", "\n \n")).toBe(true);
  });

  it("a token count mismatch is a difference", () => {
    expect(same("1 2", "1 2 3")).toBe(false);
    expect(same("1 2 3 4", "1 2 3")).toBe(false);
    expect(same("", "0")).toBe(false);
  });

  it("tokens compare as strings: no numeric or case equivalence, order matters", () => {
    expect(same("1.0", "1")).toBe(false);
    expect(same("01", "1")).toBe(false);
    expect(same("YES", "yes")).toBe(false);
    expect(same("2 1", "1 2")).toBe(false);
    expect(same("12", "1 2")).toBe(false);
  });
});

describe("sameOutput: float", () => {
  it("within the absolute error, boundary included (values exact in binary)", () => {
    const m = float(0.5, 0);
    expect(sameOutput("0.5", "0", m)).toBe(true);
    expect(sameOutput("-0.5", "0", m)).toBe(true);
    expect(sameOutput("0.5000001", "0", m)).toBe(false);
    expect(sameOutput("-0.5000001", "0", m)).toBe(false);
    expect(sameOutput("100.25", "100", m)).toBe(true); // absolute, whatever the magnitude
    expect(sameOutput("100.75", "100", m)).toBe(false);
  });

  it("within the relative error of the expected value, boundary included", () => {
    const m = float(0, 0.25);
    expect(sameOutput("10", "8", m)).toBe(true); // |10 - 8| = 2 = 0.25 * 8
    expect(sameOutput("6", "8", m)).toBe(true);
    expect(sameOutput("-10", "-8", m)).toBe(true);
    expect(sameOutput("10.0001", "8", m)).toBe(false);
    expect(sameOutput("5.9999", "8", m)).toBe(false);
    // relative to the expected value, not the output: 8 is 20% of 10 away from 10, 25% of 8 away from 8
    expect(sameOutput("8", "10", float(0, 0.2))).toBe(true);
    expect(sameOutput("10", "8", float(0, 0.2))).toBe(false);
    // a relative error alone never forgives anything around an expected 0
    expect(sameOutput("0.000001", "0", m)).toBe(false);
    expect(sameOutput("0", "0", m)).toBe(true);
  });

  it("either error is enough", () => {
    const m = float(1e-3, 1e-6);
    expect(sameOutput("0.3336", "0.3333", m)).toBe(true); // absolute
    expect(sameOutput("1000000.9", "1000000", m)).toBe(true); // relative: 0.9 <= 1
    expect(sameOutput("1000001.1", "1000000", m)).toBe(false);
    expect(sameOutput("0.3345", "0.3333", m)).toBe(false);
  });

  it("with no tolerance, numerically equal spellings are still equal", () => {
    const m = float(0, 0);
    expect(sameOutput("1.000", "1", m)).toBe(true);
    expect(sameOutput("1e3", "1000", m)).toBe(true);
    expect(sameOutput("-0", "0", m)).toBe(true);
    expect(sameOutput("1.0001", "1", m)).toBe(false);
  });

  it("non-numeric tokens compare exactly, token by token", () => {
    const m = float(1e-3, 1e-3);
    expect(sameOutput("YES 0.3333", "YES 0.3334", m)).toBe(true);
    expect(sameOutput("yes 0.3333", "YES 0.3333", m)).toBe(false);
    expect(sameOutput("abc", "abd", m)).toBe(false);
    expect(sameOutput("one", "1", m)).toBe(false);
    expect(sameOutput("1", "one", m)).toBe(false);
  });

  it("NaN and infinities: only the identical token matches, never a number", () => {
    const m = float(1e-6, 1e-6);
    expect(sameOutput("nan", "nan", m)).toBe(true);
    expect(sameOutput("inf", "inf", m)).toBe(true);
    expect(sameOutput("-inf", "inf", m)).toBe(false);
    expect(sameOutput("nan", "0", m)).toBe(false);
    expect(sameOutput("0", "nan", m)).toBe(false);
    expect(sameOutput("NaN", "NaN", m)).toBe(true);
    expect(sameOutput("Infinity", "1e308", m)).toBe(false);
    expect(sameOutput("1e309", "1e308", m)).toBe(false); // overflows to Infinity
    expect(sameOutput("Infinity", "Infinity", m)).toBe(true);
  });

  it("tokens across line breaks; a token count mismatch is a difference", () => {
    const m = float(1e-3, 0);
    expect(sameOutput("1.0001\n2.0001\r\n", "1 2", m)).toBe(true);
    expect(sameOutput("1 2", "1 2 3", m)).toBe(false);
    expect(sameOutput("1 2 3", "1 2", m)).toBe(false);
    expect(sameOutput("", "0", m)).toBe(false);
  });

  it("each token is judged on its own: one out of tolerance fails the output", () => {
    const m = float(0.01, 0);
    expect(sameOutput("1.005 2.005 3.005", "1 2 3", m)).toBe(true);
    expect(sameOutput("1.005 2.02 3.005", "1 2 3", m)).toBe(false);
  });
});

describe("checkerVerdict: testlib exit codes", () => {
  it("0 accepted, with the checker's stderr (trimmed) as the message", () => {
    expect(checkerVerdict(0, "ok 3 numbers\n")).toEqual({ verdict: "accepted", message: "ok 3 numbers" });
    expect(checkerVerdict(0, "")).toEqual({ verdict: "accepted", message: "" });
  });

  it("1 wrong answer, with the stderr", () => {
    expect(checkerVerdict(1, "  wrong answer expected 5, found 6\n")).toEqual({
      verdict: "wrong_answer",
      message: "wrong answer expected 5, found 6",
    });
  });

  it("2 presentation error: wrong_answer, said so in the message", () => {
    const v = checkerVerdict(2, "extra output\n");
    expect(v.verdict).toBe("wrong_answer");
    expect(v.message).toMatch(/presentation error/);
    expect(v.message).toContain("extra output");
    expect(checkerVerdict(2, "").message).toMatch(/presentation error/);
  });

  it("3 (the checker failed) is internal_error, never a verdict against the program", () => {
    const v = checkerVerdict(3, "FAIL bad answer file\n");
    expect(v.verdict).toBe("internal_error");
    expect(v.message).toContain("FAIL bad answer file");
    expect(v.message).toMatch(/\b3\b/);
  });

  it.each([4, 7, 42, 127, 255, -1])("exit %i is internal_error naming the code", (code) => {
    const v = checkerVerdict(code, "");
    expect(v.verdict).toBe("internal_error");
    expect(v.message).toContain(String(code));
  });

  it("no exit code (killed by a signal) or a failure to run is internal_error, the failure winning over any exit code", () => {
    expect(checkerVerdict(null, "", "killed by signal 9")).toEqual({
      verdict: "internal_error",
      message: expect.stringContaining("killed by signal 9"),
    });
    expect(checkerVerdict(null, "").verdict).toBe("internal_error");
    const tle = checkerVerdict(0, "half a verdict\n", "time_limit_exceeded");
    expect(tle.verdict).toBe("internal_error");
    expect(tle.message).toMatch(/checker/);
    expect(tle.message).toContain("time_limit_exceeded");
    expect(tle.message).toContain("half a verdict");
    expect(checkerVerdict(1, "", "memory_limit_exceeded").verdict).toBe("internal_error");
  });

  it("a huge stderr is cut", () => {
    const v = checkerVerdict(1, "x".repeat(100_000));
    expect(v.verdict).toBe("wrong_answer");
    expect(v.message.length).toBeGreaterThan(0);
    expect(v.message.length).toBeLessThanOrEqual(8192);
  });
});

describe("globToRegExp", () => {
  const m = (glob: string, path: string) => globToRegExp(glob).test(path);

  it("* matches within one path part, never across '/'", () => {
    expect(m("out/*.txt", "out/a.txt")).toBe(true);
    expect(m("out/*.txt", "out/long-name.txt")).toBe(true);
    expect(m("out/*.txt", "out/.txt")).toBe(true);
    expect(m("out/*.txt", "out/sub/a.txt")).toBe(false);
    expect(m("out/*.txt", "out/a.txt/b.txt")).toBe(false);
    expect(m("*.xml", "report.xml")).toBe(true);
    expect(m("*.xml", "dir/report.xml")).toBe(false);
    expect(m("*/x", "a/x")).toBe(true);
    expect(m("*/x", "a/b/x")).toBe(false);
    expect(m("*", "a")).toBe(true);
    expect(m("*", "a/b")).toBe(false);
  });

  it("? matches exactly one character, never '/'", () => {
    expect(m("a?.txt", "ab.txt")).toBe(true);
    expect(m("a?.txt", "a.txt")).toBe(false);
    expect(m("a?.txt", "abc.txt")).toBe(false);
    expect(m("a?c", "a/c")).toBe(false);
    expect(m("??", "ab")).toBe(true);
    expect(m("??", "a")).toBe(false);
  });

  it("is anchored at both ends", () => {
    expect(m("out/*.txt", "x/out/a.txt")).toBe(false);
    expect(m("out/*.txt", "out/a.txt.bak")).toBe(false);
    expect(m("report.xml", "report.xml")).toBe(true);
    expect(m("report.xml", "old-report.xml")).toBe(false);
  });

  it("dots and other regular-expression characters are literal", () => {
    expect(m("out/*.txt", "out/atxt")).toBe(false);
    expect(m("out/*.txt", "out/a_txt")).toBe(false);
    expect(m("a.b", "axb")).toBe(false);
    expect(m("a+b(1)[2]{3}$^|\\.txt", "a+b(1)[2]{3}$^|\\.txt")).toBe(true);
    expect(m("a+b", "aab")).toBe(false);
    expect(m("[ab].txt", "a.txt")).toBe(false);
    expect(m("x(1|2)", "x1")).toBe(false);
  });
});

// Online judging through HTTP (issue 5's acceptance): a+b in C++ with every
// verdict a test can get, the run's verdict and usage over its tests, results
// in test order while tests run in parallel, each compare mode, a custom
// checker and a testlib checker (with the minimal testlib.h of
// test/fixtures/judge), stopOnFirstFailure, and the request's validation.
// One private stack (embedded Redis, API, a worker in this process with the
// harness's 2 slots) for the file; runs go one at a time.
//
// Programs are in test/fixtures/judge: ab.cpp picks its behaviour from its
// input (a == 0 spins, a == -1 exits 3, a == -2 aborts, a third number sleeps
// that many ms, a fourth touches that many MiB) and writes its start and end
// times to stderr. Expected outputs are computed from the inputs.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunResult, Stage } from "../../core/schemas.js";
import { startStack, type Reply, type Stack } from "../helpers/service.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/judge/${name}`, import.meta.url), "utf8");
const AB = fixture("ab.cpp");
const TESTLIB_H = fixture("testlib.h");
const AB_CHECKER = fixture("ab-checker.cpp");
const PERM_CHECKER = fixture("perm-checker.cpp");

/** A test of a+b: its input, and the sum as the expected output unless `expected` is given. */
const ab = (a: number, b: number, extra: number[] = [], expected?: string) => ({
  stdin: `${[a, b, ...extra].join(" ")}\n`,
  expectedOutput: expected ?? `${a + b}\n`,
});

const verdicts = (r: RunResult) => (r.tests ?? []).map((t) => t.verdict);
const show = (r: RunResult) => JSON.stringify(r, null, 1).slice(0, 4000);
const issuePaths = (r: Reply): string[] => (r.json?.issues ?? []).map((i: { path: string }) => i.path);
/** The "start=NS end=NS" line ab.cpp writes to stderr. */
function span(t: Stage): { start: bigint; end: bigint } {
  const m = /start=(\d+) end=(\d+)/.exec(t.stderr);
  if (!m) throw new Error(`no times in stderr: ${JSON.stringify(t)}`);
  return { start: BigInt(m[1]!), end: BigInt(m[2]!) };
}

let s: Stack;
beforeAll(async () => {
  s = await startStack({ worker: "inprocess" });
});
afterAll(async () => {
  await s?.stop();
});

describe("a+b in C++: verdicts per test and for the run", () => {
  it("all tests accepted: the run is accepted, each test has its output and usage", async () => {
    const tests = [ab(1, 2), ab(-7, 1000000000000), ab(123456789, 987654321)];
    const r = await s.run({ language: "cpp", source: AB, tests });
    expect(r.verdict, show(r)).toBe("accepted");
    expect(r.compile?.verdict).toBe("ok");
    expect(r.run).toBeNull();
    expect(verdicts(r)).toEqual(["accepted", "accepted", "accepted"]);
    expect(r.tests!.map((t) => t.stdout)).toEqual(tests.map((t) => t.expectedOutput));
    for (const t of r.tests!) {
      expect(t).toMatchObject({ exitCode: 0, signal: null });
      // (not wallMs > 0: a program this short can be reported as 0 ms on a busy host, see supervise.c's timing)
      expect(t.usage).toEqual({ cpuMs: expect.any(Number), wallMs: expect.any(Number), memoryKb: expect.any(Number) });
      expect(t.usage.memoryKb).toBeGreaterThan(0);
    }
  });

  it("one wrong answer among accepted tests: that test is wrong_answer, so is the run", async () => {
    const tests = [ab(1, 2), ab(2, 2, [], "5\n"), ab(3, 4)];
    const r = await s.run({ language: "cpp", source: AB, tests });
    expect(r.verdict, show(r)).toBe("wrong_answer");
    expect(verdicts(r)).toEqual(["accepted", "wrong_answer", "accepted"]);
    expect(r.tests![1]!.stdout).toBe("4\n"); // the program's own output, for the user to see
    expect(r.tests![1]!.exitCode).toBe(0);
  });

  it("time_limit_exceeded on exactly one test; the others keep their own verdicts", async () => {
    const t0 = Date.now();
    const tests = [ab(1, 2), ab(0, 5), ab(2, 2, [], "5\n"), ab(-1, 9), ab(40, 2)];
    const r = await s.run({ language: "cpp", source: AB, tests, limits: { cpuMs: 1000, wallMs: 10_000 } });
    console.log(`judge: a run with one spinning test: ${Date.now() - t0} ms`);
    expect(verdicts(r), show(r)).toEqual([
      "accepted",
      "time_limit_exceeded",
      "wrong_answer",
      "runtime_error",
      "accepted",
    ]);
    // the run's verdict is the first non-accepted test's, not the worst or the first to finish
    expect(r.verdict).toBe("time_limit_exceeded");
    expect(r.tests![1]!.usage.cpuMs).toBeGreaterThanOrEqual(900);
    expect(r.tests![1]!.stdout).toBe("");
    expect(r.tests![4]!.stdout).toBe("42\n");
  });

  it("runtime_error: a non-zero exit or a signal, the status reported", async () => {
    const r = await s.run({ language: "cpp", source: AB, tests: [ab(5, 5), ab(-1, 0), ab(-2, 0)] });
    expect(verdicts(r), show(r)).toEqual(["accepted", "runtime_error", "runtime_error"]);
    expect(r.verdict).toBe("runtime_error");
    expect(r.tests![1]).toMatchObject({ exitCode: 3, signal: null });
    expect(r.tests![2]!.signal).toBe(6); // SIGABRT
  });

  it("the run's verdict is the first non-accepted test in order", async () => {
    // a runtime error (fast) after a wrong answer, and one before a time limit (slow)
    const a = await s.run({ language: "cpp", source: AB, tests: [ab(1, 1), ab(1, 1, [], "3\n"), ab(-1, 0)] });
    expect(verdicts(a), show(a)).toEqual(["accepted", "wrong_answer", "runtime_error"]);
    expect(a.verdict).toBe("wrong_answer");
    const b = await s.run({
      language: "cpp",
      source: AB,
      tests: [ab(-1, 0), ab(0, 0), ab(1, 1, [], "3\n")],
      limits: { cpuMs: 500 },
    });
    expect(verdicts(b), show(b)).toEqual(["runtime_error", "time_limit_exceeded", "wrong_answer"]);
    expect(b.verdict).toBe("runtime_error");
  });

  it("compile_error: the compiler's message, no test run", async () => {
    const r = await s.run({
      language: "cpp",
      source: `${AB}\nint broken() { return "s"; }\n`,
      tests: [ab(1, 2), ab(3, 4)],
    });
    expect(r.verdict, show(r)).toBe("compile_error");
    expect(r.compile!.verdict).toBe("compile_error");
    expect(r.compile!.stderr).toMatch(/main\.cpp:\d+:\d+: error:/);
    expect(r.run).toBeNull();
    // no test ran: absent, or every one skipped
    for (const t of r.tests ?? []) expect(t).toMatchObject({ verdict: "skipped", exitCode: null, stdout: "" });
  });

  it("results come back in test order while tests run in parallel; usage at the top is the max over tests", async () => {
    // Sleeps in reverse order: run in parallel, later tests finish first.
    // Test 2 also touches 48 MiB, so the maxima come from different tests.
    const tests = [ab(1, 10, [1500]), ab(2, 20, [1000]), ab(3, 30, [500, 48]), ab(4, 40)];
    const t0 = Date.now();
    const r = await s.run({ language: "cpp", source: AB, tests });
    console.log(`judge: 4 sleeping tests (3 s in sequence): ${Date.now() - t0} ms`);
    expect(verdicts(r), show(r)).toEqual(["accepted", "accepted", "accepted", "accepted"]);
    expect(r.tests!.map((t) => t.stdout)).toEqual(["11\n", "22\n", "33\n", "44\n"]);
    const spans = r.tests!.map(span);
    // parallel: some test finished before an earlier one did
    const reordered = spans.some((x, i) => spans.slice(i + 1).some((y) => y.end < x.end));
    expect(reordered, `finish times ${spans.map((x) => x.end)}`).toBe(true);
    // and two of them overlapped
    expect(spans[1]!.start < spans[0]!.end, "tests 0 and 1 overlapped").toBe(true);

    const max = (k: "cpuMs" | "wallMs" | "memoryKb") => Math.max(...r.tests!.map((t) => t.usage[k]));
    expect(r.usage).toEqual({ cpuMs: max("cpuMs"), wallMs: max("wallMs"), memoryKb: max("memoryKb") });
    expect(r.usage!.wallMs).toBe(r.tests![0]!.usage.wallMs);
    // (loose: the sandbox starts its wall clock when it reads the program's start, which can be late on a busy host)
    expect(r.usage!.wallMs).toBeGreaterThanOrEqual(1000);
    expect(r.usage!.memoryKb).toBe(r.tests![2]!.usage.memoryKb);
    expect(r.usage!.memoryKb).toBeGreaterThanOrEqual(48 * 1024);
  });
});

describe("compare modes", () => {
  // a+b printing CRLF line ends
  const CRLF =
    '#include <stdio.h>\nint main(void) { long long a, b; scanf("%lld %lld", &a, &b); printf("%lld\\r\\n", a + b); return 0; }\n';
  // prints its input back, byte for byte: each test is an (output, expected) pair
  const ECHO = "#include <stdio.h>\nint main(void) { int c; while ((c = getchar()) != EOF) putchar(c); return 0; }\n";
  // a / b with six decimals
  const DIV =
    '#include <stdio.h>\nint main(void) { double a, b; scanf("%lf %lf", &a, &b); printf("%.6f\\n", a / b); return 0; }\n';
  const pairs = (p: [output: string, expected: string][]) =>
    p.map(([stdin, expectedOutput]) => ({ stdin, expectedOutput }));

  it('CRLF output: "exact" fails where "lines" (and the default) passes', async () => {
    const tests = [ab(1, 2), ab(20, 22)];
    const exact = await s.run({ language: "c", source: CRLF, compare: "exact", tests });
    expect(verdicts(exact), show(exact)).toEqual(["wrong_answer", "wrong_answer"]);
    expect(exact.tests![0]!.stdout).toBe("3\r\n");
    const lines = await s.run({ language: "c", source: CRLF, compare: "lines", tests });
    expect(verdicts(lines), show(lines)).toEqual(["accepted", "accepted"]);
    const dflt = await s.run({ language: "c", source: CRLF, tests });
    expect(dflt.verdict, show(dflt)).toBe("accepted");
    // exact passes an exact match
    const exactCr = await s.run({
      language: "c",
      source: CRLF,
      compare: "exact",
      tests: [{ stdin: "1 2", expectedOutput: "3\r\n" }],
    });
    expect(exactCr.verdict, show(exactCr)).toBe("accepted");
  });

  it("exact: trailing newline, spaces and blank lines all count", async () => {
    const r = await s.run({
      language: "c",
      source: ECHO,
      compare: "exact",
      tests: pairs([
        ["3\n", "3\n"],
        ["3", "3\n"],
        ["3 \n", "3\n"],
        ["3\n\n", "3\n"],
      ]),
    });
    expect(verdicts(r), show(r)).toEqual(["accepted", "wrong_answer", "wrong_answer", "wrong_answer"]);
  });

  it("lines: trailing newline, trailing spaces, CRLF and trailing blank lines do not count; the rest does", async () => {
    const r = await s.run({
      language: "c",
      source: ECHO,
      compare: "lines",
      tests: pairs([
        ["3", "3\n"],
        ["1 2  \t\n3\n", "1 2\n3\n"],
        ["1\r\n2\r\n", "1\n2\n"],
        ["3\n\n \n", "3\n"],
        [" 3\n", "3\n"],
        ["1 2\n", "1\n2\n"],
        ["1\n\n2\n", "1\n2\n"],
      ]),
    });
    expect(verdicts(r), show(r)).toEqual([
      "accepted",
      "accepted",
      "accepted",
      "accepted",
      "wrong_answer",
      "wrong_answer",
      "wrong_answer",
    ]);
  });

  it("tokens: whitespace of any kind between tokens; count and spelling matter", async () => {
    const r = await s.run({
      language: "c",
      source: ECHO,
      compare: "tokens",
      tests: pairs([
        ["1\n2\r\n\n  3 ", "1 2 3\n"],
        ["1 2", "1 2 3"],
        ["1.0 2", "1 2"],
        ["YES", "yes"],
      ]),
    });
    expect(verdicts(r), show(r)).toEqual(["accepted", "wrong_answer", "wrong_answer", "wrong_answer"]);
  });

  it("float {absError: 1e-3, relError: 0}: within the absolute error only; the default tolerances differ", async () => {
    // a / b printed with six decimals: 1/3 = 0.333333, 1000000/3 = 333333.333333
    const tests = [
      { stdin: "1 3", expectedOutput: "0.3333\n" }, // off by 3.3e-5
      { stdin: "1 3", expectedOutput: "0.3346\n" }, // off by 1.27e-3
      { stdin: "2 3", expectedOutput: "0.667" }, // off by 3.3e-4
      { stdin: "1000000 3", expectedOutput: "333333.3343" }, // off by 9.7e-4
      { stdin: "1000000 3", expectedOutput: "333333.3350" }, // off by 1.67e-3: only a relative error forgives it
      { stdin: "1 4", expectedOutput: "0.25 extra" }, // a token more than the output
    ];
    const r = await s.run({
      language: "c",
      source: DIV,
      compare: { mode: "float", absError: 1e-3, relError: 0 },
      tests,
    });
    expect(verdicts(r), show(r)).toEqual([
      "accepted",
      "wrong_answer",
      "accepted",
      "accepted",
      "wrong_answer",
      "wrong_answer",
    ]);
    expect(r.tests![0]!.stdout).toBe("0.333333\n");
    // defaults 1e-6 / 1e-6: the small absolute misses fail, the large value passes relatively
    const d = await s.run({ language: "c", source: DIV, compare: { mode: "float" }, tests });
    expect(verdicts(d), show(d)).toEqual([
      "wrong_answer",
      "wrong_answer",
      "wrong_answer",
      "accepted",
      "accepted",
      "wrong_answer",
    ]);
  });
});

describe("checkers", () => {
  // prints n..1: a permutation, never the expected 1..n (except for n = 1)
  const REVERSE =
    '#include <cstdio>\nint main() { int n; std::scanf("%d", &n); for (int i = n; i >= 1; i--) std::printf("%d ", i); std::printf("\\n"); }\n';
  // prints 1 n times: a permutation only when n = 1
  const ONES =
    '#include <cstdio>\nint main() { int n; std::scanf("%d", &n); for (int i = 0; i < n; i++) std::printf("1\\n"); }\n';
  const permTests = (ns: number[]) =>
    ns.map((n) => ({ stdin: `${n}\n`, expectedOutput: `${Array.from({ length: n }, (_, i) => i + 1).join(" ")}\n` }));
  const permChecker = { language: "cpp", source: PERM_CHECKER };

  it("a custom C++ checker accepts any valid permutation, though the output differs from the answer", async () => {
    const tests = permTests([1, 5, 100]);
    const r = await s.run({ language: "cpp", source: REVERSE, tests, checker: permChecker });
    expect(verdicts(r), show(r)).toEqual(["accepted", "accepted", "accepted"]);
    expect(r.verdict).toBe("accepted");
    expect(r.tests![1]!.stdout.trim()).toBe("5 4 3 2 1");
    // without the checker the same outputs are wrong answers: the checker decided
    const plain = await s.run({ language: "cpp", source: REVERSE, tests });
    expect(verdicts(plain), show(plain)).toEqual(["accepted", "wrong_answer", "wrong_answer"]);
  });

  it("a non-permutation is wrong_answer with the checker's stderr as the test's message", async () => {
    const r = await s.run({ language: "cpp", source: ONES, tests: permTests([1, 4]), checker: permChecker });
    expect(verdicts(r), show(r)).toEqual(["accepted", "wrong_answer"]);
    expect(r.verdict).toBe("wrong_answer");
    expect(r.tests![1]!.message).toBe("not a permutation: 1 appears twice");
    expect(r.tests![1]!.stdout).toBe("1\n1\n1\n1\n"); // the program's output, not the checker's
  });

  describe("testlib.h sent among the checker's files", () => {
    const testlibChecker = {
      language: "cpp",
      files: [
        { path: "main.cpp", content: AB_CHECKER },
        { path: "testlib.h", content: TESTLIB_H },
      ],
    };
    // a * b: right when a = b = 2; "many" (not a number) when a > b
    const MUL =
      '#include <iostream>\nint main() { long long a, b; std::cin >> a >> b; if (a > b) std::cout << "many\\n"; else std::cout << a * b << "\\n"; }\n';

    it("accepted: the checker's ok line is the message", async () => {
      const r = await s.run({ language: "cpp", source: AB, tests: [ab(2, 3), ab(1000, 24)], checker: testlibChecker });
      expect(verdicts(r), show(r)).toEqual(["accepted", "accepted"]);
      expect(r.tests!.map((t) => t.message)).toEqual(["ok 2 + 3 = 5", "ok 1000 + 24 = 1024"]);
    });

    it("quitf(_wa) is wrong_answer with its message; a read failure on the output (_pe) is wrong_answer as a presentation error", async () => {
      const r = await s.run({
        language: "cpp",
        source: MUL,
        tests: [ab(2, 2), ab(2, 3), ab(3, 2)],
        checker: testlibChecker,
      });
      expect(verdicts(r), show(r)).toEqual(["accepted", "wrong_answer", "wrong_answer"]);
      expect(r.verdict).toBe("wrong_answer");
      expect(r.tests![1]!.message).toBe("wrong answer expected 5, found 6");
      expect(r.tests![2]!.message).toMatch(/presentation error/);
      expect(r.tests![2]!.message).toContain("found 'many'");
    });

    it("a checker exiting 3 (_fail: the answer file contradicts the input) is internal_error, never a verdict against the program", async () => {
      const r = await s.run({
        language: "cpp",
        source: AB,
        tests: [ab(2, 3), ab(1, 1, [], "3\n"), ab(4, 4)],
        checker: testlibChecker,
      });
      expect(verdicts(r), show(r)).toEqual(["accepted", "internal_error", "accepted"]);
      expect(r.verdict).toBe("internal_error");
      expect(r.tests![1]!.message).toContain("FAIL the answer file says 3, but 1 + 1 = 2");
      expect(r.tests![1]!.stdout).toBe("2\n");
      expect(r.message).toContain("FAIL the answer file says 3");
    });
  });

  it("a checker that does not compile: internal_error naming the checker and the compiler's error; no test judged", async () => {
    const r = await s.run({
      language: "cpp",
      source: AB,
      tests: [ab(1, 2)],
      checker: { language: "cpp", source: "int main(int argc, char **argv) { return undeclared_name; }\n" },
    });
    expect(r.verdict, show(r)).toBe("internal_error");
    expect(r.message).toMatch(/checker/);
    expect(r.message).toContain("undeclared_name");
    expect(r.compile?.verdict).toBe("ok"); // the program itself compiled
    for (const t of r.tests ?? []) expect(t.verdict).toBe("skipped");
  });
});

describe("stopOnFirstFailure", () => {
  it("tests after the first failure are skipped; without it they run", async () => {
    const tests = [ab(1, 1), ab(2, 2, [], "5\n"), ab(3, 3), ab(-1, 0)];
    const r = await s.run({ language: "cpp", source: AB, tests, stopOnFirstFailure: true });
    expect(verdicts(r), show(r)).toEqual(["accepted", "wrong_answer", "skipped", "skipped"]);
    expect(r.verdict).toBe("wrong_answer");
    for (const t of r.tests!.slice(2))
      expect(t).toMatchObject({ exitCode: null, signal: null, stdout: "", stderr: "" });
    const all = await s.run({ language: "cpp", source: AB, tests, stopOnFirstFailure: false });
    expect(verdicts(all), show(all)).toEqual(["accepted", "wrong_answer", "accepted", "runtime_error"]);
  });

  it("a time limit stops the run too; all accepted skips nothing", async () => {
    const r = await s.run({
      language: "cpp",
      source: AB,
      tests: [ab(0, 1), ab(1, 1)],
      stopOnFirstFailure: true,
      limits: { cpuMs: 500 },
    });
    expect(verdicts(r), show(r)).toEqual(["time_limit_exceeded", "skipped"]);
    const ok = await s.run({ language: "cpp", source: AB, tests: [ab(1, 1), ab(2, 2)], stopOnFirstFailure: true });
    expect(verdicts(ok), show(ok)).toEqual(["accepted", "accepted"]);
  });
});

describe("validation", () => {
  it("a checker without tests is a 400 naming checker", async () => {
    const r = await s.post("/v1/runs", {
      language: "cpp",
      source: AB,
      checker: { language: "cpp", source: PERM_CHECKER },
    });
    expect(r.status, r.text).toBe(400);
    expect(issuePaths(r)).toContain("checker");
  });

  it("collect with tests is a 400 naming collect", async () => {
    const r = await s.post("/v1/runs", { language: "cpp", source: AB, tests: [ab(1, 2)], collect: ["out.txt"] });
    expect(r.status, r.text).toBe(400);
    expect(issuePaths(r)).toContain("collect");
  });

  it("a bad compare mode or a negative tolerance is a 400 naming compare", async () => {
    for (const compare of ["fuzzy", { mode: "float", absError: -1 }, { mode: "exact" }]) {
      const r = await s.post("/v1/runs", { language: "cpp", source: AB, tests: [ab(1, 2)], compare });
      expect(r.status, `${JSON.stringify(compare)}: ${r.text}`).toBe(400);
      expect(
        issuePaths(r).some((p) => p.startsWith("compare")),
        r.text,
      ).toBe(true);
    }
  });
});

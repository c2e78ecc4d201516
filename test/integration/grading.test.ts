// Grading CI through HTTP (issue 5's acceptance): a whole project in `files`,
// a shell `command` instead of the language's run command, and `collect`
// copying files out of the sandbox (base64 in the result's files), exact
// paths and * globs, never following a symlink. A Python project with pytest
// and a C project with a Makefile. One private stack for the file.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunResult } from "../../core/schemas.js";
import { startStack, type Stack } from "../helpers/service.js";

type Collected = NonNullable<RunResult["files"]>[number];

const show = (r: RunResult) => JSON.stringify(r, null, 1).slice(0, 4000);
const decode = (f: Collected | undefined) =>
  f?.content === undefined ? undefined : Buffer.from(f.content, "base64").toString("utf8");
const byPath = (r: RunResult, path: string) => (r.files ?? []).find((f) => f.path === path);
/** The testcase names of a JUnit XML report, and the counts on its testsuite. */
function junit(xml: string): { names: string[]; tests: number; failures: number } {
  const names = [...xml.matchAll(/<testcase\b[^>]*\bname="([^"]+)"/g)].map((m) => m[1]!);
  const attr = (k: string) => Number(/<testsuite\b[^>]*/.exec(xml)?.[0].match(new RegExp(`\\b${k}="(\\d+)"`))?.[1]);
  return { names, tests: attr("tests"), failures: attr("failures") };
}

let s: Stack;
beforeAll(async () => {
  s = await startStack({ worker: "inprocess" });
});
afterAll(async () => {
  await s?.stop();
});

describe("a Python project with pytest", () => {
  const calc = { path: "calc.py", content: "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n" };
  const project = (tests: string[]) => [
    calc,
    {
      path: "tests/test_calc.py",
      content: `import sys, os\nsys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))\nfrom calc import add, mul\n\n${tests.join("\n\n")}\n`,
    },
  ];
  const command = "python3 -m pytest -q --junitxml=report.xml";

  it("passing tests: exit 0, report.xml collected naming every test", async () => {
    const names = ["test_add", "test_mul", "test_add_negative"];
    const r = await s.run({
      language: "python",
      files: project([
        "def test_add():\n    assert add(2, 3) == 5",
        "def test_mul():\n    assert mul(4, 5) == 20",
        "def test_add_negative():\n    assert add(-2, -3) == -5",
      ]),
      command,
      collect: ["report.xml"],
    });
    expect(r.verdict, show(r)).toBe("ok");
    expect(r.run!.exitCode).toBe(0);
    expect(r.run!.stdout).toMatch(/3 passed/);
    expect(r.files?.map((f) => f.path)).toEqual(["report.xml"]);
    const xml = decode(byPath(r, "report.xml"));
    expect(xml, show(r)).toMatch(/^<\?xml/);
    const rep = junit(xml!);
    expect(rep.names.sort()).toEqual([...names].sort());
    expect(rep).toMatchObject({ tests: 3, failures: 0 });
  });

  it("a failing test: the run's exit is non-zero (runtime_error), the report still collected naming the failure", async () => {
    const r = await s.run({
      language: "python",
      files: project([
        "def test_add():\n    assert add(2, 3) == 5",
        "def test_mul_wrong():\n    assert mul(2, 2) == 5",
      ]),
      command,
      collect: ["report.xml"],
    });
    expect(r.verdict, show(r)).toBe("runtime_error");
    expect(r.run!.exitCode).not.toBe(0);
    expect(r.run!.signal).toBeNull();
    expect(r.run!.stdout).toMatch(/1 failed, 1 passed/);
    const xml = decode(byPath(r, "report.xml"));
    expect(xml, show(r)).toBeDefined();
    const rep = junit(xml!);
    expect(rep.names.sort()).toEqual(["test_add", "test_mul_wrong"]);
    expect(rep).toMatchObject({ tests: 2, failures: 1 });
    expect(xml).toMatch(/<testcase\b[^>]*name="test_mul_wrong"[^>]*>\s*<failure/);
  });
});

describe("a C project with a Makefile", () => {
  // main.c sums its arguments; test.sh writes results into out/, with files
  // the glob must not take and links it must refuse.
  const MAIN_C =
    '#include <stdio.h>\n#include <stdlib.h>\nint main(int argc, char **argv) { long s = 0; for (int i = 1; i < argc; i++) s += atol(argv[i]); printf("%ld\\n", s); return 0; }\n';
  const MAKEFILE = "main: main.c\n\tgcc -O2 -o main main.c\n\ntest: main\n\tbash test.sh\n\n.PHONY: test\n";
  const TEST_SH = [
    "set -e",
    "mkdir -p out/sub",
    "./main 2 3 > out/sum-a.txt",
    "./main 40 2 > out/sum-b.txt",
    "./main 1 > out/sub/nested.txt", // below out/: not out/*.txt
    "echo log > out/build.log", // not *.txt
    "echo no-dot > out/atxt", // the dot is literal
    "ln -s /etc/passwd out/leak.txt", // a link matching the glob
    "ln -s /etc etc", // a linked directory on an exact path
    "echo done",
  ].join("\n");
  const files = [
    { path: "Makefile", content: MAKEFILE },
    { path: "main.c", content: MAIN_C },
    { path: "test.sh", content: TEST_SH },
  ];

  it('make test; collect "out/*.txt": only matching files, links refused without content, a missing file an error', async () => {
    const r = await s.run({
      language: "c",
      files,
      command: "make test",
      collect: ["out/*.txt", "missing.txt", "etc/passwd"],
    });
    expect(r.verdict, show(r)).toBe("ok");
    expect(r.run!.stdout).toContain("done");
    const paths = (r.files ?? []).map((f) => f.path).sort();
    expect(paths, show(r)).toEqual(["etc/passwd", "missing.txt", "out/leak.txt", "out/sum-a.txt", "out/sum-b.txt"]);
    expect(decode(byPath(r, "out/sum-a.txt"))).toBe("5\n");
    expect(decode(byPath(r, "out/sum-b.txt"))).toBe("42\n");
    for (const p of ["out/leak.txt", "etc/passwd", "missing.txt"]) {
      const f = byPath(r, p)!;
      expect(f.content, p).toBeUndefined();
      expect(f.error, p).toEqual(expect.any(String));
      expect(f.error!.length, p).toBeGreaterThan(0);
    }
    expect(byPath(r, "out/leak.txt")!.error).toMatch(/link/i);
    expect(byPath(r, "missing.txt")!.error).toMatch(/no such file|not found|missing/i);
    // nothing anywhere in the result carries a passwd file's content
    expect(JSON.stringify(r)).not.toMatch(/root:x:0:0/);
    for (const f of r.files ?? []) expect(decode(f) ?? "", f.path).not.toMatch(/root:/);
  });

  it("collect without a wildcard match or after a failing command: still the entries that exist", async () => {
    const r = await s.run({
      language: "c",
      files,
      command: "make test && echo partial > partial.txt && exit 4",
      collect: ["partial.txt", "nothing/*.txt"],
    });
    expect(r.verdict, show(r)).toBe("runtime_error");
    expect(r.run!.exitCode).toBe(4);
    expect(decode(byPath(r, "partial.txt"))).toBe("partial\n");
    // a glob that matches nothing brings no file (an error entry at most)
    expect((r.files ?? []).filter((f) => f.content !== undefined).map((f) => f.path)).toEqual(["partial.txt"]);
  });

  // `command` replaces the language's compile step too: the project builds
  // itself. (With the compile step, `gcc -o main main.c` fails to link a
  // main.c that needs lib.c, and make test never runs.)
  it("a multi-file C project (main.c + lib.c) builds and runs through make test", async () => {
    const r = await s.run({
      language: "c",
      files: [
        {
          path: "Makefile",
          content: "main: main.c lib.c lib.h\n\tgcc -O2 -o main main.c lib.c\n\ntest: main\n\t./main > out.txt\n",
        },
        {
          path: "main.c",
          content: '#include <stdio.h>\n#include "lib.h"\nint main(void) { printf("%d\\n", twice(21)); return 0; }\n',
        },
        { path: "lib.c", content: "int twice(int x) { return 2 * x; }\n" },
        { path: "lib.h", content: "int twice(int x);\n" },
      ],
      command: "make test",
      collect: ["out.txt"],
    });
    expect(r.verdict, show(r)).toBe("ok");
    expect(decode(byPath(r, "out.txt"))).toBe("42\n");
  });

  // The launcher walks a glob's directory and also copies the exact path:
  // the result holds each file once.
  it("a file matched by an exact path and a glob comes back once", async () => {
    const r = await s.run({ language: "c", files, command: "make test", collect: ["out/sum-a.txt", "out/*.txt"] });
    expect(r.verdict, show(r)).toBe("ok");
    const paths = (r.files ?? []).map((f) => f.path);
    expect(paths.filter((p) => p === "out/sum-a.txt")).toHaveLength(1);
  });
});

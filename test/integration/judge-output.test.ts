// A test's stored output is capped (the result lives in Redis), while
// judging sees all of it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { executeRun, TEST_OUTPUT_KEPT } from "../../worker/execute.js";
import { builtinLimits } from "../../core/limits.js";
import type { Sandbox } from "../../worker/sandbox/sandbox.js";
import { openSandbox } from "../helpers/sandbox.js";

let sb: Sandbox;
beforeAll(async () => {
  sb = await openSandbox(1);
});
afterAll(() => sb?.close());

describe("stored test output", () => {
  it("is cut at TEST_OUTPUT_KEPT and flagged, while the whole output is judged", async () => {
    const big = "x".repeat(TEST_OUTPUT_KEPT * 2);
    const r = await executeRun(
      {
        language: "python",
        files: [{ path: "main.py", contentBase64: Buffer.from(`print("${big}")`).toString("base64") }],
        stdin: "",
        args: [],
        limits: builtinLimits.run.default,
        compileLimits: builtinLimits.compile.default,
        tests: [
          { stdin: "", expectedOutput: `${big}\n` },
          { stdin: "", expectedOutput: `${big}y\n` },
        ],
        compare: "lines",
        stopOnFirstFailure: false,
        network: false,
        createdAt: new Date().toISOString(),
      },
      sb,
    );
    expect(r.tests!.map((t) => t.verdict)).toEqual(["accepted", "wrong_answer"]);
    expect(r.tests![0]!.stdout.length).toBe(TEST_OUTPUT_KEPT);
    expect(r.tests![0]!.stdoutTruncated).toBe(true);
  });
});

describe("compiled artifacts", () => {
  it("are shown read-only in /box to every test, which may still write new files there", async () => {
    const src = `#include <stdio.h>
int main(void) {
  FILE *bin = fopen("main", "w");          /* the compiled program itself */
  FILE *fresh = fopen("new.txt", "w");     /* a file of this test's own */
  printf("%s %s\\n", bin ? "writable" : "ro", fresh ? "rw" : "no");
  return 0;
}`;
    const r = await executeRun(
      {
        language: "c",
        files: [{ path: "main.c", contentBase64: Buffer.from(src).toString("base64") }],
        stdin: "",
        args: [],
        limits: builtinLimits.run.default,
        compileLimits: builtinLimits.compile.default,
        tests: [
          { stdin: "", expectedOutput: "ro rw\n" },
          { stdin: "", expectedOutput: "ro rw\n" },
        ],
        compare: "lines",
        stopOnFirstFailure: false,
        network: false,
        createdAt: new Date().toISOString(),
      },
      sb,
    );
    expect(r.tests!.map((t) => `${t.verdict}:${t.stdout.trim()}`)).toEqual(["accepted:ro rw", "accepted:ro rw"]);
  });
});

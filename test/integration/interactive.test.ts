// Interactive problems: the program and the interactor run at once, each in
// its own sandbox, piped to each other; the interactor judges.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtinLimits } from "../../core/limits.js";
import type { RunJob } from "../../core/schemas.js";
import { executeRun } from "../../worker/execute.js";
import type { Sandbox } from "../../worker/sandbox/sandbox.js";
import { openSandbox } from "../helpers/sandbox.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

// Guess the number in [1, 1000]: the input file holds it; at most 20 guesses.
const INTERACTOR = `import sys
n = int(open(sys.argv[1]).read())
for q in range(20):
    line = sys.stdin.readline()
    if not line:
        print("no answer", file=sys.stderr); sys.exit(1)
    g = int(line)
    if g == n:
        print("correct", flush=True); print(f"found in {q + 1}", file=sys.stderr); sys.exit(0)
    print("higher" if g < n else "lower", flush=True)
print("too many guesses", file=sys.stderr); sys.exit(1)
`;
const BISECT = `lo, hi = 1, 1000
while True:
    m = (lo + hi) // 2
    print(m, flush=True)
    r = input()
    if r == "correct": break
    if r == "higher": lo = m + 1
    else: hi = m - 1
`;
const LINEAR = `for g in range(1, 1001):
    print(g, flush=True)
    if input() == "correct": break
`;

function job(program: string, inputs: string[], wallMs = 3000): RunJob {
  return {
    language: "python",
    files: [{ path: "main.py", contentBase64: b64(program) }],
    stdin: "",
    args: [],
    limits: { ...builtinLimits.run.default, wallMs },
    compileLimits: builtinLimits.compile.default,
    tests: inputs.map((stdin) => ({ stdin, expectedOutput: "" })),
    compare: "lines",
    stopOnFirstFailure: false,
    network: false,
    interactor: { language: "python", files: [{ path: "main.py", contentBase64: b64(INTERACTOR) }] },
    createdAt: new Date().toISOString(),
  };
}

let sb: Sandbox;
beforeAll(async () => {
  sb = await openSandbox(2);
});
afterAll(() => sb?.close());

describe("interactive problems", () => {
  it("a correct solution is accepted on every test, with the interactor's stderr as message", async () => {
    const r = await executeRun(job(BISECT, ["777", "1", "1000"]), sb);
    expect(r.verdict, JSON.stringify(r.tests)).toBe("accepted");
    expect(r.tests!.map((t) => t.verdict)).toEqual(["accepted", "accepted", "accepted"]);
    expect(r.tests![0]!.message).toMatch(/^found in \d+$/);
  });

  it("a wrong solution (too many guesses) is wrong_answer, the interactor's reason kept", async () => {
    const r = await executeRun(job(LINEAR, ["5", "999"]), sb);
    expect(r.tests!.map((t) => t.verdict)).toEqual(["accepted", "wrong_answer"]);
    expect(r.tests![1]!.message).toBe("too many guesses");
    expect(r.verdict).toBe("wrong_answer");
  });

  it("a program that never answers is time_limit_exceeded at its wall limit, not a hang", async () => {
    const t0 = Date.now();
    const r = await executeRun(job("import time\ntime.sleep(60)\n", ["5"], 1000), sb);
    expect(r.tests![0]!.verdict).toBe("time_limit_exceeded");
    expect(r.tests![0]!.usage.wallMs).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it("an interactor that crashes is internal_error, never a verdict against the program", async () => {
    const broken = job(BISECT, ["5"]);
    broken.interactor = {
      language: "python",
      files: [{ path: "main.py", contentBase64: b64("import sys\nsys.exit(3)\n") }],
    };
    const r = await executeRun(broken, sb);
    expect(r.tests![0]!.verdict).toBe("internal_error");
  });
});

// The soak's mixed load: one request of each kind the service takes (a run of
// each verdict, a judge run with a checker, an archive, a batch, a run of a
// stored problem), each followed to its end and held to the verdicts it must
// get. A run not completed within FOLLOW_MS is counted as lost.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { send } from "./service.js";

const FOLLOW_MS = 120_000;
const POLL_MS = 200;
const PROBLEM = "soak-a-plus-b";

interface Result {
  status: string;
  verdict?: string;
  run?: { stdout: string } | null;
  tests?: { verdict: string }[];
}

export interface Kind {
  name: string;
  /** Sends the request and follows it to its end: the runs it completed; throws on a wrong verdict or a lost run. */
  once(base: string): Promise<number>;
}

async function json<T>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> {
  const r = await send(method, url, body === undefined ? undefined : JSON.stringify(body));
  return { status: r.status, body: JSON.parse(r.body) as T };
}

/** GETs `url` until `done` says so, or throws "lost" at the deadline. */
async function follow<T>(url: string, done: (b: T) => boolean): Promise<T> {
  const end = Date.now() + FOLLOW_MS;
  for (;;) {
    const r = await json<T>("GET", url);
    if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${JSON.stringify(r.body)}`);
    if (done(r.body)) return r.body;
    if (Date.now() > end) throw new Error(`lost: ${url} not completed after ${FOLLOW_MS} ms`);
    await sleep(POLL_MS);
  }
}

/** POST /v1/runs?wait=true, then polls if the server answered before the run completed. */
async function run(base: string, body: unknown): Promise<Result> {
  const r = await json<Result & { id: string }>("POST", `${base}/v1/runs?wait=true`, body);
  if (r.status === 200 && r.body.status === "completed") return r.body;
  if (r.status !== 202) throw new Error(`POST /v1/runs: ${r.status} ${JSON.stringify(r.body)}`);
  return follow<Result>(`${base}/v1/runs/${r.body.id}`, (b) => b.status === "completed");
}

function expect(r: Result, verdict: string, tests?: string[], stdout?: string): void {
  const got = { verdict: r.verdict, tests: tests && r.tests?.map((t) => t.verdict), stdout: stdout && r.run?.stdout };
  const want = { verdict, tests, stdout };
  if (JSON.stringify(got) !== JSON.stringify(want))
    throw new Error(`expected ${JSON.stringify(want)}, got ${JSON.stringify(r).slice(0, 600)}`);
}

/** A single run that must end in `verdict` (and its tests in `tests`, its stdout `stdout`). */
const single = (name: string, body: unknown, verdict: string, tests?: string[], stdout?: string): Kind => ({
  name,
  async once(base) {
    expect(await run(base, body), verdict, tests, stdout);
    return 1;
  },
});

const PY_SUM = "a, b = map(int, input().split())\nprint(a + b)\n";
const C_SUM = '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);}\n';
// testlib's convention (argv: input output answer; exit 0 accepted, 1 wrong answer), in Python for a cheap compile.
const CHECKER =
  "import sys\nout, ans = (open(f).read().split() for f in sys.argv[2:4])\nsys.exit(0 if out == ans else 1)\n";
const sum = (a: number, b: number, answer = a + b) => ({ stdin: `${a} ${b}\n`, expectedOutput: `${answer}\n` });

/** A tar.gz of a small Python project, made once with the host's tar. */
function projectTarGz(): string {
  const dir = mkdtempSync(join(tmpdir(), "ruse-soak-"));
  try {
    writeFileSync(join(dir, "main.py"), "from lib import greet\nprint(greet(open('name.txt').read().strip()))\n");
    writeFileSync(join(dir, "lib.py"), "def greet(n):\n    return 'hello, ' + n\n");
    writeFileSync(join(dir, "name.txt"), "soak\n");
    return execFileSync("tar", ["-czf", "-", "-C", dir, "."]).toString("base64");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const BATCH = [
  [{ language: "bash", source: "echo one" }, "ok"],
  [{ language: "python", source: "print(2)" }, "ok"],
  [{ language: "python", source: "raise SystemExit(1)" }, "runtime_error"],
  [{ language: "python", source: PY_SUM, problem: PROBLEM }, "accepted"],
] as const;

const batch: Kind = {
  name: "batch",
  async once(base) {
    const r = await json<{ id: string }>("POST", `${base}/v1/batches`, { runs: BATCH.map(([b]) => b) });
    if (r.status !== 202) throw new Error(`POST /v1/batches: ${r.status} ${JSON.stringify(r.body)}`);
    const b = await follow<{ total: number; completed: number; runs: Result[] }>(
      `${base}/v1/batches/${r.body.id}`,
      (b) => b.completed === b.total,
    );
    const got = b.runs.map((x) => x.verdict);
    const want = BATCH.map(([, v]) => v);
    if (JSON.stringify(got) !== JSON.stringify(want))
      throw new Error(`batch: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    return b.total;
  },
};

/** Stores the problem the load's problem runs name; returns the kinds, in the order the load cycles through them. */
export async function mixedLoad(base: string): Promise<Kind[]> {
  const put = await json("PUT", `${base}/v1/problems/${PROBLEM}`, { tests: [sum(1, 2), sum(40, 2), sum(-5, 5)] });
  if (put.status !== 200) throw new Error(`PUT problem: ${put.status} ${JSON.stringify(put.body)}`);
  const py = (source: string, limits?: object) => ({ language: "python", source, limits });
  return [
    single("ok", { ...py("print(input()[::-1])"), stdin: "soak\n" }, "ok", undefined, "kaos\n"),
    single("wrong answer", { language: "c", source: C_SUM, tests: [sum(1, 2), sum(5, 5, 11)] }, "wrong_answer", [
      "accepted",
      "wrong_answer",
    ]),
    single("runtime error", py("import sys\nprint('before')\nsys.exit(3)\n"), "runtime_error"),
    single("time limit", py("while True:\n    pass\n", { cpuMs: 500 }), "time_limit_exceeded"),
    single("memory limit", py("x = b'x' * (512 << 20)\nprint(len(x))\n", { memoryMb: 64 }), "memory_limit_exceeded"),
    single("output limit", py("while True:\n    print('x' * 99)\n", { outputKb: 16 }), "output_limit_exceeded"),
    single("compile error", { language: "c", source: "int main(void) { return 0 }\n" }, "compile_error"),
    single(
      "judge with checker",
      {
        language: "python",
        source: PY_SUM,
        tests: [sum(1, 2), sum(40, 2), sum(2, 2, 5), sum(7, 8)],
        checker: { language: "python", source: CHECKER },
      },
      "wrong_answer",
      ["accepted", "accepted", "wrong_answer", "accepted"],
    ),
    single(
      "archive",
      { language: "python", archive: { format: "tar.gz", content: projectTarGz() }, command: "python3 main.py" },
      "ok",
      undefined,
      "hello, soak\n",
    ),
    batch,
    single("problem", { language: "python", source: PY_SUM, problem: PROBLEM }, "accepted", [
      "accepted",
      "accepted",
      "accepted",
    ]),
  ];
}

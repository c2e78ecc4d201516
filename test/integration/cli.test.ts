// The client command line (`ruse run | judge | languages`, cli/) against a
// private stack (embedded Redis, the API with an API key, a worker in this
// process), each command a real process: `node bin/ruse.js ...` in the
// repository, RUSE_URL the stack's, its files in a temporary folder. The
// stack waits at most 1.5 s for a run (RUSE_WAIT_MAX_MS): a longer one is
// answered 202, which the CLI polls. Exit statuses are cli/run.ts's EXIT.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usage } from "../../cli/main.js";
import { EXIT } from "../../cli/run.js";
import { REPO, startStack, type Stack } from "../helpers/service.js";

const KEY = "k1";

let s: Stack;
let dir: string;
beforeAll(async () => {
  s = await startStack({
    worker: "inprocess",
    env: { RUSE_LANGUAGES: "python,c", RUSE_API_KEYS: KEY, RUSE_WAIT_MAX_MS: "1500" },
  });
  dir = mkdtempSync(join(tmpdir(), "ruse-cli-"));
});
afterAll(async () => {
  await s?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Writes `text` to `name` in the test's folder; its path. */
function file(name: string, text: string): string {
  const p = join(dir, name);
  mkdirSync(join(p, ".."), { recursive: true });
  writeFileSync(p, text);
  return p;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `node bin/ruse.js ARGS...` as a process (never spawnSync: the API it calls
 * runs in this process), with RUSE_URL and RUSE_API_KEY the stack's unless
 * `env` says otherwise (undefined: unset).
 */
function ruse(args: string[], env: Record<string, string | undefined> = {}, input?: string): Promise<Ran> {
  const e: Record<string, string | undefined> = { ...process.env, RUSE_URL: s.base, RUSE_API_KEY: KEY, ...env };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  const child = spawn(process.execPath, ["bin/ruse.js", ...args], { cwd: REPO, env: e, stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  child.stdin.end(input ?? "");
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const show = (r: Ran) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
const USAGE = /\(cpu \d+ ms, wall \d+ ms, memory \d+ KB\)/.source;

const UPPER = "import sys\nfor line in sys.stdin:\n    print(line.strip().upper())\n";
const SUM = "a, b = map(int, input().split())\nprint(a + b)\n";

describe("ruse run", () => {
  it("runs a python program on --stdin: its output on stdout, an ok verdict line, exit 0", async () => {
    const r = await ruse(["run", file("upper.py", UPPER), "--stdin", file("upper.txt", "hello\nworld\n")]);
    expect(r.code, show(r)).toBe(EXIT.ok);
    expect(r.stdout).toBe("HELLO\nWORLD\n");
    expect(r.stderr).toMatch(new RegExp(`^ruse: ok ${USAGE}\\n$`));
  });

  it("--stdin - reads the command's own stdin; --args gives the program's arguments", async () => {
    const prog = file("argv.py", "import sys\nprint(sys.argv[1:], sys.stdin.read().strip())\n");
    const r = await ruse(["run", prog, "--stdin", "-", "--args", "x", "--test", "y"], {}, "piped\n");
    expect(r.code, show(r)).toBe(EXIT.ok);
    expect(r.stdout).toBe("['x', '--test', 'y'] piped\n");
  });

  it("--test pairs: a line per test, a failing one wrong_answer, the run's verdict, exit 1", async () => {
    const prog = file("sum.py", SUM);
    const r = await ruse([
      "run",
      prog,
      "--test",
      file("t1.in", "1 2\n"),
      file("t1.out", "3\n"),
      "--test",
      file("t2.in", "2 2\n"),
      file("t2.out", "5\n"),
    ]);
    expect(r.code, show(r)).toBe(EXIT.failed);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines, show(r)).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^test 1: accepted ${USAGE}$`));
    expect(lines[1]).toMatch(new RegExp(`^test 2: wrong_answer ${USAGE}$`));
    expect(lines[2]).toMatch(
      /^ruse: wrong_answer \(accepted 1\/2 tests; max cpu \d+ ms, wall \d+ ms, memory \d+ KB\)$/,
    );
  });

  it("a C compile error: the compiler's message on stderr, compile_error, exit 3", async () => {
    const r = await ruse(["run", file("broken.c", "int main(void) { return 0 }\n")]);
    expect(r.code, show(r)).toBe(EXIT.compileError);
    expect(EXIT.compileError).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^main\.c:1:\d+: error: expected [‘']?;[’']? before [‘']?}[’']? token$/m); // gcc's quotes follow LANG
    expect(r.stderr.trimEnd().split("\n").at(-1)).toBe("ruse: compile_error");
  });

  it("a runtime error: the program's stderr, its exit code in the verdict line, exit 1", async () => {
    const r = await ruse(["run", file("crash.py", "import sys\nprint('out')\nsys.exit('boom')\n")]);
    expect(r.code, show(r)).toBe(EXIT.failed);
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toMatch(/^boom\nruse: runtime_error \(exit 1, cpu \d+ ms, wall \d+ ms, memory \d+ KB\)\n$/);
  });

  it("a run longer than the server's wait limit: answered 202, polled to its result", async () => {
    const r = await ruse(["run", file("slow.py", "import time\ntime.sleep(3)\nprint('late')\n")]);
    expect(r.code, show(r)).toBe(EXIT.ok);
    expect(r.stdout).toBe("late\n");
    expect(r.stderr).toMatch(/^ruse: run [0-9a-f-]{36} queued past the server's wait limit: waiting for it\n/);
    expect(r.stderr).toMatch(new RegExp(`\\nruse: ok ${USAGE}\\n$`));
  });

  it("an unknown extension: exit 2, naming --language; --language then runs it", async () => {
    const prog = file("prog.xyz", "print('given')\n");
    const r = await ruse(["run", prog]);
    expect(r.code, show(r)).toBe(EXIT.usage);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `ruse: no language of the server has the extension of ${prog} (".xyz"): give one with --language ID (ruse languages lists them)\n`,
    );
    const ok = await ruse(["run", prog, "--language", "python"]);
    expect(ok.code, show(ok)).toBe(EXIT.ok);
    expect(ok.stdout).toBe("given\n");
  });

  it("an invalid request: the API's 400 and the field at fault, exit 2", async () => {
    const r = await ruse(["run", file("x.txt", "x"), "--language", "klingon"]);
    expect(r.code, show(r)).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/^ruse: 400 invalid request: language: /);
  });

  it("several files: sent under their base names, the language's sourceFile compiled", async () => {
    const main = file(
      "multi/main.c",
      '#include <stdio.h>\n#include "greet.h"\nint main(void) { greet(); return 0; }\n',
    );
    const header = file("multi/greet.h", '#include <stdio.h>\nstatic void greet(void) { puts("hi from greet"); }\n');
    const r = await ruse(["run", main, header]);
    expect(r.code, show(r)).toBe(EXIT.ok);
    expect(r.stdout).toBe("hi from greet\n");
  });
});

describe("ruse judge", () => {
  it("a folder of 3 pairs, one wrong: a line per test in natural order, the summary, exit 1", async () => {
    const tests = join(dir, "tests");
    file("tests/10.in", "20 22\n");
    file("tests/10.out", "42\n");
    file("tests/2.in", "1 1\n");
    file("tests/2.ans", "3\n"); // wrong
    file("tests/1.in", "1 2\n");
    file("tests/1.out", "3\n");
    const r = await ruse(["judge", file("sum.py", SUM), "--tests", tests]);
    expect(r.code, show(r)).toBe(EXIT.failed);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines, show(r)).toHaveLength(4);
    expect(lines[0]).toMatch(/^1 {3}accepted {6}cpu \d+ ms, wall \d+ ms, memory \d+ KB$/);
    expect(lines[1]).toMatch(/^2 {3}wrong_answer {2}cpu \d+ ms/);
    expect(lines[2]).toMatch(/^10 {2}accepted {6}cpu \d+ ms/);
    expect(lines[3]).toMatch(
      /^ruse: accepted 2\/3, verdict wrong_answer \(max cpu \d+ ms, wall \d+ ms, memory \d+ KB\)$/,
    );
    expect(r.stderr).toBe("");
  });

  it("all accepted: exit 0", async () => {
    const tests = join(dir, "good");
    file("good/a.in", "1 2\n");
    file("good/a.out", "3\n");
    const r = await ruse(["judge", file("sum.py", SUM), "--tests", tests]);
    expect(r.code, show(r)).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/\nruse: accepted 1\/1 \(max cpu \d+ ms, wall \d+ ms, memory \d+ KB\)\n$/);
  });

  it("a folder without pairs: exit 2, before any request", async () => {
    const empty = join(dir, "empty");
    file("empty/readme.txt", "no tests here");
    const r = await ruse(["judge", file("sum.py", SUM), "--tests", empty], { RUSE_URL: "http://127.0.0.1:1" });
    expect(r.code, show(r)).toBe(EXIT.usage);
    expect(r.stderr).toBe(`ruse: no tests in ${empty}: it should hold pairs NAME.in and NAME.out (or NAME.ans)\n`);
  });
});

describe("ruse languages", () => {
  it("a table of id, name, version, ready that lists python and c", async () => {
    const r = await ruse(["languages"]);
    expect(r.code, show(r)).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID +NAME +VERSION +READY$/);
    expect(lines).toContainEqual(expect.stringMatching(/^python +Python 3 \(NumPy, pytest\) +3\.\d+\.\d+ +yes$/));
    expect(lines).toContainEqual(expect.stringMatching(/^c +C \(GCC\) +\d+\.\d+\.\d+ +yes$/));
  });
});

describe("the server's key and address", () => {
  it("without a key: the API's 401, exit 2", async () => {
    const r = await ruse(["run", file("upper.py", UPPER)], { RUSE_API_KEY: undefined });
    expect(r.code, show(r)).toBe(EXIT.usage);
    expect(r.stderr).toBe(
      "ruse: 401 missing or unknown API key (Authorization: Bearer KEY) (give the key with --key or RUSE_API_KEY)\n",
    );
    const wrong = await ruse(["languages", "--key", "nope"]);
    expect(wrong.code, show(wrong)).toBe(EXIT.usage);
    expect(wrong.stderr).toMatch(/^ruse: 401 missing or unknown API key/);
  });

  it("with --key: the run goes through", async () => {
    const r = await ruse(["run", file("upper.py", UPPER), "--key", KEY, "--stdin", file("k.txt", "key\n")], {
      RUSE_API_KEY: undefined,
    });
    expect(r.code, show(r)).toBe(EXIT.ok);
    expect(r.stdout).toBe("KEY\n");
  });

  it("a URL where nothing listens: exit 2, naming it", async () => {
    const srv = createServer();
    await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
    const port = (srv.address() as { port: number }).port;
    await new Promise((resolve) => srv.close(resolve));
    const url = `http://127.0.0.1:${port}`;
    const r = await ruse(["run", file("upper.py", UPPER), "--url", url]);
    expect(r.code, show(r)).toBe(EXIT.usage);
    expect(r.stderr).toBe(
      `ruse: cannot reach the ruse server at ${url} (connect ECONNREFUSED 127.0.0.1:${port}): is it running? (--url or RUSE_URL)\n`,
    );
  });
});

describe("the command line itself", () => {
  it("no command, or help: the usage on stderr, exit 2", async () => {
    for (const args of [[], ["help"]]) {
      const r = await ruse(args);
      expect(r.code, show(r)).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(`${usage}\n`);
    }
    const bad = await ruse(["frobnicate"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(`ruse: unknown command "frobnicate"\n${usage}\n`);
  });
});

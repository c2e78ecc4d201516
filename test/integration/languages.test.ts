// The language catalogue, end to end through the worker's executeRun (the
// same code path a queued run takes, with the API's request schema and limit
// resolution): hello world and a+b in every language, a compile error in each
// compiled one, the image read-only from inside, and two concurrent runs of
// different languages that cannot see each other's files.
//
// Timings on the development host (2 vCPUs, kernel squashfs, another suite
// running beside it), compile wall time of hello world: c 50 ms, cpp 290 ms,
// java 600 ms, go 500 ms (Debian's Go ships its std packages prebuilt, so a
// cold GOCACHE costs little), rust 1.2 s; a compile error in any of them
// under 0.5 s. The server's default compile limits (10 s CPU, 20 s wall,
// raised by the catalogue's compileSeconds) leave a wide margin, so the
// requests give none; the whole file takes about 8 s.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config.js";
import { toJob } from "../../core/job.js";
import { runRequestSchema, type RunResult } from "../../core/schemas.js";
import { languages } from "../../rootfs/languages.js";
import { executeRun } from "../../worker/execute.js";
import type { Sandbox } from "../../worker/sandbox/sandbox.js";
import { openSandbox } from "../helpers/sandbox.js";
import { EMULATED } from "../helpers/emulated.js";

const cfg = loadConfig({ HOME: process.env.HOME ?? "/tmp" });
const schema = runRequestSchema(cfg);
let sb: Sandbox;

beforeAll(async () => {
  sb = await openSandbox(2);
});
afterAll(() => sb?.close());

// Under qemu's emulator a JVM or V8 start alone takes more than the default 2 s of CPU.
const ROOM = EMULATED ? { cpuMs: 20_000, wallMs: 40_000 } : undefined;
if (ROOM) console.log("languages: under emulation (RUSE_EMULATED=1) runs get 20 s of CPU, not the default 2 s");

/** A request as the API would take it, executed as the worker would. */
async function execute(req: Record<string, unknown>): Promise<RunResult> {
  const job = toJob(schema.parse(ROOM && !req.limits ? { ...req, limits: ROOM } : req), cfg);
  return (await executeRun(job, sb)) as RunResult;
}

interface Programs {
  hello: string;
  sum: string;
  /** a program that does not compile, and a piece of the compiler's message */
  broken?: { source: string; message: RegExp };
}

const programs: Record<string, Programs> = {
  bash: {
    hello: "echo hello\n",
    sum: "read a b\necho $((a + b))\n",
  },
  c: {
    hello: '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n',
    sum: '#include <stdio.h>\nint main(void) { long long a, b; if (scanf("%lld %lld", &a, &b) != 2) return 1; printf("%lld\\n", a + b); return 0; }\n',
    broken: { source: "int main(void) { return 0 }\n", message: /main\.c:1:\d+: error: expected [‘']?;/ },
  },
  cpp: {
    hello: '#include <iostream>\nint main() { std::cout << "hello" << std::endl; }\n',
    sum: "#include <iostream>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; }\n",
    broken: {
      source: '#include <string>\nint main() { int x = std::string("s"); }\n',
      message: /main\.cpp:2:\d+: error: cannot convert/,
    },
  },
  python: {
    hello: 'print("hello")\n',
    sum: "a, b = map(int, input().split())\nprint(a + b)\n",
  },
  javascript: {
    hello: 'console.log("hello");\n',
    sum: 'const [a, b] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/).map(BigInt);\nconsole.log(String(a + b));\n',
  },
  java: {
    hello: 'public class Main { public static void main(String[] args) { System.out.println("hello"); } }\n',
    sum: "import java.util.Scanner;\npublic class Main { public static void main(String[] args) { Scanner s = new Scanner(System.in); long a = s.nextLong(), b = s.nextLong(); System.out.println(a + b); } }\n",
    broken: {
      source: 'public class Main { public static void main(String[] args) { int x = "s"; } }\n',
      message: /Main\.java:1: error: incompatible types/,
    },
  },
  go: {
    hello: 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n',
    sum: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar a, b int64\n\tfmt.Scan(&a, &b)\n\tfmt.Println(a + b)\n}\n',
    broken: {
      source: "package main\n\nfunc main() {\n\tx := 1\n}\n",
      message: /main\.go:4:\d+: .*declared (and|but) not used/,
    },
  },
  rust: {
    hello: 'fn main() { println!("hello"); }\n',
    sum: 'use std::io::Read;\nfn main() { let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap(); let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect(); println!("{}", v[0] + v[1]); }\n',
    broken: { source: 'fn main() { let x: i32 = "s"; }\n', message: /error\[E0308\]: mismatched types/ },
  },
};

/** Per test: a compile within the default limits (20 s wall, or compileSeconds) and the runs. */
const timeout = (id: string) =>
  2 * Math.max(20, languages.find((l) => l.id === id)!.limits?.compileSeconds ?? 0) * 1000 + 10_000;
const describeResult = (r: RunResult) => JSON.stringify(r, null, 1).slice(0, 3000);

it("has programs for exactly the catalogue's languages", () => {
  expect(Object.keys(programs).sort()).toEqual(languages.map((l) => l.id).sort());
  for (const l of languages)
    expect(!!programs[l.id]!.broken, `${l.id}: a compile-error case iff compiled`).toBe(!!l.compile);
});

describe.each(languages.map((l) => [l.id, l] as const))("%s", (id, lang) => {
  const p = programs[id]!;

  it("hello world prints hello", { timeout: timeout(id) }, async () => {
    const t0 = Date.now();
    const r = await execute({ language: id, source: p.hello });
    console.log(
      `languages: ${id} hello world: ${Date.now() - t0} ms (compile ${r.compile?.usage.wallMs.toFixed(0) ?? "-"} ms, run ${r.run?.usage.wallMs.toFixed(0)} ms)`,
    );
    expect(r.verdict, describeResult(r)).toBe("ok");
    expect(r.run!.exitCode).toBe(0);
    expect(r.run!.stdout).toBe("hello\n");
    if (lang.compile) expect(r.compile?.verdict).toBe("ok");
    else expect(r.compile).toBeNull();
  });

  it("a+b reading stdin passes its tests", { timeout: timeout(id) }, async () => {
    const t0 = Date.now();
    const r = await execute({
      language: id,
      source: p.sum,
      tests: [
        { stdin: "1 2\n", expectedOutput: "3\n" },
        { stdin: "-7 1000000000000\n", expectedOutput: "999999999993\n" },
      ],
    });
    console.log(`languages: ${id} a+b: ${Date.now() - t0} ms`);
    expect(r.verdict, describeResult(r)).toBe("accepted");
    expect(r.tests!.map((t) => t.verdict)).toEqual(["accepted", "accepted"]);
    expect(r.tests!.map((t) => t.stdout.trim())).toEqual(["3", "999999999993"]);
  });

  if (p.broken) {
    it("a compile error gives compile_error with the compiler's message", { timeout: timeout(id) }, async () => {
      const t0 = Date.now();
      const r = await execute({ language: id, source: p.broken!.source });
      console.log(`languages: ${id} compile error: ${Date.now() - t0} ms`);
      expect(r.verdict, describeResult(r)).toBe("compile_error");
      expect(r.compile!.verdict).toBe("compile_error");
      expect(r.compile!.exitCode).not.toBe(0);
      expect(r.compile!.signal).toBeNull(); // the compiler failed, it was not killed by a limit
      expect(r.compile!.stderr + r.compile!.stdout).toMatch(p.broken!.message);
      expect(r.run).toBeNull();
    });
  }
});

describe("the image is read-only from inside", () => {
  it("bash: touch /usr/x fails with Read-only file system", async () => {
    const r = await execute({
      language: "bash",
      source: "touch /usr/x\necho status=$?\ntouch /box/ok && echo box-writable\n",
    });
    expect(r.run!.stderr).toMatch(/touch: cannot touch '\/usr\/x': Read-only file system/);
    expect(r.run!.stdout).toContain("status=1");
    expect(r.run!.stdout).toContain("box-writable"); // the check is not merely "nothing is writable"
  });

  it("python (a layer over base): writes to /, /usr, /etc and its own layer fail with EROFS", async () => {
    const src = [
      "import errno, os, sys",
      "for p in ['/x', '/usr/x', '/etc/passwd', os.path.dirname(os.__file__) + '/x.py', sys.executable]:",
      "    try:",
      "        open(p, 'a').close()",
      "        print(p, 'WRITABLE')",
      "    except OSError as e:",
      "        print(p, errno.errorcode[e.errno])",
      "try:",
      "    os.mkdir('/usr/d')",
      "    print('/usr/d WRITABLE')",
      "except OSError as e:",
      "    print('/usr/d', errno.errorcode[e.errno])",
    ].join("\n");
    const r = await execute({ language: "python", source: src });
    expect(r.verdict, describeResult(r)).toBe("ok");
    const lines = r.run!.stdout.trim().split("\n");
    expect(lines).toHaveLength(6);
    for (const l of lines) expect(l).toMatch(/ EROFS$/);
  });
});

describe("two concurrent runs of different languages", () => {
  it("do not see each other's files in /box, /tmp or /dev/shm", async () => {
    const a = `marker-a-${randomBytes(6).toString("hex")}`;
    const b = `marker-b-${randomBytes(6).toString("hex")}`;
    // Each writes its marker, waits long enough for the other to have
    // written its own, then lists; the timestamps show that they overlapped.
    const bashSrc = [
      `touch /box/${a} /tmp/${a} /dev/shm/${a}`,
      "echo written=$(date +%s%N)",
      "sleep 1.5",
      "echo listed=$(date +%s%N)",
      "ls -a /box /tmp /dev/shm | tr '\\n' ' '; echo",
    ].join("\n");
    const pySrc = [
      "import os, time",
      `for d in ('/box', '/tmp', '/dev/shm'): open(d + '/${b}', 'w').close()`,
      "print('written=%d' % time.time_ns())",
      "time.sleep(1.5)",
      "print('listed=%d' % time.time_ns())",
      "print(' '.join(sorted(os.listdir('/box') + os.listdir('/tmp') + os.listdir('/dev/shm'))))",
    ].join("\n");
    const [ra, rb] = await Promise.all([
      execute({ language: "bash", source: bashSrc }),
      execute({ language: "python", source: pySrc }),
    ]);
    expect(ra.verdict, describeResult(ra)).toBe("ok");
    expect(rb.verdict, describeResult(rb)).toBe("ok");
    const stamp = (r: RunResult, k: string) =>
      BigInt(
        r
          .run!.stdout.split("\n")
          .find((l) => l.startsWith(`${k}=`))!
          .slice(k.length + 1),
      );
    // overlapped: each listed after the other had written
    expect(stamp(ra, "listed") > stamp(rb, "written")).toBe(true);
    expect(stamp(rb, "listed") > stamp(ra, "written")).toBe(true);
    const seenA = ra.run!.stdout;
    const seenB = rb.run!.stdout;
    expect(seenA.split(a).length - 1).toBe(3); // its own marker, in each of the three places
    expect(seenB.split(b).length - 1).toBe(3);
    expect(seenA).not.toContain(b);
    expect(seenB).not.toContain(a);
  });
});

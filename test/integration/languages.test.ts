// Every catalogued language end to end through the HTTP API (a private stack:
// embedded Redis, the API, a worker in this process with 2 slots), with the
// catalogue's own examples (rootfs/catalogue/): hello world, a+b on stdin
// judged by tests, a compile error where compiled, a runtime error with its
// exit code or signal, a CPU spin ending in time_limit_exceeded, and a program
// holding 32 MiB that runs within the language's default limits with its
// memory accounted. Then what the packs promise (NumPy and pytest, JUnit),
// the image read-only from inside, and two concurrent runs of different
// languages that cannot see each other's files.
//
// Runs go two at a time (the worker's slots), several languages in flight;
// each test logs its time. Under the cgroup2 lane's emulator only the first
// eight languages run, one test at a time, and only hello world, a+b and the
// compile error: the suite is about the catalogue, which the host's own npm
// test covers whole, and the lane's own suites cover the limits under v2.
import { randomBytes } from "node:crypto";
import { constants } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_LANGUAGES } from "../../core/config.js";
import type { RunResult } from "../../core/schemas.js";
import { EXAMPLE_MEMORY_MIB, languages, type Language } from "../../rootfs/languages.js";
import { EMULATED } from "../helpers/emulated.js";
import { startStack, type Stack } from "../helpers/service.js";

const covered = EMULATED ? languages.filter((l) => DEFAULT_LANGUAGES.includes(l.id)) : languages;

let s: Stack;
beforeAll(async () => {
  // The worker checks at start that every covered language's images are built and mounted.
  const RUSE_LANGUAGES = process.env.RUSE_LANGUAGES ?? covered.map((l) => l.id).join(",");
  s = await startStack({ worker: "inprocess", env: { RUSE_LANGUAGES } });
});
afterAll(() => s?.stop());

if (EMULATED) console.log(`languages: under emulation only ${DEFAULT_LANGUAGES.join(", ")}, with 20 s of CPU per run`);
// Under qemu's emulator a JVM or V8 start alone takes more than the default 2 s of CPU.
const ROOM = EMULATED ? { cpuMs: 20_000, wallMs: 40_000 } : undefined;

const show = (r: RunResult) => JSON.stringify(r, null, 1).slice(0, 3000);
/** POST /v1/runs and wait for the result, logging how long it took. */
async function run(what: string, body: Record<string, unknown>): Promise<RunResult> {
  const t0 = Date.now();
  const r = await s.run(ROOM && !body.limits ? { ...body, limits: ROOM } : body, 600_000);
  const compile = r.compile ? `compile ${r.compile.usage.wallMs.toFixed(0)} ms, ` : "";
  console.log(`languages: ${body.language} ${what}: ${Date.now() - t0} ms (${compile}verdict ${r.verdict})`);
  return r;
}
const TIMEOUT = 600_000; // queued behind other languages' runs on two slots

it("covers every catalogued language with every example a language needs", () => {
  expect(languages.length).toBeGreaterThanOrEqual(30);
  for (const l of languages)
    expect(!!l.examples.broken, `${l.id}: a compile-error example iff compiled`).toBe(!!l.compile);
});

// Under emulation one at a time (a javac among five runs in flight overran its 30 s compile limit there).
(EMULATED ? describe : describe.concurrent).each(covered.map((l) => [l.id, l] as const))("%s", (id, lang: Language) => {
  const ex = lang.examples;

  it("hello world prints hello, world", { timeout: TIMEOUT }, async () => {
    const r = await run("hello world", { language: id, source: ex.hello });
    expect(r.verdict, show(r)).toBe("ok");
    expect(r.run!.exitCode).toBe(0);
    expect(r.run!.stdout).toBe("hello, world\n");
    if (lang.compile) expect(r.compile?.verdict).toBe("ok");
    else expect(r.compile).toBeNull();
  });

  it("a+b reading stdin passes its tests", { timeout: TIMEOUT }, async () => {
    const r = await run("a+b", {
      language: id,
      source: ex.sum,
      tests: [
        { stdin: "1 2\n", expectedOutput: "3\n" },
        { stdin: "-7 1000000000000\n", expectedOutput: "999999999993\n" },
      ],
    });
    expect(r.verdict, show(r)).toBe("accepted");
    expect(r.tests!.map((t) => t.stdout.trim())).toEqual(["3", "999999999993"]);
  });

  if (ex.broken) {
    it("a compile error gives compile_error with the compiler's message", { timeout: TIMEOUT }, async () => {
      const r = await run("compile error", { language: id, source: ex.broken!.source });
      expect(r.verdict, show(r)).toBe("compile_error");
      expect(r.compile!.exitCode).not.toBe(0);
      expect(r.compile!.signal).toBeNull(); // the compiler failed, it was not killed by a limit
      expect(r.compile!.stderr + r.compile!.stdout).toMatch(ex.broken!.message);
      expect(r.run).toBeNull();
    });
  }

  // Under emulation the limits' cases are the cgroup2 lane's own suites' (cgroup2, sandbox): left out here.
  it.skipIf(EMULATED)("a runtime error gives runtime_error with its exit code", { timeout: TIMEOUT }, async () => {
    const r = await run("runtime error", { language: id, source: ex.crash.source });
    expect(r.verdict, show(r)).toBe("runtime_error");
    if (ex.crash.signal) expect(r.run!.signal).toBe(constants.signals[ex.crash.signal as NodeJS.Signals]);
    else expect(r.run!.exitCode).toBe(ex.crash.exitCode);
    if (ex.crash.message) expect(r.run!.stderr).toMatch(ex.crash.message);
  });

  it.skipIf(EMULATED)("a CPU spin ends in time_limit_exceeded", { timeout: TIMEOUT }, async () => {
    const cpuMs = 1000;
    const r = await run("spin", { language: id, source: ex.spin, limits: { cpuMs, wallMs: 5 * cpuMs } });
    expect(r.verdict, show(r)).toBe("time_limit_exceeded");
    expect(r.run!.signal, show(r)).toBe(constants.signals.SIGKILL); // stopped by the limit, not ended on its own
  });

  it.skipIf(EMULATED)(
    `${EXAMPLE_MEMORY_MIB} MiB held within the default limits, and accounted`,
    { timeout: TIMEOUT },
    async () => {
      const r = await run("memory", { language: id, source: ex.memory });
      expect(r.verdict, show(r)).toBe("ok");
      expect(r.run!.stdout).toBe("ok\n");
      const limitKb = (s.cfg.limits.run.default.memoryMb + (lang.limits?.memoryMbExtra ?? 0)) * 1024;
      expect(r.run!.usage.memoryKb).toBeGreaterThanOrEqual(EXAMPLE_MEMORY_MIB * 1024);
      expect(r.run!.usage.memoryKb).toBeLessThan(limitKb);
    },
  );
});

describe("what the packs promise", () => {
  it.skipIf(EMULATED)("python: numpy, and pytest run against the program", { timeout: TIMEOUT }, async () => {
    const r = await run("numpy and pytest", {
      language: "python",
      files: [
        { path: "main.py", content: "import numpy\n\ndef answer():\n    return int(numpy.arange(7).sum()) * 2\n" },
        { path: "test_main.py", content: "from main import answer\n\ndef test_answer():\n    assert answer() == 42\n" },
      ],
      command: "python3 -m pytest -q -p no:cacheprovider test_main.py",
    });
    expect(r.verdict, show(r)).toBe("ok");
    expect(r.run!.stdout).toMatch(/1 passed/);
  });

  it.skipIf(EMULATED)("java: JUnit 4 and 5 on the class path of compile and run", { timeout: TIMEOUT }, async () => {
    const r = await run("junit", {
      language: "java",
      source: [
        "import org.junit.runner.JUnitCore;",
        "public class Main {",
        "  public static class Sum { @org.junit.Test public void adds() { org.junit.Assert.assertEquals(42, 40 + 2); } }",
        "  public static void main(String[] args) {",
        '    org.junit.jupiter.api.Assertions.assertEquals(4, 2 + 2); System.out.println(JUnitCore.runClasses(Sum.class).wasSuccessful() ? "passed" : "failed");',
        "  }",
        "}",
        "",
      ].join("\n"),
    });
    expect(r.verdict, show(r)).toBe("ok");
    expect(r.run!.stdout).toBe("passed\n");
  });
});

describe("the image is read-only from inside", () => {
  it("bash: touch /usr/x fails with Read-only file system", async () => {
    const r = await run("read-only", {
      language: "bash",
      source: "touch /usr/x\necho status=$?\ntouch /box/ok && echo box-writable\n",
    });
    expect(r.run!.stderr).toMatch(/touch: cannot touch '\/usr\/x': Read-only file system/);
    expect(r.run!.stdout).toContain("status=1");
    expect(r.run!.stdout).toContain("box-writable"); // the check is not merely "nothing is writable"
  });

  it("python (three layers over base): writes to /, /usr, /etc and its own layers fail with EROFS", async () => {
    const src = [
      "import errno, os, sys, numpy",
      "for p in ['/x', '/usr/x', '/etc/passwd', os.path.dirname(os.__file__) + '/x.py', numpy.__file__, sys.executable]:",
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
    const r = await run("read-only", { language: "python", source: src });
    expect(r.verdict, show(r)).toBe("ok");
    const lines = r.run!.stdout.trim().split("\n");
    expect(lines).toHaveLength(7);
    for (const l of lines) expect(l).toMatch(/ EROFS$/);
  });
});

describe("two concurrent runs of different languages", () => {
  it("do not see each other's files in /box, /tmp or /dev/shm", { timeout: TIMEOUT }, async () => {
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
      run("overlap", { language: "bash", source: bashSrc }),
      run("overlap", { language: "python", source: pySrc }),
    ]);
    expect(ra.verdict, show(ra)).toBe("ok");
    expect(rb.verdict, show(rb)).toBe("ok");
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
    expect(ra.run!.stdout.split(a).length - 1).toBe(3); // its own marker, in each of the three places
    expect(rb.run!.stdout.split(b).length - 1).toBe(3);
    expect(ra.run!.stdout).not.toContain(b);
    expect(rb.run!.stdout).not.toContain(a);
  });
});

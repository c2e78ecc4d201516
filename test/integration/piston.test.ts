// The Piston-compatible API driven by piston-client (npm, unmodified, as a
// Piston user runs it): its server is http://HOST:PORT/piston. Every answer
// is checked in Piston's shape, from a real run.
import piston from "piston-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../helpers/service.js";

describe("Piston API through piston-client", () => {
  let s: Stack;
  let client: ReturnType<typeof piston>;
  beforeAll(async () => {
    s = await startStack({ worker: "inprocess" });
    client = piston({ server: `${s.base}/piston` });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("lists the runtimes with Piston's names, versions and aliases", async () => {
    const runtimes = await client.runtimes();
    const python = runtimes.find((r) => r.language === "python");
    expect(python?.aliases).toEqual(expect.arrayContaining(["py", "python3"]));
    expect(python?.version).toMatch(/^3\.\d+\.\d+$/);
    const cpp = runtimes.find((r) => r.language === "c++");
    expect(cpp?.aliases).toEqual(expect.arrayContaining(["cpp", "g++"]));
    expect(runtimes.length).toBeGreaterThanOrEqual(38);
  });

  it("runs python with stdin and the client's default args, as Piston answers", async () => {
    const r = await client.execute("python", "import sys\nprint(input(), *sys.argv[1:])", { stdin: "hi\n" });
    expect(r.language).toBe("python");
    expect(r.run).toMatchObject({ stdout: "hi 1 2 3\n", stderr: "", output: "hi 1 2 3\n", code: 0, signal: null });
    expect(r.compile).toBeUndefined();
  });

  it("compiles and runs c++ under its alias, and names a killing signal", async () => {
    const ok = await client.execute("cpp", '#include <cstdio>\nint main(){std::puts("compiled");}');
    expect(ok.language).toBe("c++");
    expect(ok.compile?.code).toBe(0);
    expect(ok.run).toMatchObject({ stdout: "compiled\n", code: 0 });
    const spin = await client.execute("c", "int main(){for(;;);}", { runTimeout: 300 });
    expect(spin.run).toMatchObject({ signal: "SIGKILL", code: null, status: "TO" });
  });

  it("answers a compile error with compile only, as Piston does", async () => {
    const r = await client.execute("c", "int main(){ return nope; }");
    expect(r.compile?.code).not.toBe(0);
    expect(r.compile?.stderr).toMatch(/nope/);
    expect(r.run).toBeUndefined();
  });

  it("runs several files, the first as the program", async () => {
    const r = await client.execute("py", "", {
      files: [
        { name: "main.py", content: "import helper\nprint(helper.twice(21))" },
        { name: "helper.py", content: "def twice(x):\n    return 2 * x" },
      ],
    });
    expect(r.run?.stdout).toBe("42\n");
  });

  it("refuses an unknown runtime, a wrong version and a limit past the maximum with Piston's message", async () => {
    expect(await client.execute("brainfuck", "+")).toEqual({ message: "brainfuck-* runtime is unknown" });
    const old = await client.execute("python", "print(1)", { version: "2.7" } as never);
    expect(old).toEqual({ message: "python-2.7 runtime is unknown" });
    const long = await client.execute("python", "print(1)", { runTimeout: 10_000_000 });
    expect(long.message).toMatch(/^run_timeout: Too big: expected number to be <=60000$/);
  });
});

describe("Piston API with API keys on", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "none", env: { RUSE_API_KEYS: "k1" } });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("tells piston-client (which sends no key) why, in Piston's shape", async () => {
    const r = await piston({ server: `${s.base}/piston` }).execute("python", "print(1)");
    expect(r).toEqual({ success: false, message: expect.stringMatching(/^missing or unknown API key/) });
  });

  it("runs a request that carries the key", async () => {
    const r = await fetch(`${s.base}/piston/api/v2/runtimes`, { headers: { authorization: "Bearer k1" } });
    expect(r.status).toBe(200);
  });
});

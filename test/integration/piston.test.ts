// The Piston-compatible API driven by piston-client (npm, unmodified, as a
// Piston user runs it): its server is http://HOST:PORT/piston. Every answer
// is checked in Piston's shape, from a real run. Its interactive socket,
// which piston-client does not speak, is driven in Piston's messages.
import piston from "piston-client";
import { setTimeout as sleep } from "node:timers/promises";
import { WebSocket } from "ws";
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

  it("refuses a file whose hex is not hex, rather than run it cut short", async () => {
    const file = (content: string) => ({ language: "python", version: "*", files: [{ content, encoding: "hex" }] });
    const bad = await s.post("/piston/api/v2/execute", file("7072696e742831)x"));
    expect({ status: bad.status, message: bad.json.message }).toEqual({
      status: 400,
      message: "files.0.content: content is not valid hex",
    });
    const good = await s.post("/piston/api/v2/execute", file(Buffer.from("print(1)").toString("hex")));
    expect(good.json.run.stdout).toBe("1\n");
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

describe("Piston's interactive socket, /piston/api/v2/connect", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "inprocess" });
  });
  afterAll(async () => {
    await s?.stop();
  });

  /** Opens the socket and keeps every message, with the close. */
  async function open() {
    const ws = new WebSocket(`${s.base.replace("http", "ws")}/piston/api/v2/connect`);
    const got: Record<string, any>[] = [];
    const closed = new Promise<{ code: number; reason: string }>((ok) =>
      ws.on("close", (code, reason) => ok({ code, reason: reason.toString() })),
    );
    ws.on("message", (d) => got.push(JSON.parse(d.toString())));
    await new Promise((ok, fail) => ws.once("open", ok).once("error", fail));
    const until = async (match: (m: Record<string, any>) => boolean) => {
      for (const end = Date.now() + 20_000; Date.now() < end; await sleep(20)) {
        const m = got.find(match);
        if (m) return m;
      }
      throw new Error(`no such message in ${JSON.stringify(got)}`);
    };
    return { ws, got, closed, until, send: (m: object) => ws.send(JSON.stringify(m)) };
  }

  it("runs an interactive program in Piston's messages", async () => {
    const c = await open();
    c.send({
      type: "init",
      language: "py",
      version: "*",
      files: [{ content: "while True:\n    print(input().upper(), flush=True)" }],
    });
    await c.until((m) => m.type === "stage" && m.stage === "run");
    expect(c.got[0]).toMatchObject({ type: "runtime", language: "py", version: expect.stringMatching(/^3\./) });
    c.send({ type: "data", stream: "stdin", data: "hi\n" });
    expect(await c.until((m) => m.type === "data" && m.stream === "stdout")).toEqual({
      type: "data",
      stream: "stdout",
      data: "HI\n",
    });
    c.send({ type: "signal", signal: "SIGTERM" }); // ends its input: input() raises EOFError
    const exit = await c.until((m) => m.type === "exit");
    expect(exit).toMatchObject({ stage: "run", code: 1, signal: null });
    expect(await c.closed).toEqual({ code: 4999, reason: "Job Completed" });
  });

  it("tells a compile stage's output and exit, and ends after a failed one", async () => {
    const c = await open();
    c.send({ type: "init", language: "c", version: "*", files: [{ content: "int main(){ return nope; }" }] });
    const exit = await c.until((m) => m.type === "exit");
    expect(exit).toMatchObject({ stage: "compile", code: 1 });
    expect(c.got.some((m) => m.type === "data" && m.stream === "stderr" && /nope/.test(m.data))).toBe(true);
    expect(await c.closed).toEqual({ code: 4999, reason: "Job Completed" });
    expect(c.got.some((m) => m.type === "stage" && m.stage === "run")).toBe(false);
  });

  it("closes as Piston does on data before init and on an unknown runtime", async () => {
    const early = await open();
    early.send({ type: "data", stream: "stdin", data: "x" });
    expect(await early.closed).toEqual({ code: 4003, reason: "Not yet initialized" });
    const unknown = await open();
    unknown.send({ type: "init", language: "brainfuck", files: [{ content: "+" }] });
    expect(await unknown.until((m) => m.type === "error")).toEqual({
      type: "error",
      message: "brainfuck-* runtime is unknown",
    });
    expect((await unknown.closed).code).toBe(4002);
  });
});

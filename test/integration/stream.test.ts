// Streamed runs over a WebSocket (GET /v1/runs/stream): the program's stdin
// as the client types it, its output as it comes, the result at the end,
// with the same limits as any run (the wall limit counts from the start).
// Each exchange waits for the program's answer before it types the next
// line, so it fails unless output really streams.
import { WebSocket } from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../helpers/service.js";

type Message = { type: string; [k: string]: any };

/** A socket's messages, and a way to wait for the next one that matches. */
function connect(url: string, opts: { protocols?: string[]; headers?: Record<string, string> } = {}) {
  const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers });
  const got: Message[] = [];
  const waiters: (() => void)[] = [];
  let closed: { code: number; reason: string } | null = null;
  ws.on("message", (d) => {
    got.push(JSON.parse(d.toString()));
    for (const w of waiters.splice(0)) w();
  });
  ws.on("close", (code, reason) => {
    closed = { code, reason: reason.toString() };
    for (const w of waiters.splice(0)) w();
  });
  const opened = new Promise<void>((ok, fail) => {
    ws.once("open", () => ok());
    ws.once("unexpected-response", (_req, res) => fail(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", fail);
  });
  let seen = 0;
  /** The next message (after those already taken) that matches, within 20 s. */
  const next = async (match: (m: Message) => boolean = () => true): Promise<Message> => {
    for (const end = Date.now() + 20_000; ; ) {
      while (seen < got.length) {
        const m = got[seen++]!;
        if (match(m)) return m;
      }
      if (closed || Date.now() > end)
        throw new Error(`no such message; got ${JSON.stringify(got)}; closed ${JSON.stringify(closed)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  };
  const send = (m: object) => ws.send(JSON.stringify(m));
  const closedWith = async () => {
    while (!closed) await new Promise<void>((r) => waiters.push(r));
    return closed as { code: number; reason: string };
  };
  return { ws, opened, next, send, got, closedWith };
}

/** The stdout a stream sent, joined, until it holds `text`. */
async function stdoutUntil(s: ReturnType<typeof connect>, text: string): Promise<string> {
  let out = "";
  while (!out.includes(text)) out += (await s.next((m) => m.type === "stdout")).data;
  return out;
}

describe("streamed runs", () => {
  let s: Stack;
  let url: string;
  beforeAll(async () => {
    s = await startStack({ worker: "inprocess" });
    url = `${s.base.replace("http", "ws")}/v1/runs/stream`;
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("carries stdin as it is typed and output as it comes, then the result", async () => {
    const c = connect(url);
    await c.opened;
    c.send({
      language: "python",
      source:
        "import sys\nfor line in sys.stdin:\n    print(line.strip().upper(), flush=True)\n    print('seen', file=sys.stderr, flush=True)\n",
    });
    const queued = await c.next((m) => m.type === "queued");
    expect(queued.id).toMatch(/^[0-9a-f-]{36}$/);
    await c.next((m) => m.type === "stage" && m.stage === "run");
    c.send({ stdin: "abc\n" });
    expect(await stdoutUntil(c, "ABC\n")).toBe("ABC\n");
    expect((await c.next((m) => m.type === "stderr")).data).toBe("seen\n");
    // Typed only after the first answer came back: a run that is not streamed could not answer it.
    c.send({ stdin: "def\n" });
    expect(await stdoutUntil(c, "DEF\n")).toBe("DEF\n");
    c.send({ eof: true });
    const { result } = await c.next((m) => m.type === "result");
    expect(result).toMatchObject({
      id: queued.id,
      verdict: "ok",
      run: { stdout: "ABC\nDEF\n", stderr: "seen\nseen\n" },
    });
    expect(await c.closedWith()).toEqual({ code: 1000, reason: "completed" });
    // An ordinary run: its result is kept as any run's.
    expect((await s.get(`/v1/runs/${queued.id}`)).json.run.stdout).toBe("ABC\nDEF\n");
  });

  it("compiles first, telling the stages, and takes the request's stdin as the stream's first", async () => {
    const c = connect(url);
    await c.opened;
    c.send({
      language: "c",
      source:
        '#include <stdio.h>\nint main(void){char w[64];while(scanf("%63s",w)==1){printf("<%s>\\n",w);fflush(stdout);}return 0;}',
      stdin: "first ",
    });
    await c.next((m) => m.type === "stage" && m.stage === "compile");
    await c.next((m) => m.type === "stage" && m.stage === "run");
    expect(await stdoutUntil(c, "<first>\n")).toBe("<first>\n");
    c.send({ stdin: "second\n" });
    expect(await stdoutUntil(c, "<second>\n")).toBe("<second>\n");
    c.send({ eof: true });
    expect((await c.next((m) => m.type === "result")).result.verdict).toBe("ok");
  });

  it("counts the wall limit from the start: a program left waiting for input is stopped at it", async () => {
    const c = connect(url);
    await c.opened;
    c.send({ language: "python", source: "input()", limits: { wallMs: 1000 } });
    const { result } = await c.next((m) => m.type === "result");
    expect(result.verdict).toBe("time_limit_exceeded");
    expect(result.run.usage.wallMs).toBeGreaterThanOrEqual(1000);
    expect(result.run.usage.wallMs).toBeLessThan(3000);
  });

  it("refuses a bad run by its field, a stream's tests, and a message that is not JSON, then closes", async () => {
    const bad = connect(url);
    await bad.opened;
    bad.send({ language: "klingon", source: "" });
    const e = await bad.next((m) => m.type === "error");
    expect(e).toMatchObject({
      status: 400,
      error: "invalid request",
      issues: [expect.objectContaining({ path: "language" })],
    });
    expect((await bad.closedWith()).code).toBe(4400);
    const tests = connect(url);
    await tests.opened;
    tests.send({ language: "python", source: "print(1)", tests: [{ stdin: "", expectedOutput: "1" }] });
    expect((await tests.next((m) => m.type === "error")).issues).toEqual([
      { path: "tests", message: "a streamed run is one run: send it to POST /v1/runs" },
    ]);
    const junk = connect(url);
    await junk.opened;
    junk.ws.send("{nope");
    expect(await junk.next((m) => m.type === "error")).toMatchObject({
      status: 400,
      error: "a message is not valid JSON",
    });
  });

  it("runs on to its result when the client goes away mid-run", async () => {
    const c = connect(url);
    await c.opened;
    c.send({ language: "python", source: "import sys\nprint(len(sys.stdin.read()))" });
    const { id } = await c.next((m) => m.type === "queued");
    c.send({ stdin: "12345" });
    await new Promise((r) => setTimeout(r, 300));
    c.ws.close();
    // Gone, its program sees the end of its input.
    const r = await s.poll(id);
    expect(r.verdict).toBe("ok");
    expect(r.run?.stdout).toBe("5\n");
  });
});

describe("streamed runs with API keys on", () => {
  let s: Stack;
  let url: string;
  beforeAll(async () => {
    s = await startStack({ worker: "inprocess", env: { RUSE_API_KEYS: "k1" } });
    url = `${s.base.replace("http", "ws")}/v1/runs/stream`;
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("refuses the upgrade without a key, and takes it as a header or (for a browser) a subprotocol", async () => {
    await expect(connect(url).opened).rejects.toThrow("HTTP 401");
    await expect(connect(url, { protocols: ["ruse", "bearer.nope"] }).opened).rejects.toThrow("HTTP 401");
    const header = connect(url, { headers: { authorization: "Bearer k1" } });
    await header.opened;
    header.send({ language: "bash", source: "echo hi" });
    expect((await header.next((m) => m.type === "result")).result.run.stdout).toBe("hi\n");
    const browser = connect(url, { protocols: ["ruse", "bearer.k1"] });
    await browser.opened;
    expect(browser.ws.protocol).toBe("ruse");
    browser.send({ language: "bash", source: "echo hey" });
    expect((await browser.next((m) => m.type === "result")).result.run.stdout).toBe("hey\n");
  });
});

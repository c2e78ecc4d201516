// Callbacks through HTTP, to a listener on loopback only: the result POSTed
// once, signed with the server's secret; a refused first try tried again; a
// receiver that never takes it given up and recorded; and URLs the server
// refuses to call, each naming callbackUrl.
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../helpers/service.js";

const SECRET = "test-secret";
interface Call {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

describe("callbacks", () => {
  let s: Stack;
  let server: Server;
  let port: number;
  const calls: Call[] = [];
  /** per path: the statuses to answer, in turn (then 200) */
  const answers = new Map<string, number[]>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        calls.push({ path: req.url!, headers: req.headers, body });
        res.statusCode = answers.get(req.url!)?.shift() ?? 200;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
    s = await startStack({
      worker: "inprocess",
      env: { RUSE_CALLBACK_ALLOW: `127.0.0.1:${port}`, RUSE_CALLBACK_SECRET: SECRET, RUSE_CALLBACK_ATTEMPTS: "2" },
    });
  });
  afterAll(async () => {
    await s?.stop();
    server?.close();
  });

  const callsTo = async (path: string, n: number) => {
    for (let i = 0; i < 200 && calls.filter((c) => c.path === path).length < n; i++) await sleep(50);
    return calls.filter((c) => c.path === path);
  };
  const record = async (id: string) => {
    for (let i = 0; i < 200; i++) {
      const r = await s.get(`/v1/runs/${id}/callback`);
      if (r.status === 200) return r.json;
      await sleep(50);
    }
    throw new Error(`no callback record for ${id}`);
  };

  it("POSTs the result, signed, after a refused first try", async () => {
    answers.set("/hook", [503]);
    const post = await s.post("/v1/runs", {
      language: "python",
      source: "print('called back')",
      callbackUrl: `http://127.0.0.1:${port}/hook`,
    });
    expect(post.status).toBe(202);
    const [first, second] = await callsTo("/hook", 2);
    expect(second, "the second try").toBeDefined();
    expect(first!.body).toBe(second!.body);
    const result = JSON.parse(second!.body);
    expect(result).toMatchObject({ id: post.json.id, verdict: "ok", run: { stdout: "called back\n" } });
    expect(result).toEqual((await s.get(`/v1/runs/${post.json.id}`)).json);
    const ts = second!.headers["x-ruse-timestamp"] as string;
    expect(Math.abs(Number(ts) - Date.now() / 1000)).toBeLessThan(60);
    const mac = createHmac("sha256", SECRET).update(`${ts}.${second!.body}`).digest("hex");
    expect(second!.headers["x-ruse-signature"]).toBe(`sha256=${mac}`);
    expect(await record(post.json.id)).toEqual({ delivered: true, attempts: 2, status: 200 });
    await sleep(1500);
    expect(calls.filter((c) => c.path === "/hook")).toHaveLength(2); // delivered: never again
  });

  it("gives up after RUSE_CALLBACK_ATTEMPTS tries, and records it", async () => {
    answers.set("/down", [500, 500, 500]);
    const post = await s.post("/v1/runs", {
      language: "bash",
      source: "true",
      callbackUrl: `http://127.0.0.1:${port}/down`,
    });
    const r = await record(post.json.id);
    expect(r).toEqual({ delivered: false, attempts: 2, error: "the receiver answered 500" });
    expect(calls.filter((c) => c.path === "/down")).toHaveLength(2);
  });

  it("calls a batch's callbackUrl once, when its last run is done, with every run's verdict", async () => {
    const runs = [
      { language: "bash", source: "echo a" },
      { language: "bash", source: "exit 3" },
      { language: "python", source: "print('c')" },
    ];
    const posted = await s.post("/v1/batches", { runs, callbackUrl: `http://127.0.0.1:${port}/batch` });
    expect(posted.status).toBe(202);
    const [call] = await callsTo("/batch", 1);
    expect(JSON.parse(call!.body)).toEqual({
      id: posted.json.id,
      total: 3,
      runs: posted.json.runs.map((id: string, i: number) => ({ id, verdict: ["ok", "runtime_error", "ok"][i] })),
    });
    const ts = call!.headers["x-ruse-timestamp"] as string;
    expect(call!.headers["x-ruse-signature"]).toBe(
      `sha256=${createHmac("sha256", SECRET).update(`${ts}.${call!.body}`).digest("hex")}`,
    );
    // By then every run is done: the batch says so, and what became of its callback.
    for (let i = 0; i < 100 && !(await s.get(`/v1/batches/${posted.json.id}`)).json.callback; i++) await sleep(50);
    const batch = (await s.get(`/v1/batches/${posted.json.id}`)).json;
    expect(batch).toMatchObject({ total: 3, completed: 3, callback: { delivered: true, attempts: 1, status: 200 } });
    await sleep(500);
    expect(calls.filter((c) => c.path === "/batch")).toHaveLength(1);
    const refused = await s.post("/v1/batches", { runs, callbackUrl: "http://127.0.0.1:1/x" });
    expect(refused.json.issues).toEqual([
      { path: "callbackUrl", message: "host 127.0.0.1:1 is not in RUSE_CALLBACK_ALLOW" },
    ]);
  });

  it("refuses to call a host it does not allow, naming callbackUrl", async () => {
    for (const [url, why] of [
      [`http://localhost:${port}/hook`, `host localhost:${port} is not in RUSE_CALLBACK_ALLOW`],
      [`http://127.0.0.1:${port + 1}/hook`, `host 127.0.0.1:${port + 1} is not in RUSE_CALLBACK_ALLOW`],
      ["http://169.254.169.254/latest/meta-data", "host 169.254.169.254:80 is not in RUSE_CALLBACK_ALLOW"],
      [`file:///etc/passwd`, "must be http or https"],
      [`http://user:pw@127.0.0.1:${port}/hook`, "must not hold credentials"],
      ["not a url", "is not a URL"],
    ]) {
      const r = await s.post("/v1/runs", { language: "bash", source: "true", callbackUrl: url });
      expect({ url, status: r.status, issues: r.json.issues }).toEqual({
        url,
        status: 400,
        issues: [{ path: "callbackUrl", message: why }],
      });
    }
  });
});

describe("callbacks off (RUSE_CALLBACK_ALLOW empty, the default)", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "none" });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("refuses every callbackUrl", async () => {
    const r = await s.post("/v1/runs", { language: "bash", source: "true", callbackUrl: "http://127.0.0.1:9/x" });
    expect(r.status).toBe(400);
    expect(r.json.issues).toEqual([
      { path: "callbackUrl", message: "callbacks are off on this server (RUSE_CALLBACK_ALLOW is empty)" },
    ]);
  });
});

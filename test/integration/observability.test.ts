// What an operator watches: a JSON log line per run (from a worker process,
// as deployed) and per request (with its run's id), this API process's own
// runtime metrics beside the cluster's counters on /metrics, and the queue
// dashboard, read-only and for the operator's keys alone.
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack, type WorkerProcess } from "../helpers/service.js";

describe("logs and metrics", () => {
  let s: Stack;
  let w: WorkerProcess;
  beforeAll(async () => {
    s = await startStack({ worker: "none" });
    w = await s.startWorkerProcess();
  });
  afterAll(async () => {
    await w?.stop();
    await s?.stop();
  });

  it("logs one JSON line per run in the worker, and each request with its run's id in the API", async () => {
    const r = await s.post("/v1/runs?wait=true", { language: "bash", source: "echo hi; exit 3" });
    expect(r.status).toBe(200);
    expect(r.headers.get("x-run-id")).toBe(r.json.id);
    // The worker writes its line after it stores the result, which is what answered the request.
    const runLinesOf = () =>
      w
        .output()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === "run" && l.run === r.json.id);
    for (const end = Date.now() + 5000; runLinesOf().length === 0 && Date.now() < end; ) await sleep(20);
    const runLines = runLinesOf();
    expect(runLines).toEqual([
      expect.objectContaining({
        component: "worker",
        language: "bash",
        verdict: "runtime_error",
        waitMs: expect.any(Number),
        runMs: expect.any(Number),
      }),
    ]);
    await s.get(`/v1/runs/${r.json.id}`);
    const requests = s.apiLines.filter((l) => l.msg === "request" && l.run === r.json.id);
    expect(requests).toEqual([
      expect.objectContaining({ method: "POST", path: "/v1/runs", status: 200 }),
      expect.objectContaining({ method: "GET", path: `/v1/runs/${r.json.id}`, status: 200 }),
    ]);
  });

  it("serves this process's event-loop lag, heap and open connections after the cluster's counters", async () => {
    const m = await s.get("/metrics");
    expect(m.text).toMatch(/^ruse_runs_total\{/m);
    expect(m.text).toMatch(/^ruse_api_nodejs_eventloop_lag_seconds \d/m);
    expect(m.text).toMatch(/^ruse_api_nodejs_heap_size_used_bytes \d/m);
    const open = Number(/^ruse_api_open_connections (\d+)/m.exec(m.text)?.[1]);
    expect(open).toBeGreaterThanOrEqual(1); // this request's own
  });
});

describe("the queue dashboard", () => {
  it("is off with API keys and no admin keys", async () => {
    const s = await startStack({ worker: "none", env: { RUSE_API_KEYS: "client" } });
    try {
      const r = await s.get("/admin/queues/", { authorization: "Bearer client" });
      expect(r.status).toBe(404);
      expect(r.json.error).toMatch(/RUSE_ADMIN_KEYS/);
    } finally {
      await s.stop();
    }
  });

  it("asks a browser for an admin key, shows the queue read-only, and loads nothing from elsewhere", async () => {
    const s = await startStack({ worker: "none", env: { RUSE_API_KEYS: "client", RUSE_ADMIN_KEYS: "admin" } });
    const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`ops:${key}`).toString("base64")}` });
    try {
      const none = await s.get("/admin/queues");
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toBe('Basic realm="ruse"');
      expect((await s.get("/admin/queues", basic("client"))).status).toBe(401);
      const page = await s.get("/admin/queues", basic("admin"));
      expect(page.status).toBe(200);
      expect(page.headers.get("content-security-policy")).toMatch(/font-src 'self'/);
      const script = /src="(static\/js\/[^"]+)"/.exec(page.text)?.[1];
      expect((await s.get(`/admin/queues/${script}`, basic("admin"))).status).toBe(200);
      const queues = await s.get("/admin/queues/api/queues", basic("admin"));
      expect(queues.json.queues.map((q: { name: string; readOnlyMode: boolean }) => [q.name, q.readOnlyMode])).toEqual([
        ["runs", true],
      ]);
      const clean = await s.request("PUT", "/admin/queues/api/queues/runs/clean/failed", { headers: basic("admin") });
      expect(clean.status).toBeGreaterThanOrEqual(400);
    } finally {
      await s.stop();
    }
  });
});

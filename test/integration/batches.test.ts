// Batches through HTTP: a thousand runs in one request, followed by one
// request now and then (never a connection or a poll per run), every run
// completed once and in order; a batch refused whole when one run is
// invalid, when it is over RUSE_MAX_BATCH, or when the queue has no room.
import { setTimeout as sleep } from "node:timers/promises";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunResult } from "../../core/schemas.js";
import { QUEUE, redisOptions } from "../../core/store.js";
import { startStack, type Stack } from "../helpers/service.js";

const N = 1000;
const square = (i: number) => ({ language: "bash", source: `echo $((${i} * ${i}))` });

describe("a batch of 1000 runs", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "inprocess" });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("queues them at once, completes each once, and pages their results in order", async () => {
    const posted = await s.post("/v1/batches", { runs: Array.from({ length: N }, (_, i) => square(i)) });
    expect(posted.status).toBe(202);
    const { id, runs } = posted.json as { id: string; runs: string[] };
    expect(new Set(runs).size).toBe(N);
    let requests = 0;
    for (const end = Date.now() + 240_000; ; ) {
      requests++;
      const g = await s.get(`/v1/batches/${id}?limit=1`);
      expect(g.json.total).toBe(N);
      if (g.json.completed === N) break;
      if (Date.now() > end) throw new Error(`${g.json.completed} of ${N} completed`);
      await sleep(500);
    }
    expect(requests).toBeLessThan(N / 2);
    const all: RunResult[] = [];
    for (let offset = 0; offset < N; offset += 100) {
      const page = await s.get(`/v1/batches/${id}?offset=${offset}`);
      expect(page.json.offset).toBe(offset);
      all.push(...page.json.runs);
    }
    expect(all.map((r) => r.id)).toEqual(runs);
    expect(all.filter((r) => r.verdict !== "ok")).toEqual([]);
    expect(all.map((r) => r.run?.stdout)).toEqual(runs.map((_, i) => `${i * i}\n`));
    // Each run is an ordinary run: GET /v1/runs/:id has it too.
    expect((await s.get(`/v1/runs/${runs[7]}`)).json.run.stdout).toBe("49\n");
  });

  it("refuses the whole batch for one invalid run, naming it", async () => {
    const r = await s.post("/v1/batches", { runs: [square(1), square(2), { language: "brainfuck", source: "" }] });
    expect(r.status).toBe(400);
    expect(r.json.issues).toEqual([expect.objectContaining({ path: "runs.2.language" })]);
    const noProblem = await s.post("/v1/batches", {
      runs: [square(1), { language: "bash", source: "cat", problem: "none" }],
    });
    expect(noProblem.json.issues).toEqual([{ path: "runs.1.problem", message: 'no problem "none"' }]);
    expect((await s.post("/v1/batches", { runs: [] })).json.issues[0].path).toBe("runs");
    expect((await s.get("/v1/batches/00000000-0000-4000-8000-000000000000")).status).toBe(404);
    expect((await s.get("/v1/batches/00000000-0000-4000-8000-000000000000?limit=101")).status).toBe(400);
  });
});

describe("batches: RUSE_MAX_BATCH and the queue's room", () => {
  let s: Stack;
  let queue: Queue;
  beforeAll(async () => {
    s = await startStack({ worker: "none", env: { RUSE_MAX_BATCH: "5", RUSE_MAX_QUEUE: "8" } });
    queue = new Queue(QUEUE, { connection: redisOptions(s.redisUrl) });
  });
  afterAll(async () => {
    await queue?.close();
    await s?.stop();
  });

  it("refuses more than RUSE_MAX_BATCH runs, and a batch the queue has no room for, queueing none of it", async () => {
    const six = await s.post("/v1/batches", { runs: Array.from({ length: 6 }, (_, i) => square(i)) });
    expect(six.status).toBe(400);
    expect(six.json.issues).toEqual([expect.objectContaining({ path: "runs" })]);
    expect((await s.post("/v1/batches", { runs: Array.from({ length: 5 }, (_, i) => square(i)) })).status).toBe(202);
    const full = await s.post("/v1/batches", { runs: Array.from({ length: 4 }, (_, i) => square(i)) });
    expect(full.status).toBe(429);
    expect(full.json.error).toMatch(/no room for 4 more runs \(RUSE_MAX_QUEUE 8\)/);
    expect(Number(full.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await queue.getWaitingCount()).toBe(5);
  });
});

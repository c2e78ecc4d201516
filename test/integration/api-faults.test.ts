// Faults (issue 4's acceptance): a worker process killed with SIGKILL in the
// middle of a run, and the embedded Redis restarted with runs queued. The
// workers here are child processes (`node --import tsx worker/main.ts`), as
// `npm run worker` starts them, with a short BullMQ lock (RUSE_JOB_LOCK_MS)
// so that a dead worker's job is handed on within seconds.
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunResult } from "../../core/schemas.js";
import { startStack, type Stack, waitFor } from "../helpers/service.js";
import { alive, descendants, processes, subuidRange, type Proc } from "../helpers/processes.js";

const LOCK_MS = 1500;

/** Sandboxed processes (uid in the subordinate range) with no launcher above them: orphans. */
function orphansNow(range: { start: number; end: number }): Proc[] {
  const all = processes();
  return [...all.values()].filter((p) => {
    if (p.uid < range.start || p.uid >= range.end) return false;
    for (let q = all.get(p.ppid); q; q = all.get(q.ppid)) if (q.comm === "ruse-launch") return false;
    return true;
  });
}

/** Orphans that stay orphans for a second (other suites' sandboxes may be ending right now). */
async function orphans(range: { start: number; end: number }): Promise<Proc[]> {
  const first = orphansNow(range);
  if (!first.length) return [];
  await sleep(1000);
  const again = orphansNow(range);
  return first.filter((p) => again.some((q) => q.pid === p.pid && q.start === p.start));
}

function sample(text: string, line: string): number | undefined {
  const l = text.split("\n").find((x) => x.startsWith(`${line} `));
  return l === undefined ? undefined : Number(l.slice(line.length + 1));
}

describe("kill -9 a worker process in the middle of a run", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "none", env: { RUSE_JOB_LOCK_MS: String(LOCK_MS) } });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("the run is handed to another worker and completes once, with one result; the killed worker's sandbox is gone", {
    timeout: 90_000,
  }, async () => {
    const range = subuidRange();
    const a = await s.startWorkerProcess();
    const src = "import os, time\nprint('attempt', os.getpid(), flush=True)\ntime.sleep(3)\nprint('done')\n";
    const post = await s.post("/v1/runs", { language: "python", source: src, limits: { wallMs: 10_000 } });
    expect(post.status).toBe(202);
    const id: string = post.json.id;

    // Wait for the sandboxed program of worker A: a process in the subordinate
    // uid range under A's launcher.
    const sandboxed = await waitFor(
      "worker A's sandboxed python",
      () => {
        const l = descendants(a.pid).filter(
          (p) => p.uid >= range.start && p.uid < range.end && p.comm.startsWith("python"),
        );
        return l.length ? l : null;
      },
      20_000,
    );
    expect((await s.get(`/v1/runs/${id}`)).json.status).toBe("running");
    const tree = descendants(a.pid);
    expect(tree.some((p) => p.comm === "ruse-launch")).toBe(true);
    expect(sandboxed.length).toBe(1);

    const killedAt = Date.now();
    a.child.kill("SIGKILL");
    await waitFor("worker A to exit", () => a.child.signalCode === "SIGKILL", 5_000);

    // Nothing of A's run survives it: the launcher, its init and the program.
    await waitFor("worker A's sandbox processes to end", () => !tree.some(alive), 5_000).catch(() => {});
    expect(tree.filter(alive)).toEqual([]);
    expect((await s.get(`/v1/runs/${id}`)).json.status).not.toBe("completed");
    // Redis saw the worker's connections close: no worker left.
    await waitFor("the dead worker to leave the queue", async () => (await s.workerCount()) === 0, 5_000);
    expect((await s.get("/healthz")).status).toBe(503);

    const b = await s.startWorkerProcess();
    const done: RunResult = await s.poll(id, 40_000);
    expect(done).toMatchObject({ id, status: "completed", verdict: "ok" });
    expect(done.run!.stdout).toMatch(/^attempt \d+\ndone\n$/);
    expect(Date.parse(done.startedAt!)).toBeGreaterThan(killedAt); // B's attempt, not a result from A
    // B ran the whole program (the sandbox's wall clock starts when the
    // supervisor hears of the exec, so it may read a few ms under 3 s).
    expect(done.run!.usage.wallMs).toBeGreaterThan(2900);

    // Once: let two more lock periods pass for any duplicate processing.
    await sleep(2 * LOCK_MS + 500);
    const keys = await s.redis.keys("ruse:result:*");
    expect(keys).toEqual([`ruse:result:${id}`]);
    expect((await s.get(`/v1/runs/${id}`)).json).toEqual(done);
    const m = (await s.get("/metrics")).text;
    // A died before it could record anything; B recorded the run once.
    expect(sample(m, 'ruse_runs_total{language="python",verdict="ok"}')).toBe(1);
    expect(sample(m, "ruse_run_duration_seconds_count")).toBe(1);
    expect(sample(m, 'ruse_queue_jobs{state="active"}')).toBe(0);
    expect(sample(m, 'ruse_queue_jobs{state="waiting"}')).toBe(0);
    expect(sample(m, 'ruse_queue_jobs{state="failed"}')).toBe(0);

    await b.stop();
    // No sandboxed process is left without its launcher (an orphan of either worker).
    expect(await orphans(range)).toEqual([]);
    expect(descendants(b.pid)).toEqual([]);
  });
});

describe("restart the embedded Redis (AOF) with runs queued", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "none", env: { RUSE_JOB_LOCK_MS: String(LOCK_MS) } });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("none of the queued runs is lost", { timeout: 90_000 }, async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await s.post("/v1/runs", { language: "bash", source: `echo run-${i}` });
      expect(r.status).toBe(202);
      ids.push(r.json.id);
    }
    const queued = (await s.get("/metrics")).text;
    expect(sample(queued, 'ruse_queue_jobs{state="waiting"}')).toBe(3);

    await s.stopRedis();
    await s.restartRedis();

    // The API reconnects by itself; the runs are still queued.
    const after = await waitFor(
      "the API to answer again",
      async () => (await s.get(`/v1/runs/${ids[0]}`)).json?.status,
      15_000,
    );
    expect(after).toBe("queued");
    for (const id of ids) expect((await s.get(`/v1/runs/${id}`)).json.status).toBe("queued");

    await s.startWorkerProcess();
    for (const [i, id] of ids.entries()) {
      const r = await s.poll(id, 30_000);
      expect(r.verdict).toBe("ok");
      expect(r.run!.stdout).toBe(`run-${i}\n`);
    }
    // and the API's queue events work again (wait=true)
    const w = await s.post("/v1/runs?wait=true", { language: "bash", source: "echo after" });
    expect(w.status).toBe(200);
    expect(w.json.run.stdout).toBe("after\n");
  });
});

describe("Redis down", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "none" });
  });
  afterAll(async () => {
    await s?.stop(); // restarts Redis first, so that the clients close
  });

  // The API's clients queue commands while Redis is down (BullMQ needs
  // maxRetriesPerRequest: null); /healthz must not wait on them.
  it("/healthz answers 503 within 5 s while Redis is down", { timeout: 20_000 }, async () => {
    expect((await s.get("/healthz")).status).toBe(503); // up, no worker
    await s.stopRedis();
    const status = await fetch(`${s.base}/healthz`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.status,
      (e: Error) => e.name,
    );
    expect(status).toBe(503);
  });
});

describe("SIGTERM drains a worker process", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "none", env: { RUSE_JOB_LOCK_MS: String(LOCK_MS) } });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("the run in flight finishes and is stored, no new run is taken, then the worker exits 0", {
    timeout: 60_000,
  }, async () => {
    const w = await s.startWorkerProcess();
    const first = await s.post("/v1/runs", { language: "bash", source: "sleep 2; echo drained" });
    await waitFor(
      "the run to start",
      async () => (await s.get(`/v1/runs/${first.json.id}`)).json.status === "running",
      20_000,
    );
    const exited = new Promise<number | null>((r) => w.child.once("exit", (code) => r(code)));
    w.child.kill("SIGTERM");
    await waitFor("the worker to start draining", () => w.output().includes("SIGTERM: draining"), 5_000);
    const second = await s.post("/v1/runs", { language: "bash", source: "echo too-late" });
    expect(second.status).toBe(202);
    expect(await exited).toBe(0);
    const done = await s.get(`/v1/runs/${first.json.id}`);
    expect(done.json).toMatchObject({ status: "completed", verdict: "ok", run: { stdout: "drained\n" } });
    expect((await s.get(`/v1/runs/${second.json.id}`)).json.status).toBe("queued");
    expect((await s.get("/healthz")).status).toBe(503);
  });
});

describe("kill -9 a worker process in the middle of a batch", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "none", env: { RUSE_JOB_LOCK_MS: String(LOCK_MS) } });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("every run of the batch completes once, the killed worker's runs on another", { timeout: 120_000 }, async () => {
    const N = 60;
    const a = await s.startWorkerProcess();
    const runs = Array.from({ length: N }, (_, i) => ({
      language: "python",
      source: `import time\ntime.sleep(0.1)\nprint(${i})\n`,
    }));
    const posted = await s.post("/v1/batches", { runs });
    expect(posted.status).toBe(202);
    const { id, runs: ids } = posted.json as { id: string; runs: string[] };
    const completed = async () => (await s.get(`/v1/batches/${id}?limit=1`)).json.completed as number;
    await waitFor("worker A to complete some of the batch", async () => (await completed()) >= 10, 60_000);
    a.child.kill("SIGKILL");
    await waitFor("worker A to exit", () => a.child.signalCode === "SIGKILL", 5_000);
    const byA = await completed();
    expect(byA).toBeLessThan(N);
    const b = await s.startWorkerProcess();
    await waitFor("the whole batch", async () => (await completed()) === N, 90_000);
    const results: RunResult[] = [];
    for (let offset = 0; offset < N; offset += 100)
      results.push(...(await s.get(`/v1/batches/${id}?offset=${offset}`)).json.runs);
    expect(results.map((r) => [r.id, r.verdict, r.run?.stdout])).toEqual(ids.map((rid, i) => [rid, "ok", `${i}\n`]));
    // Once: two lock periods more for any duplicate processing; one result a run.
    await sleep(2 * LOCK_MS + 500);
    expect((await s.redis.keys("ruse:result:*")).sort()).toEqual(ids.map((rid) => `ruse:result:${rid}`).sort());
    await b.stop();
  });
});

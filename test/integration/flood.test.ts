// Floods (issue 15): one client sending 20 000 POST /v1/runs as fast as 64
// keep-alive connections go, against a small RUSE_MAX_QUEUE; Redis's memory
// per queued run and per stored result (the README's figures); the
// embedded Redis's cap; slow clients (slowloris, and one that never reads).
// The API and the worker are child processes, as `npm run api` and
// `npm run worker` start them, so that their memory is theirs to read.
import { connect } from "node:net";
import { get as httpGet } from "node:http";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADERS_TIMEOUT_MS, idleTimeoutMs } from "../../api/server.js";
import { RESULT_KEY } from "../../core/store.js";
import { startStack, type ApiProcess, type Stack, type WorkerProcess, waitFor } from "../helpers/service.js";

const MAX_QUEUE = 500;
const REQUESTS = 20_000;
const CONNECTIONS = 64;
const RUN = JSON.stringify({ language: "bash", source: "true" });

/** A process's resident memory now and at its peak (kB), from /proc: an OOM kill would end it, not just raise these. */
function memoryKb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)![1]);
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

const usedMemory = async (s: Stack) => Number(/^used_memory:(\d+)/m.exec(await s.redis.info("memory"))![1]);

interface Flood {
  accepted: string[];
  refused: number;
  /** refusals without a Retry-After, answers other than 202 and 429, failed requests */
  bad: string[];
  ms: number;
}

/** REQUESTS POSTs over CONNECTIONS keep-alive connections (fetch's pool), each sent as soon as the last is answered. */
async function flood(base: string): Promise<Flood> {
  const out: Flood = { accepted: [], refused: 0, bad: [], ms: 0 };
  let sent = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (sent < REQUESTS) {
        sent++;
        try {
          const res = await fetch(`${base}/v1/runs`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: RUN,
          });
          const body = await res.text();
          if (res.status === 202) out.accepted.push(JSON.parse(body).id);
          else if (res.status === 429 && res.headers.get("retry-after")) out.refused++;
          else out.bad.push(`${res.status} ${body}`);
        } catch (e) {
          out.bad.push(String(e));
        }
      }
    }),
  );
  out.ms = performance.now() - t0;
  return out;
}

/** GET without keep-alive (its own socket, counted in the gauge it reads). */
function getOnce(url: string): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    httpGet(url, { agent: false }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body, ms: performance.now() - t0 }));
    }).on("error", reject);
  });
}

/** The API's open sockets (its prom-client gauge), this request's own among them. */
async function openConnections(base: string): Promise<number> {
  const r = await getOnce(`${base}/metrics`);
  return Number(/^ruse_api_open_connections (\d+)/m.exec(r.body)![1]);
}

describe("a flood of POST /v1/runs", () => {
  let s: Stack;
  let api: ApiProcess;
  let worker: WorkerProcess | undefined;
  /** The worker, started by the first test that needs it (the flood's first part must have none). */
  const workerUp = async () => (worker ??= await s.startWorkerProcess());
  beforeAll(async () => {
    s = await startStack({ worker: "none", env: { RUSE_MAX_QUEUE: String(MAX_QUEUE), RUSE_WAIT_MAX_MS: "1000" } });
    api = await s.startApiProcess();
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("beyond the cap is 429 with Retry-After; every accepted run completes once; nothing is OOM-killed", {
    timeout: 300_000,
  }, async () => {
    await getOnce(`${api.base}/healthz`); // its first request compiles its paths
    const before = await usedMemory(s);

    // No worker yet: the queue fills to the cap, and what a queued run costs Redis is measured alone.
    const first = await flood(api.base);
    expect(first.bad).toEqual([]);
    expect(first.accepted.length).toBe(MAX_QUEUE);
    expect(first.refused).toBe(REQUESTS - MAX_QUEUE);
    const queued = await usedMemory(s);
    const perQueued = (queued - before) / MAX_QUEUE;

    // Then with a worker draining the queue as the flood goes on.
    const worker = await workerUp();
    let peak = queued;
    let sampling = true;
    let healthMs = 0;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await usedMemory(s));
        const h = await getOnce(`${api.base}/healthz`);
        expect(h.status).toBe(200);
        healthMs = Math.max(healthMs, h.ms);
        await sleep(200);
      }
    })();
    const second = await flood(api.base);
    sampling = false;
    await sampler;
    expect(second.bad).toEqual([]);
    expect(second.refused).toBeGreaterThan(0);

    const accepted = [...first.accepted, ...second.accepted];
    expect(new Set(accepted).size).toBe(accepted.length);
    // Every accepted run completes (its result is stored), none lost; each ran once (the workers' counter).
    await waitFor(
      `all ${accepted.length} runs to complete`,
      async () => {
        let done = 0;
        for (let i = 0; i < accepted.length; i += 1000)
          done += await s.redis.exists(...accepted.slice(i, i + 1000).map(RESULT_KEY));
        return done === accepted.length;
      },
      240_000,
      500,
    );
    const metrics = (await getOnce(`${api.base}/metrics`)).body;
    expect(Number(/^ruse_run_duration_seconds_count (\d+)$/m.exec(metrics)![1])).toBe(accepted.length);
    expect(metrics).toMatch(new RegExp(`^ruse_runs_total\\{language="bash",verdict="ok"\\} ${accepted.length}$`, "m"));
    const sample = await s.get(`/v1/runs/${accepted[accepted.length - 1]}`);
    expect(sample.json.verdict).toBe("ok");

    const after = await usedMemory(s);
    const perResult = (after - before) / accepted.length;
    const apiMem = memoryKb(api.pid);
    const workerMem = memoryKb(worker.pid);
    // Alive (an OOM kill would have ended them), answering, and within a few hundred MB.
    expect(api.child.exitCode).toBeNull();
    expect(worker.child.exitCode).toBeNull();
    expect((await getOnce(`${api.base}/healthz`)).status).toBe(200);
    expect(apiMem.peak).toBeLessThan(1024 * 1024);
    expect(workerMem.peak).toBeLessThan(1024 * 1024);
    const figures = {
      floods: [first, second].map((f) => ({
        requests: REQUESTS,
        accepted: f.accepted.length,
        refused429: f.refused,
        seconds: +(f.ms / 1000).toFixed(1),
        perSecond: Math.round(REQUESTS / (f.ms / 1000)),
      })),
      healthzWorstMsDuringFlood: Math.round(healthMs),
      redisUsedMemory: { before, queuedAtCap: queued, peak, afterAllDone: after },
      bytesPerQueuedRun: Math.round(perQueued),
      bytesPerStoredResult: Math.round(perResult),
      apiRssKb: apiMem,
      workerRssKb: workerMem,
    };
    console.log(`flood figures: ${JSON.stringify(figures)}`);
    // A queued run is a few kB at most (its job hash, its id in the wait list, the event stream's entries).
    expect(perQueued).toBeGreaterThan(100);
    expect(perQueued).toBeLessThan(8192);
    expect(perResult).toBeLessThan(8192);
  });

  it("Redis at its maxmemory: a POST gets 503 with Retry-After (noeviction: nothing is evicted), then works again", async () => {
    await workerUp();
    expect(await s.redis.config("GET", "maxmemory-policy")).toEqual(["maxmemory-policy", "noeviction"]);
    const [, budget] = (await s.redis.config("GET", "maxmemory")) as [string, string];
    expect(Number(budget)).toBe(s.cfg.redisMaxMemoryBytes);
    await s.redis.config("SET", "maxmemory", String(await usedMemory(s)));
    try {
      const r = await fetch(`${api.base}/v1/runs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: RUN,
      });
      expect(r.status).toBe(503);
      expect(r.headers.get("retry-after")).toBeTruthy();
      expect(((await r.json()) as { error: string }).error).toMatch(/maxmemory/);
    } finally {
      await s.redis.config("SET", "maxmemory", budget);
    }
    const ok = await fetch(`${api.base}/v1/runs?wait=true`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: RUN,
    });
    expect(ok.status).toBe(200);
  });

  it("a slowloris and a client that never reads hold one socket each and no worker, and are timed out", {
    timeout: 180_000,
  }, async () => {
    await workerUp();
    const big = await fetch(`${api.base}/v1/runs?wait=true`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ language: "bash", source: "head -c 1000000 /dev/zero | tr '\\0' a" }),
    });
    const bigResult = (await big.json()) as { id: string; run: { stdout: string } };
    expect(bigResult.run.stdout.length).toBe(1_000_000);
    const bigId = bigResult.id;
    // Only the gauge's own request open: earlier requests' keep-alive sockets are gone (the server's keepAliveTimeout, 5 s).
    const baseline = await waitFor(
      "earlier sockets to close",
      async () => ((await openConnections(api.base)) === 1 ? 1 : 0),
      30_000,
    );
    const url = new URL(api.base);
    const closedAt = new Map<string, number>();
    const t0 = Date.now();

    // Slowloris: a request's headers, a byte every 300 ms, never finished.
    const slow = connect(Number(url.port), url.hostname);
    slow.on("error", () => {});
    slow.on("close", () => closedAt.set("slowloris", Date.now() - t0));
    const head = `POST /v1/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Padding: ${"a".repeat(500)}`;
    let i = 0;
    const drip = setInterval(() => {
      if (!slow.destroyed && i < head.length) slow.write(head[i++]!);
    }, 300);

    // A reader that never reads: 30 requests for a run's 1 MB result in one write, nothing read back
    // (cheap to answer, the stored JSON as is: the server's writes stop at once, on full socket buffers).
    const deaf = connect(Number(url.port), url.hostname);
    deaf.on("error", () => {});
    deaf.pause(); // so it cannot see its socket close either: the server's count of sockets says it
    deaf.write(`GET /v1/runs/${bigId} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(30));

    try {
      // Each holds one socket, and no run, no worker: a run goes through at once beside them.
      await waitFor(
        "both sockets open on the server",
        async () => (await openConnections(api.base)) === baseline + 2,
        10_000,
      );
      const t1 = performance.now();
      const r = await fetch(`${api.base}/v1/runs?wait=true`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: RUN,
      });
      expect(r.status).toBe(200);
      expect(performance.now() - t1).toBeLessThan(10_000);

      // The server closes both: the slowloris at the headers' timeout, the other when its socket has been idle long enough.
      const idle = idleTimeoutMs(s.cfg);
      await waitFor(
        "the server to close both",
        async () => {
          if ((await openConnections(api.base)) === baseline && !closedAt.has("never reads"))
            closedAt.set("never reads", Date.now() - t0);
          return closedAt.size === 2;
        },
        idle + 60_000,
        250,
      );
      expect(closedAt.get("slowloris")!).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 1000);
      // Checked every second; the rest is room for a machine whose cores other suites keep busy.
      expect(closedAt.get("slowloris")!).toBeLessThan(HEADERS_TIMEOUT_MS + 15_000);
      expect(closedAt.get("never reads")!).toBeGreaterThanOrEqual(idle - 1000);
      // Its 30 requests came in one packet, so all are answered into the server's buffer (Node pauses a
      // socket's parsing between reads, not within one), each write starting the idle clock again.
      expect(closedAt.get("never reads")!).toBeLessThan(idle + 45_000);
      expect(await openConnections(api.base)).toBe(baseline);
      console.log(`slow clients closed after (ms): ${JSON.stringify(Object.fromEntries(closedAt))}`);
    } finally {
      clearInterval(drip);
      for (const sock of [slow, deaf]) sock.destroy();
    }
  });
});

// Issue 15's multi-host lane (npm run test:cluster, scripts/cluster/lane.sh):
// three worker hosts and two API hosts, each in its own network namespace,
// one Redis on the bridge, and faults: a host killed, a host cut off and
// back, Redis restarted, an API killed under waiting clients. Each proves
// that no run is lost and none has two results, reading which host ran what
// from the workers' per-run log lines and how often a run started from
// BullMQ's queue events.
//
// This file runs as root (the lane's), for nsenter and `ip link` only; every
// API, worker and Redis process runs as the worker user (checked below).
import { setTimeout as sleep } from "node:timers/promises";
import { QueueEvents, type Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunResult } from "../../core/schemas.js";
import { QUEUE, redisOptions } from "../../core/store.js";
import { descendants } from "../helpers/processes.js";
import {
  API_KEY,
  IN_LANE,
  LOCK_MS,
  REDIS_URL,
  address,
  netnsPids,
  newQueue,
  setLink,
  startApiHost,
  startRedis,
  startWorkerHost,
  uids,
  workerUid,
  type HostProcess,
} from "./hosts.js";
import { waitFor } from "../helpers/service.js";

const WORKERS = ["w1", "w2", "w3"];
const auth = { authorization: `Bearer ${API_KEY}` };

async function call(api: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`http://${address(api)}:3000${path}`, {
    method,
    headers: { ...auth, ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) as any, text };
}

/** Every result key in Redis. */
const resultKeys = async (redis: Redis): Promise<string[]> => (await redis.keys("ruse:result:*")).sort();
const runsTotal = async (redis: Redis): Promise<number> =>
  Object.entries(await redis.hgetall("ruse:metrics"))
    .filter(([k]) => k.startsWith("runs_total|"))
    .reduce((n, [, v]) => n + Number(v), 0);

// Outside the lane (npm test's glob finds this file too) there are no namespaces to run in.
describe.skipIf(!IN_LANE)("a cluster: three worker hosts, two API hosts, one Redis, each in its own namespace", () => {
  let redis: Redis;
  let queue: Queue;
  let events: QueueEvents;
  const workers = new Map<string, HostProcess>();
  const apis = new Map<string, HostProcess>();
  /** Per job id: how many times a worker took it (BullMQ's `active` event), and was found stalled. */
  const started = new Map<string, number>();
  const stalled = new Map<string, number>();

  /** Every worker's run lines (past hosts' too: a killed host's log stays), with the host's name. */
  const retired: HostProcess[] = [];
  const runLines = () =>
    [...retired, ...workers.values()].flatMap((h) => h.runLines().map((l) => ({ host: h.name, ...l })));
  const linesOf = (ids: string[]) => runLines().filter((l) => ids.includes(l.run));

  /** Each run has one result and one log line that stored it (a duplicate's line says so). */
  function expectOnce(ids: string[]) {
    const stored = linesOf(ids).filter((l) => !l.duplicate);
    expect(stored.map((l) => l.run).sort()).toEqual([...ids].sort());
  }

  const poll = (api: string, id: string, deadlineMs = 90_000): Promise<RunResult> =>
    waitFor(
      `run ${id}`,
      async () => {
        const r = await call(api, "GET", `/v1/runs/${id}`);
        return r.json.status === "completed" ? (r.json as RunResult) : null;
      },
      deadlineMs,
    );

  async function post(api: string, runs: unknown[]): Promise<string[]> {
    const r = await call(api, "POST", "/v1/batches", { runs });
    expect(r.status, r.text).toBe(202);
    return r.json.runs;
  }

  const sleepy = (seconds: number, i: number, tag: string) => ({
    language: "python",
    source: `import time\ntime.sleep(${seconds})\nprint("${tag}-${i}")\n`,
    limits: { wallMs: 20_000 },
  });

  /** The programs a worker host runs in its sandboxes now (python under a slot's uid, not the worker's). */
  const sandboxed = (h: HostProcess) =>
    descendants(h.pid).filter((p) => p.comm.startsWith("python") && p.uid !== h.uid && p.uid !== 0);

  beforeAll(async () => {
    redis = new Redis(redisOptions(REDIS_URL));
    redis.on("error", () => {}); // Redis restarts are one of the faults
    queue = newQueue();
    events = new QueueEvents(QUEUE, { connection: redisOptions(REDIS_URL) });
    events.on("active", ({ jobId }) => started.set(jobId, (started.get(jobId) ?? 0) + 1));
    events.on("stalled", ({ jobId }) => stalled.set(jobId, (stalled.get(jobId) ?? 0) + 1));
    await events.waitUntilReady();
    const t = Date.now();
    const hosts = await Promise.all([
      ...WORKERS.map((w) => startWorkerHost(w, queue)),
      startApiHost("api1"),
      startApiHost("api2"),
    ]);
    for (const h of hosts) (h.name.startsWith("w") ? workers : apis).set(h.name, h);
    console.log(`cluster: 3 workers and 2 APIs up in ${Date.now() - t} ms`);
  });

  afterAll(async () => {
    await Promise.all([...workers.values(), ...apis.values()].map((h) => h.stop(10_000)));
    await events?.close();
    await queue?.close();
    redis?.disconnect();
  });

  it("every API, worker and Redis process runs as the worker user, none as root", () => {
    const uid = workerUid();
    expect(uid).not.toBe(0);
    const redisPids = netnsPids("redis");
    expect(redisPids.length).toBeGreaterThan(0);
    for (const pid of [...redisPids, ...[...workers.values(), ...apis.values()].map((h) => h.pid)])
      expect(uids(pid), `pid ${pid}`).toEqual([uid, uid, uid, uid]);
    // and nothing a worker started (fork server, slot holders, launchers) is root
    for (const h of workers.values()) for (const p of descendants(h.pid)) expect(p.uid, p.comm).not.toBe(0);
  });

  it("spreads 60 runs over the three hosts, each run once", { timeout: 120_000 }, async () => {
    const before = await resultKeys(redis);
    const ids = await post(
      "api1",
      Array.from({ length: 60 }, (_, i) => sleepy(0.2, i, "spread")),
    );
    const results = await Promise.all(ids.map((id, i) => poll(i % 2 ? "api1" : "api2", id)));
    expect(results.map((r) => [r.verdict, r.run?.stdout])).toEqual(ids.map((_, i) => ["ok", `spread-${i}\n`]));
    expectOnce(ids);
    const byHost = Object.fromEntries(WORKERS.map((w) => [w, linesOf(ids).filter((l) => l.host === w).length]));
    console.log(`spread: runs per host ${JSON.stringify(byHost)}`);
    for (const w of WORKERS) expect(byHost[w], w).toBeGreaterThan(0);
    expect(ids.every((id) => started.get(id) === 1)).toBe(true);
    expect(await resultKeys(redis)).toEqual([...before, ...ids.map((id) => `ruse:result:${id}`)].sort());
  });

  it("a host killed (kill -9 of its tree) mid-run: another host finishes its runs, each once", {
    timeout: 180_000,
  }, async () => {
    const w1 = workers.get("w1")!;
    const totalBefore = await runsTotal(redis);
    const ids = await post(
      "api2",
      Array.from({ length: 9 }, (_, i) => sleepy(3, i, "killed")),
    );
    await waitFor("w1 to run some", () => sandboxed(w1).length > 0, 30_000);
    const killedAt = Date.now();
    await w1.killTree();
    workers.delete("w1");
    retired.push(w1);

    const results = await Promise.all(ids.map((id) => poll("api1", id)));
    expect(results.map((r) => [r.verdict, r.run?.stdout])).toEqual(ids.map((_, i) => ["ok", `killed-${i}\n`]));
    expectOnce(ids);
    expect(linesOf(ids).filter((l) => l.host === "w1")).toEqual([]); // it died before storing any
    // The runs w1 held (one per slot at most) were started twice, once on w1; the others once.
    const twice = ids.filter((id) => started.get(id) === 2);
    const held = twice.length;
    expect(held).toBeGreaterThanOrEqual(1);
    expect(held).toBeLessThanOrEqual(2);
    expect(ids.filter((id) => started.get(id) === 1).length).toBe(ids.length - held);
    for (const id of twice) expect(stalled.get(id)).toBe(1);
    const retaken = results.filter((r) => twice.includes(r.id)).map((r) => Date.parse(r.startedAt!) - killedAt);
    console.log(`kill: w1 held ${held}; taken again ${retaken.join(", ")} ms after the kill`);
    for (const ms of retaken) expect(ms).toBeGreaterThan(0);
    // Two lock periods more for any late duplicate.
    await sleep(2 * LOCK_MS);
    expectOnce(ids);
    expect(linesOf(ids).length).toBe(ids.length);
    expect((await runsTotal(redis)) - totalBefore).toBe(ids.length);

    // The host comes back on its slots (the killed holders let their slot locks go).
    workers.set("w1", await startWorkerHost("w1", queue));
  });

  it("a host cut off mid-run and back: another host finishes its runs; its late results change nothing", {
    timeout: 180_000,
  }, async () => {
    const w2 = workers.get("w2")!;
    const totalBefore = await runsTotal(redis);
    const ids = await post(
      "api1",
      Array.from({ length: 6 }, (_, i) => sleepy(3, i, "cut")),
    );
    await waitFor("w2 to run some", () => sandboxed(w2).length > 0, 30_000);
    const cutAt = Date.now();
    setLink("w2", "down");
    let results: RunResult[];
    try {
      results = await Promise.all(ids.map((id) => poll("api2", id)));
    } finally {
      setLink("w2", "up");
    }
    const restoredAt = Date.now();
    expect(results.map((r) => [r.verdict, r.run?.stdout])).toEqual(ids.map((_, i) => ["ok", `cut-${i}\n`]));
    expect(linesOf(ids).filter((l) => l.host === "w2" && !l.duplicate)).toEqual([]);
    // The runs w2 held (one per slot at most) were started again elsewhere.
    const retaken = ids.filter((id) => started.get(id) === 2);
    const held = retaken.length;
    expect(held).toBeGreaterThanOrEqual(1);
    expect(held).toBeLessThanOrEqual(2);
    expect(ids.filter((id) => started.get(id) === 1).length).toBe(ids.length - held);
    const moved = results.filter((r) => retaken.includes(r.id)).map((r) => Date.parse(r.startedAt!) - cutAt);
    console.log(
      `cut: w2 held ${held}; taken again ${moved.join(", ")} ms after the cut, all done ${restoredAt - cutAt} ms after`,
    );

    // Back on the network, w2 tries to store what it finished meanwhile: refused, said so in its log.
    const late = await waitFor(
      "w2's late results",
      () => {
        const l = linesOf(ids).filter((x) => x.host === "w2");
        return l.length === held ? l : null;
      },
      90_000,
    );
    console.log(`cut: w2's ${held} late results ${Date.now() - restoredAt} ms after the link came back`);
    expect(late.every((l) => l.duplicate === true)).toBe(true);
    expect(late.map((l) => l.run).sort()).toEqual([...retaken].sort());
    expectOnce(ids);
    for (const r of results) expect((await call("api1", "GET", `/v1/runs/${r.id}`)).json).toEqual(r);
    // The metrics count each run once: a refused late result is not a second run.
    expect(
      (await runsTotal(redis)) - totalBefore,
      "ruse_runs_total counted the refused late results (core/store.ts FINISH_RUN counts before it checks that the result was stored)",
    ).toBe(ids.length);
    // w2 is a working host again.
    const again = await post(
      "api2",
      Array.from({ length: 12 }, (_, i) => sleepy(0.3, i, "again")),
    );
    await Promise.all(again.map((id) => poll("api1", id)));
    expect(linesOf(again).some((l) => l.host === "w2")).toBe(true);
  });

  it("Redis restarted (SHUTDOWN SAVE, then started on its directory) with runs queued and running: each completes once", {
    timeout: 180_000,
  }, async () => {
    const ids = await post(
      "api1",
      Array.from({ length: 12 }, (_, i) => sleepy(1, i, "restart")),
    );
    await waitFor("runs to be running", async () => (await queue.getActiveCount()) >= 3, 30_000);
    expect(await queue.getWaitingCount()).toBeGreaterThan(0); // and some still queued
    const oldPid = netnsPids("redis")[0]!;
    // On a client of its own that never sends it again: ioredis would resend a command cut off by
    // the close to the next Redis, and shut that one down too.
    const admin = new Redis({ ...redisOptions(REDIS_URL), maxRetriesPerRequest: 0, retryStrategy: () => null });
    admin.on("error", () => {});
    await admin.call("SHUTDOWN", "SAVE").catch(() => {}); // the connection closes under the command
    admin.disconnect();
    await waitFor("the old Redis to exit", () => !netnsPids("redis").includes(oldPid), 20_000);
    startRedis();
    await waitFor("Redis to answer again", () => redis.ping().catch(() => null), 30_000);
    const uid = workerUid();
    for (const pid of netnsPids("redis")) expect(uids(pid)).toEqual([uid, uid, uid, uid]);

    const results = await Promise.all(ids.map((id) => poll("api2", id)));
    expect(results.map((r) => [r.verdict, r.run?.stdout])).toEqual(ids.map((_, i) => ["ok", `restart-${i}\n`]));
    await sleep(2 * LOCK_MS);
    expectOnce(ids);
    console.log(
      `restart: ${linesOf(ids).length} completions for ${ids.length} runs, ${linesOf(ids).filter((l) => l.duplicate).length} refused as duplicates`,
    );
  });

  it("an API killed under wait=true clients: they retry on the other API with the same Idempotency-Key; each run happens once", {
    timeout: 180_000,
  }, async () => {
    const before = await resultKeys(redis);
    const linesBefore = runLines().length;
    const bodies = Array.from({ length: 4 }, (_, i) => sleepy(2, i, "idem"));
    const keys = bodies.map((_, i) => `cluster-idem-${process.pid}-${i}`);
    const first = bodies.map((b, i) =>
      call("api1", "POST", "/v1/runs?wait=true", b, { "idempotency-key": keys[i]! }).then(
        (r) => ({ ok: true as const, r }),
        (e: Error) => ({ ok: false as const, e }),
      ),
    );
    await waitFor("the runs to be running", async () => (await queue.getActiveCount()) >= 4, 30_000);
    await apis.get("api1")!.killTree();
    const cut = await Promise.all(first);
    expect(cut.every((c) => !c.ok)).toBe(true); // each client lost its answer with the API
    const retried = await Promise.all(
      bodies.map((b, i) => call("api2", "POST", "/v1/runs?wait=true", b, { "idempotency-key": keys[i]! })),
    );
    expect(retried.map((r) => [r.status, r.json.verdict, r.json.run?.stdout])).toEqual(
      bodies.map((_, i) => [200, "ok", `idem-${i}\n`]),
    );
    const ids = retried.map((r) => r.json.id as string);
    expect(new Set(ids).size).toBe(4);
    await sleep(2 * LOCK_MS);
    // One run per key: nothing was queued a second time.
    expect(runLines().length - linesBefore).toBe(4);
    expectOnce(ids);
    expect(await resultKeys(redis)).toEqual([...before, ...ids.map((id) => `ruse:result:${id}`)].sort());
  });
});

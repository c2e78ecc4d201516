// Redis: the queue (BullMQ) and what lives beside it, shared by the API and
// the workers. Results are kept under their own key with a TTL, written once
// (SET NX): a job retried after a worker died mid-run cannot give a second,
// different result. Metrics are counters in one hash, so that any API
// process can serve /metrics for every worker.
import { createHash } from "node:crypto";
import type { RedisOptions } from "ioredis";
import type { Redis } from "ioredis";
import type { RunResult } from "./schemas.js";

export const QUEUE = "runs";
export const RESULT_KEY = (id: string) => `ruse:result:${id}`;
/** An Idempotency-Key's claim in its caller's scope: "HASH ID", kept as long as a result (core/idempotency.ts). */
export const IDEMPOTENCY_KEY = (scope: string, key: string) => `ruse:idem:${scope}:${key}`;
const METRICS = "ruse:metrics";
/**
 * The channel on which the completion of a run that a request waits for
 * (wait=true; the job's notify) is announced to the API processes (one
 * subscription each, api/completions.ts): the run's id, a newline, and
 * the result itself when it is at most NOTICE_INLINE_MAX bytes (else nothing:
 * the waiter reads the result with a GET). Without it each waiting API would
 * follow BullMQ's event stream, several events per job.
 */
export const DONE_CHANNEL = "ruse:done";
const NOTICE_INLINE_MAX = 64 * 1024;
/** A completion notice: the id, then the result's JSON when small. */
export const doneNotice = (id: string, json = ""): string => `${id}\n${json.length <= NOTICE_INLINE_MAX ? json : ""}`;

/** redis://host:port/db or unix:///path/to/redis.sock */
export function redisOptions(url: string): RedisOptions & { path?: string } {
  const base = { maxRetriesPerRequest: null, enableReadyCheck: true } as const;
  if (url.startsWith("unix://")) return { ...base, path: url.slice("unix://".length) };
  const u = new URL(url);
  return {
    ...base,
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
  };
}

/** A completed run's result, as the worker stored it (RunResult's JSON): the API answers it as is. */
export function storedResult(redis: Redis, id: string): Promise<string | null> {
  return redis.get(RESULT_KEY(id));
}

const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * A run's end, server-side in one command (a MULTI of the same ~25 commands
 * cost the worker ~0.3 ms of CPU per run in writes): the one result (SET NX,
 * with its TTL) and, only if it is the one, its notice on DONE_CHANNEL; the
 * counters; the two histograms (cumulative buckets, count, sum).
 * KEYS: result, metrics, channel, and for a batch's run its count of runs
 * done (counted only by the result that is the one). Returns that count, 0
 * (stored, no batch) or -1 (a result was there already: a retried job's).
 * ARGV: result JSON, TTL, notice ("" when no
 * one waits: nothing is published), the
 * runs_total field, "1" for a sandbox failure, run seconds, wait seconds,
 * then the bucket bounds.
 */
const FINISH_RUN = `
local stored = redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX')
-- A result stored already (a run taken over from a worker that lost its lock) counts once.
if not stored then return -1 end
if ARGV[3] ~= '' then redis.call('PUBLISH', KEYS[3], ARGV[3]) end
redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
if ARGV[5] == '1' then redis.call('HINCRBY', KEYS[2], 'sandbox_failures_total', 1) end
for h, name in ipairs({'run_duration_seconds', 'queue_wait_seconds'}) do
  local v = tonumber(ARGV[5 + h])
  for i = 8, #ARGV do
    if v <= tonumber(ARGV[i]) then redis.call('HINCRBY', KEYS[2], name .. '_bucket|' .. ARGV[i], 1) end
  end
  redis.call('HINCRBY', KEYS[2], name .. '_count', 1)
  redis.call('HINCRBYFLOAT', KEYS[2], name .. '_sum', ARGV[5 + h])
end
if KEYS[4] then
  local n = redis.call('INCR', KEYS[4])
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[2]) * 2)
  return n
end
return 0`;

let finishRunSha = "";

/** The script fails on a NaN after it stored the result: a bad clock reading counts as 0. */
const finite = (x: number): number => (Number.isFinite(x) ? x : 0);

/**
 * Stores a run's result (once), announces it if asked and counts it
 * in the metrics, in one round trip: on a machine whose cores run programs,
 * every round trip waits for Redis to be scheduled.
 */
export async function finishRun(
  redis: Redis,
  result: RunResult,
  ttlSeconds: number,
  r: { language: string; verdict: string; runSeconds: number; waitSeconds: number; notify: boolean; batch?: string },
): Promise<number> {
  const json = JSON.stringify(result);
  const keys = [RESULT_KEY(result.id), METRICS, DONE_CHANNEL, ...(r.batch ? [BATCH_DONE_KEY(r.batch)] : [])];
  const args = [
    keys.length,
    ...keys,
    json,
    ttlSeconds,
    r.notify ? doneNotice(result.id, json) : "",
    `runs_total|${r.language}|${r.verdict}`,
    r.verdict === "internal_error" ? "1" : "0",
    finite(r.runSeconds),
    finite(r.waitSeconds),
    ...BUCKETS,
  ] as const;
  // By its hash: Redis keeps the script once loaded, and the text is sent
  // (EVAL, which loads it) only when this Redis has not seen it yet.
  finishRunSha ||= createHash("sha1").update(FINISH_RUN).digest("hex"); // on first use, not at import
  try {
    return (await redis.evalsha(finishRunSha, ...args)) as number;
  } catch (e) {
    if (!String((e as Error).message).startsWith("NOSCRIPT")) throw e;
    return (await redis.eval(FINISH_RUN, ...args)) as number;
  }
}

/** A batch: its runs' ids in order (POST /v1/batches), kept as long as their results. */
export const BATCH_KEY = (id: string) => `ruse:batch:${id}`;
/** How many of a batch's runs are done: the last one calls the batch's callbackUrl. */
export const BATCH_DONE_KEY = (id: string) => `ruse:batch-done:${id}`;

export interface StoredBatch {
  runs: string[];
  createdAt: string;
  callbackUrl?: string;
}

/** Counts a batch run that ended without a result (BullMQ gave it up): its count of runs done. */
export async function countBatchRun(redis: Redis, batch: string, ttlSeconds: number): Promise<number> {
  const [[, n]] = (await redis
    .multi()
    .incr(BATCH_DONE_KEY(batch))
    .expire(BATCH_DONE_KEY(batch), ttlSeconds * 2)
    .exec()) as [[null, number]];
  return n;
}

/** Prometheus text format, from the counters hash and the queue's counts. */
export async function renderMetrics(redis: Redis, queueCounts: Record<string, number>): Promise<string> {
  const h = await redis.hgetall(METRICS);
  const out: string[] = [];
  out.push("# HELP ruse_queue_jobs Runs in the queue by state.", "# TYPE ruse_queue_jobs gauge");
  for (const [state, n] of Object.entries(queueCounts)) out.push(`ruse_queue_jobs{state="${state}"} ${n}`);
  out.push("# HELP ruse_runs_total Completed runs by language and verdict.", "# TYPE ruse_runs_total counter");
  for (const [k, v] of Object.entries(h))
    if (k.startsWith("runs_total|")) {
      const [, language, verdict] = k.split("|");
      out.push(`ruse_runs_total{language="${language}",verdict="${verdict}"} ${v}`);
    }
  out.push(
    "# HELP ruse_sandbox_failures_total Runs that ended in internal_error.",
    "# TYPE ruse_sandbox_failures_total counter",
  );
  out.push(`ruse_sandbox_failures_total ${h.sandbox_failures_total ?? 0}`);
  for (const [name, help] of [
    ["run_duration_seconds", "Time a worker spent on a run (compile and all tests)."],
    ["queue_wait_seconds", "Time a run waited in the queue."],
  ] as const) {
    out.push(`# HELP ruse_${name} ${help}`, `# TYPE ruse_${name} histogram`);
    for (const le of BUCKETS) out.push(`ruse_${name}_bucket{le="${le}"} ${h[`${name}_bucket|${le}`] ?? 0}`);
    out.push(`ruse_${name}_bucket{le="+Inf"} ${h[`${name}_count`] ?? 0}`);
    out.push(`ruse_${name}_sum ${h[`${name}_sum`] ?? 0}`, `ruse_${name}_count ${h[`${name}_count`] ?? 0}`);
  }
  return `${out.join("\n")}\n`;
}

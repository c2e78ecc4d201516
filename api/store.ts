// Redis: the queue (BullMQ) and what lives beside it, shared by the API and
// the workers. Results are kept under their own key with a TTL, written once
// (SET NX): a job retried after a worker died mid-run cannot give a second,
// different result. Metrics are counters in one hash, so that any API
// process can serve /metrics for every worker.
import type { RedisOptions } from "ioredis";
import type { Redis } from "ioredis";
import type { RunResult } from "./schemas.js";

export const QUEUE = "runs";
const RESULT = (id: string) => `ruse:result:${id}`;
const METRICS = "ruse:metrics";

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


export async function loadResult(redis: Redis, id: string): Promise<RunResult | null> {
  const s = await redis.get(RESULT(id));
  return s ? (JSON.parse(s) as RunResult) : null;
}

const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

function observe(m: ReturnType<Redis["multi"]>, name: string, seconds: number): void {
  for (const le of BUCKETS) if (seconds <= le) m.hincrby(METRICS, `${name}_bucket|${le}`, 1);
  m.hincrby(METRICS, `${name}_count`, 1);
  m.hincrbyfloat(METRICS, `${name}_sum`, seconds);
}

/**
 * Stores a run's result (once: SET NX, with its TTL) and counts it in the
 * metrics, in one round trip: on a machine whose cores run programs, every
 * round trip waits for Redis to be scheduled.
 */
export async function finishRun(
  redis: Redis,
  result: RunResult,
  ttlSeconds: number,
  r: { language: string; verdict: string; runSeconds: number; waitSeconds: number },
): Promise<void> {
  const m = redis.multi();
  m.set(RESULT(result.id), JSON.stringify(result), "EX", ttlSeconds, "NX");
  m.hincrby(METRICS, `runs_total|${r.language}|${r.verdict}`, 1);
  if (r.verdict === "internal_error") m.hincrby(METRICS, "sandbox_failures_total", 1);
  observe(m, "run_duration_seconds", r.runSeconds);
  observe(m, "queue_wait_seconds", r.waitSeconds);
  await m.exec();
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
  out.push("# HELP ruse_sandbox_failures_total Runs that ended in internal_error.", "# TYPE ruse_sandbox_failures_total counter");
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
  return out.join("\n") + "\n";
}

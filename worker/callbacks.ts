// Delivers callbacks (core/callbacks.ts): a run's stored result POSTed, signed,
// to its callbackUrl, by a BullMQ queue of its own, so that a slow or dead
// receiver never holds a sandbox slot and a delivery outlives the worker that
// queued it. A try fails on anything but a 2xx answered within
// ATTEMPT_TIMEOUT_MS; BullMQ tries again 1 s, 2 s, 4 s ... later, up to
// RUSE_CALLBACK_ATTEMPTS tries; what became of it is kept beside the result
// (GET /v1/runs/{id}/callback).
import { Queue, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import { CALLBACK_KEY, CALLBACK_QUEUE, callbackRefusal, signCallback, type CallbackRecord } from "../core/callbacks.js";
import type { Log } from "../core/log.js";
import type { Config } from "../core/config.js";
import type { RunResult } from "../core/schemas.js";
import { BATCH_KEY, RESULT_KEY, redisOptions, storedResult, type StoredBatch } from "../core/store.js";

const ATTEMPT_TIMEOUT_MS = 5000;

/** A run's callback (its result), or a batch's, once all its runs are done (its runs' ids and verdicts). */
interface CallbackJob {
  kind: "run" | "batch";
  id: string;
  url: string;
}

export interface Callbacks {
  /** Queues the callback of a completed run, or of a batch whose runs are all done. */
  send(kind: CallbackJob["kind"], id: string, url: string): Promise<void>;
  close(): Promise<void>;
}

export async function startCallbacks(cfg: Config, redisUrl: string, redis: Redis, log: Log): Promise<Callbacks> {
  const queue = new Queue(CALLBACK_QUEUE, { connection: redisOptions(redisUrl) });
  const record = (id: string, r: CallbackRecord) =>
    redis.set(CALLBACK_KEY(id), JSON.stringify(r), "EX", cfg.resultTtlSeconds);

  /** What is POSTed: the run's stored result as is, or the batch's runs and their verdicts. */
  const bodyOf = async ({ kind, id }: CallbackJob): Promise<string | null> => {
    if (kind === "run") return storedResult(redis, id);
    const json = await redis.get(BATCH_KEY(id));
    if (!json) return null;
    const { runs } = JSON.parse(json) as StoredBatch;
    const results = runs.length ? await redis.mget(...runs.map(RESULT_KEY)) : [];
    const verdicts = runs.map((runId, i) => ({
      id: runId,
      // A run with no result was given up by the queue (GET /v1/runs/{id} says why).
      verdict: results[i] ? ((JSON.parse(results[i]!) as RunResult).verdict ?? "internal_error") : "internal_error",
    }));
    return JSON.stringify({ id, total: runs.length, runs: verdicts });
  };

  const deliver = async (job: Job<CallbackJob>): Promise<void> => {
    const { id, url } = job.data;
    // Checked again at send time: the allowed hosts may have changed since the run was queued.
    const why = callbackRefusal(url, cfg.callbackAllow);
    if (why || !cfg.callbackSecret)
      throw new Error(`callbackUrl ${why ?? "cannot be signed: no RUSE_CALLBACK_SECRET"}`);
    const body = await bodyOf(job.data);
    if (!body) throw new Error(`the ${job.data.kind}'s result is gone`);
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...signCallback(cfg.callbackSecret, body) },
      body,
      // A redirect could point anywhere, past the allowed hosts: it is a failure, not followed.
      redirect: "manual",
      signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
    });
    await res.body?.cancel(); // what the receiver says is not read
    if (res.status < 200 || res.status > 299) throw new Error(`the receiver answered ${res.status}`);
    await record(id, { delivered: true, attempts: job.attemptsMade + 1, status: res.status });
  };

  const worker = new Worker<CallbackJob>(CALLBACK_QUEUE, deliver, {
    connection: redisOptions(redisUrl),
    concurrency: 16, // deliveries wait on the network, not on a CPU
  });
  worker.on("error", (e) => log.error(`callbacks: ${e.message}`));
  worker.on("failed", (job, e) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
      const { kind, id } = job.data;
      log.warn({ [kind]: id, attempts: job.attemptsMade, err: e.message }, "callback given up");
      void record(id, { delivered: false, attempts: job.attemptsMade, error: e.message });
    }
  });
  await worker.waitUntilReady();
  return {
    async send(kind, id, url) {
      await queue.add(
        "callback",
        { kind, id, url },
        {
          jobId: id, // once per run or batch, however often a run's job is retried
          attempts: cfg.callbackAttempts,
          backoff: { type: "exponential", delay: 1000 },
          removeOnComplete: true,
          removeOnFail: { age: cfg.resultTtlSeconds },
        },
      );
    },
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}

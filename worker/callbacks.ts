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
import type { Config } from "../core/config.js";
import { redisOptions, storedResult } from "../core/store.js";

const ATTEMPT_TIMEOUT_MS = 5000;

interface CallbackJob {
  runId: string;
  url: string;
}

export interface Callbacks {
  /** Queues the callback of a completed run. */
  send(runId: string, url: string): Promise<void>;
  close(): Promise<void>;
}

export async function startCallbacks(cfg: Config, redisUrl: string, redis: Redis): Promise<Callbacks> {
  const queue = new Queue(CALLBACK_QUEUE, { connection: redisOptions(redisUrl) });
  const record = (runId: string, r: CallbackRecord) =>
    redis.set(CALLBACK_KEY(runId), JSON.stringify(r), "EX", cfg.resultTtlSeconds);

  const deliver = async (job: Job<CallbackJob>): Promise<void> => {
    const { runId, url } = job.data;
    // Checked again at send time: the allowed hosts may have changed since the run was queued.
    const why = callbackRefusal(url, cfg.callbackAllow);
    if (why || !cfg.callbackSecret)
      throw new Error(`callbackUrl ${why ?? "cannot be signed: no RUSE_CALLBACK_SECRET"}`);
    const body = await storedResult(redis, runId);
    if (!body) throw new Error("the run's result is gone");
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
    await record(runId, { delivered: true, attempts: job.attemptsMade + 1, status: res.status });
  };

  const worker = new Worker<CallbackJob>(CALLBACK_QUEUE, deliver, {
    connection: redisOptions(redisUrl),
    concurrency: 16, // deliveries wait on the network, not on a CPU
  });
  worker.on("error", (e) => console.error(`worker: callbacks: ${e.message}`));
  worker.on("failed", (job, e) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
      console.error(
        `worker: the callback of run ${job.data.runId} is given up after ${job.attemptsMade} tries: ${e.message}`,
      );
      void record(job.data.runId, { delivered: false, attempts: job.attemptsMade, error: e.message });
    }
  });
  await worker.waitUntilReady();
  return {
    async send(runId, url) {
      await queue.add(
        "callback",
        { runId, url },
        {
          jobId: runId, // once per run, however often the run's job is retried
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

// The worker: takes runs off the BullMQ queue, executes them in the sandbox
// and stores one result per run. Many workers on many machines may share one
// Redis; BullMQ hands each job to one of them and, if a worker dies mid-run,
// gives the job to another once its lock expires (stalled-job handling).
import { Worker, type Job } from "bullmq";
import { Redis } from "ioredis";
import { join } from "node:path";
import type { Config } from "../core/config.js";
import { createLog, type Log } from "../core/log.js";
import { runJobSchema, type RunResult } from "../core/schemas.js";
import { DONE_CHANNEL, QUEUE, countBatchRun, doneNotice, finishRun, redisOptions } from "../core/store.js";
import { startCallbacks } from "./callbacks.js";
import { CompiledJudges } from "./compiled-judges.js";
import { executeRun, type Executed, type RunContext } from "./execute.js";
import { ImagesOnDemand } from "./images.js";
import { openRunIo } from "./stream.js";
import { Sandbox } from "./sandbox/sandbox.js";
import { TestDataCache } from "./test-data.js";
import { expandLanguages } from "../rootfs/languages.js";
import { catalogueLayers, checkImages } from "../rootfs/manifest.js";

export interface WorkerHandle {
  close(): Promise<void>;
}

export async function startWorker(
  cfg: Config,
  redisUrl: string,
  log: Log = createLog("worker", cfg.logLevel),
): Promise<WorkerHandle> {
  checkImages(expandLanguages(cfg.images.languages)); // refuse to start, naming the fix, rather than fail every run
  const sb = await Sandbox.create({
    concurrency: cfg.concurrency,
    allowWeakSameUid: cfg.weakSameUid,
    cgroup: cfg.cgroup,
    stateDir: cfg.stateDir,
    images: catalogueLayers(),
  });
  log.info(sb.describe());
  const images = new ImagesOnDemand(sb, cfg.images.onDemand, (m) => log.info(m));
  const redis = new Redis(redisOptions(redisUrl));
  redis.on("error", (e) => log.error(`redis: ${e.message}`));
  const callbacks = await startCallbacks(cfg, redisUrl, redis, log);
  const ctx: RunContext = {
    testData: new TestDataCache(redis, join(cfg.stateDir, "test-data"), cfg.testCacheMaxBytes),
    judges: new CompiledJudges((key) =>
      log.info(`compiling a checker or interactor (${key.slice(0, 12)}), kept for later runs`),
    ),
  };

  const processRun = async (job: Job): Promise<string> => {
    const parsed = runJobSchema.safeParse(job.data);
    const startedAt = new Date(job.processedOn ?? Date.now());
    const createdAt = parsed.success ? parsed.data.createdAt : new Date(job.timestamp).toISOString();
    let executed: Executed;
    if (!parsed.success) {
      executed = { verdict: "internal_error", compile: null, run: null, message: "malformed job" };
    } else {
      try {
        const run = parsed.data;
        // A language not built on this machine is built first (or the run fails naming the fix).
        const langs = [run.language, run.checker?.language, run.interactor?.language];
        await images.ensure(langs.filter((l): l is string => !!l));
        const streamed = run.stream ? openRunIo(redisUrl, redis, job.id!) : undefined;
        try {
          executed = await executeRun(run, sb, ctx, streamed?.io);
        } finally {
          streamed?.close();
        }
      } catch (e) {
        executed = {
          language: parsed.data.language,
          verdict: "internal_error",
          compile: null,
          run: null,
          message: (e as Error).message,
        };
      }
    }
    const completedAt = new Date();
    const result: RunResult = {
      id: job.id!,
      status: "completed",
      ...executed,
      ...(parsed.success && parsed.data.problem
        ? { problem: { id: parsed.data.problem.id, version: parsed.data.problem.version } }
        : {}),
      createdAt,
      startedAt: startedAt.toISOString(),
      completedAt: completedAt.toISOString(),
    };
    const queued = parsed.success ? parsed.data : undefined;
    const run = {
      language: executed.language ?? "unknown",
      verdict: executed.verdict ?? "internal_error",
      runSeconds: (completedAt.getTime() - startedAt.getTime()) / 1000,
      waitSeconds: Math.max(0, (startedAt.getTime() - Date.parse(createdAt)) / 1000),
    };
    const done = await finishRun(redis, result, cfg.resultTtlSeconds, {
      ...run,
      notify: queued?.notify === true,
      batch: queued?.batch?.id,
    });
    log.info(
      {
        run: result.id,
        language: run.language,
        verdict: run.verdict,
        waitMs: Math.round(run.waitSeconds * 1000),
        runMs: Math.round(run.runSeconds * 1000),
        ...(executed.message && { message: executed.message }),
        ...(done < 0 && { duplicate: true }),
      },
      "run",
    );
    // Only the result that is the one calls back (a retried job's second result is not stored: done is -1).
    if (done >= 0 && queued?.callbackUrl) await callbacks.send("run", result.id, queued.callbackUrl);
    if (queued?.batch?.callbackUrl && done === queued.batch.size)
      await callbacks.send("batch", queued.batch.id, queued.batch.callbackUrl);
    return executed.verdict ?? "internal_error";
  };

  const worker = new Worker(QUEUE, processRun, {
    connection: redisOptions(redisUrl),
    concurrency: cfg.concurrency,
    lockDuration: cfg.jobLockMs,
    stalledInterval: cfg.jobLockMs,
    maxStalledCount: 2,
  });
  worker.on("error", (e) => log.error(e.message));
  // A run that failed for good (its result could not be stored, three times)
  // has no result: an API waiting on it stops waiting and answers "queued";
  // GET /v1/runs/:id then tells internal_error. (One failed by BullMQ's
  // stalled-job check, its workers killed three times, raises no event
  // here: its waiters answer "queued" at their wait limit.)
  worker.on("failed", (job) => {
    if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
    if (job.data?.notify === true) redis.publish(DONE_CHANNEL, doneNotice(job.id!)).catch(() => {});
    // A batch's run given up is done too: the batch's callback must not wait for it for ever.
    const batch = runJobSchema.shape.batch.safeParse(job.data?.batch).data;
    if (batch)
      countBatchRun(redis, batch.id, cfg.resultTtlSeconds)
        .then((n) =>
          n === batch.size && batch.callbackUrl ? callbacks.send("batch", batch.id, batch.callbackUrl) : undefined,
        )
        .catch(() => {});
  });
  await worker.waitUntilReady();
  return {
    // Drains: no new jobs; the runs in flight finish and store their results.
    async close() {
      await worker.close();
      await callbacks.close();
      await sb.close();
      await ctx.judges?.close();
      await redis.quit();
    },
  };
}

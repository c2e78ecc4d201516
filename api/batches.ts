// /v1/batches: many runs in one request, for grading a class or scoring
// generated code at volume. Each run is an ordinary run (the same validation,
// job, queue and result as POST /v1/runs), queued in one round trip; the
// batch is the list of their ids, kept as long as their results, and read a
// page at a time, so that a client follows a thousand runs with one request
// now and then instead of a connection or a poll per run.
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Config } from "../core/config.js";
import { IDEMPOTENCY_HEADER, idempotencyOf } from "../core/idempotency.js";
import {
  callbackRecordSchema,
  callbackUrlSchema,
  errorSchema,
  runRequestSchema,
  runResultSchema,
  type RunJob,
  type RunResult,
} from "../core/schemas.js";
import { BATCH_KEY, RESULT_KEY, type StoredBatch } from "../core/store.js";
import { CALLBACK_KEY, type CallbackRecord } from "../core/callbacks.js";
import { isRefusal, jobFor, problemsOf, runState, type RunSubmitter } from "./enqueue.js";
import { fail, idempotencyHeader, jsonContent, uuidParam } from "./reply.js";
import { callerScope } from "./guard.js";

const PAGE_MAX = 100;

/** POST /v1/batches: up to RUSE_MAX_BATCH runs, each as POST /v1/runs takes it. */
export function batchRequestSchema(cfg: Config) {
  return z
    .object({
      runs: z.array(runRequestSchema(cfg)).min(1).max(cfg.maxBatch),
      callbackUrl: callbackUrlSchema(cfg).openapi({
        description: "POSTed once every run of the batch is done: {id, total, runs: [{id, verdict}]}",
      }),
    })
    .strict();
}

export function batchRoutes(app: OpenAPIHono, cfg: Config, queue: Queue, redis: Redis, submitter: RunSubmitter): void {
  const post = createRoute({
    method: "post",
    path: "/v1/batches",
    summary: `Queue up to RUSE_MAX_BATCH (${cfg.maxBatch}) runs at once; answers their ids`,
    request: {
      body: {
        content: {
          "application/json": {
            schema: batchRequestSchema(cfg),
          },
        },
        required: true,
      },
      headers: idempotencyHeader,
    },
    responses: {
      202: jsonContent(
        z.object({ id: z.string(), runs: z.array(z.string()) }),
        "queued (or, for a retry of its Idempotency-Key, queued before): the batch's id and its runs' ids, in order",
      ),
      400: jsonContent(errorSchema, "invalid request: issues name the fields (runs.N....)"),
      401: jsonContent(errorSchema, "missing or unknown API key"),
      413: jsonContent(errorSchema, "the body or an input too large"),
      422: jsonContent(
        errorSchema,
        "a language whose image is not built on this server (the issue names the command), or a bad or reused Idempotency-Key",
      ),
      429: jsonContent(errorSchema, "the queue has no room for the whole batch; see Retry-After"),
    },
  });
  app.openapi(post, async (c) => {
    const body = c.req.valid("json");
    const { runs, callbackUrl } = body;
    const idem = idempotencyOf(c.req.header(IDEMPOTENCY_HEADER), callerScope(c), "batch", body);
    if (typeof idem === "string")
      return fail(c, 422, `invalid ${IDEMPOTENCY_HEADER}`, [{ path: IDEMPOTENCY_HEADER, message: idem }]);
    const problems = await problemsOf(redis, runs);
    const jobs: RunJob[] = [];
    for (const [i, r] of runs.entries()) {
      const job = jobFor(r, cfg, problems, `runs.${i}.`);
      if (isRefusal(job)) return fail(c, job.status, job.error, job.issues);
      jobs.push(job);
    }
    // All or none: a batch never starts half queued for want of room.
    const s = await submitter.submitGroup(
      jobs.length,
      (id) =>
        jobs.map((data) => ({ ...data, batch: { id, size: jobs.length, ...(callbackUrl ? { callbackUrl } : {}) } })),
      // Kept as long as the results (a little longer: the last result is written after the batch); a retry's keeps the first's.
      async (id, runs) => {
        const batch: StoredBatch = {
          runs,
          createdAt: new Date().toISOString(),
          ...(callbackUrl ? { callbackUrl } : {}),
        };
        await redis.set(BATCH_KEY(id), JSON.stringify(batch), "EX", cfg.resultTtlSeconds * 2, "NX");
      },
      idem,
    );
    if ("refused" in s) return fail(c, s.refused.status, s.refused.error, s.refused.issues);
    if ("full" in s) {
      c.header("Retry-After", "5");
      return fail(c, 429, `the queue has no room for ${jobs.length} more runs (RUSE_MAX_QUEUE ${cfg.maxQueue})`);
    }
    return c.json(s, 202);
  });

  const get = createRoute({
    method: "get",
    path: "/v1/batches/{id}",
    summary: `A batch: how many of its runs completed, and a page of them (at most ${PAGE_MAX}) in order`,
    request: {
      params: uuidParam,
      query: z.object({
        offset: z.coerce.number().int().min(0).default(0),
        limit: z.coerce.number().int().min(1).max(PAGE_MAX).default(PAGE_MAX),
      }),
    },
    responses: {
      200: jsonContent(
        z.object({
          id: z.string(),
          total: z.number().int(),
          completed: z.number().int(),
          offset: z.number().int(),
          runs: z.array(runResultSchema),
          callback: callbackRecordSchema
            .optional()
            .openapi({ description: "what became of the batch's callbackUrl, once tried" }),
        }),
        "the batch",
      ),
      400: jsonContent(errorSchema, "invalid offset or limit"),
      404: jsonContent(errorSchema, "unknown or expired"),
    },
  });
  app.openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const { offset, limit } = c.req.valid("query");
    const json = await redis.get(BATCH_KEY(id));
    if (!json) return fail(c, 404, `no batch ${id} (unknown, or it expired)`);
    const batch = JSON.parse(json) as StoredBatch;
    // EXISTS counts the results stored, in one command per thousand runs.
    let completed = 0;
    for (let i = 0; i < batch.runs.length; i += 1000)
      completed += await redis.exists(...batch.runs.slice(i, i + 1000).map(RESULT_KEY));
    const page = batch.runs.slice(offset, offset + limit);
    const stored = page.length ? await redis.mget(...page.map(RESULT_KEY)) : [];
    const runs = await Promise.all(
      page.map(async (runId, i): Promise<RunResult> => {
        if (stored[i]) return JSON.parse(stored[i]!) as RunResult;
        const r = await runState(queue, redis, runId);
        if (!r) return { id: runId, status: "completed", verdict: "internal_error", message: "its result expired" };
        return "stored" in r ? (JSON.parse(r.stored) as RunResult) : r.state;
      }),
    );
    const callback = await redis.get(CALLBACK_KEY(id));
    return c.json(
      {
        id,
        total: batch.runs.length,
        completed,
        offset,
        runs,
        ...(callback ? { callback: JSON.parse(callback) as CallbackRecord } : {}),
      },
      200,
    );
  });
}

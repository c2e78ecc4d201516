// The HTTP API (v1). Requests are validated by the zod schemas that also
// generate /openapi.json; nothing malformed reaches a worker.
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler, TypedResponse } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Registry } from "prom-client";
import { offered } from "./catalogue.js";
import { judge0Refuse, judge0Routes } from "./compat/judge0.js";
import { pistonGuardRefuse, pistonRefuse, pistonRoutes } from "./compat/piston.js";
import { pistonConnectRoute } from "./compat/piston-connect.js";
import { IDEMPOTENCY_HEADER, idempotencyOf } from "../core/idempotency.js";
import { CALLBACK_KEY, type CallbackRecord } from "../core/callbacks.js";
import type { Config } from "../core/config.js";
import type { Log } from "../core/log.js";
import {
  callbackRecordSchema,
  errorSchema,
  runRequestSchema,
  runResultSchema,
  type RunResult,
} from "../core/schemas.js";
import { renderMetrics } from "../core/store.js";
import { dashboardRoutes } from "./dashboard.js";
import { docsPage } from "./docs.js";
import { callerScope, guard } from "./guard.js";
import { playgroundRoutes } from "./playground/routes.js";
import { type StreamHub, streamRoutes } from "./stream.js";
import { cappedBody } from "./body.js";
import { batchRoutes } from "./batches.js";
import { eventRoutes } from "./events.js";
import { problemRoutes } from "./problems.js";
import { fail, idempotencyHeader, jsonContent, uuidParam } from "./reply.js";
import { RunSubmitter, runState } from "./enqueue.js";
import type { Completions } from "./completions.js";

export interface Deps {
  cfg: Config;
  queue: Queue;
  completions: Completions;
  redis: Redis;
  log: Log;
  /** this process's runtime metrics, served after the cluster's on /metrics */
  processMetrics?: Registry;
  /** streamed runs' output and stdin (GET /v1/runs/stream, Piston's /connect) */
  streams: StreamHub;
}

/**
 * A completed run: the result the worker stored (worker/service.ts writes a
 * RunResult's JSON), sent as is. Parsing it to send it through c.json would
 * cost 2 ms a MiB of output on the API's one thread (16 MiB at most).
 */
const completed = (c: Context, json: string) =>
  c.body(json, 200, { "Content-Type": "application/json" }) as Response as Response &
    TypedResponse<RunResult, 200, "json">;

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

/** One log line per request, with the run it made (X-Run-Id) or names (its path). */
function requestLog(log: Log): MiddlewareHandler {
  return async (c, next) => {
    const t0 = performance.now();
    await next();
    const run = c.res.headers.get("x-run-id") ?? UUID.exec(c.req.path)?.[0];
    log.info(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - t0) * 10) / 10,
        ...(run && { run }),
      },
      "request",
    );
  };
}

export function createApp(deps: Deps): OpenAPIHono {
  const { cfg, queue, completions, redis } = deps;
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success)
        return fail(
          c,
          400,
          "invalid request",
          result.error.issues.map((i) => ({ path: i.path.join(".") || "(body)", message: i.message })),
        );
    },
  });

  app.onError((e, c) => {
    if (e instanceof HTTPException && e.status === 400) return fail(c, 400, "the body is not valid JSON");
    if (e instanceof HTTPException && e.status === 415)
      return c.json(
        {
          error: "Unsupported Media Type: the body must be JSON",
          issues: [{ path: "Content-Type", message: "must be application/json" }],
        },
        415,
      );
    if (e instanceof HTTPException) return c.json({ error: e.message }, e.status);
    // Redis at its maxmemory (noeviction) refuses writes: the store is full, not the request at fault.
    if (e.message.startsWith("OOM ")) {
      c.header("Retry-After", "30");
      return fail(c, 503, "the server's store (Redis) is full (its maxmemory); try again later");
    }
    deps.log.error({ err: e, method: c.req.method, path: c.req.path }, "internal error");
    return c.json({ error: "internal error" }, 500);
  });
  app.notFound((c) => fail(c, 404, `no route ${c.req.method} ${c.req.path}`));

  app.use("*", requestLog(deps.log));
  app.use("/v1/*", guard(deps));
  const runsBody = cappedBody(cfg.bodyMaxBytes, (c) =>
    fail(c, 413, `the body is larger than ${cfg.bodyMaxBytes} bytes (RUSE_BODY_MAX_BYTES)`),
  );
  app.use("/v1/runs", runsBody);
  app.use("/v1/batches", runsBody);
  // A problem's JSON only: a test's raw upload is streamed, under its own cap (api/problems.ts).
  app.use(
    "/v1/problems/:id",
    cappedBody(cfg.problemBodyMaxBytes, (c) =>
      fail(c, 413, `the body is larger than ${cfg.problemBodyMaxBytes} bytes (RUSE_PROBLEM_BODY_MAX_BYTES)`),
    ),
  );

  const submitter = new RunSubmitter(cfg, queue, redis, completions);

  // The compatible APIs: the same keys, rate and body cap, refused in the shape their clients read.
  app.use("/piston/*", guard(deps, { refuse: pistonGuardRefuse }));
  app.use(
    "/piston/api/v2/execute",
    cappedBody(cfg.bodyMaxBytes, (c) => pistonRefuse(c, 413, `the body is larger than ${cfg.bodyMaxBytes} bytes`)),
  );
  pistonRoutes(app, cfg, submitter);
  pistonConnectRoute(app, cfg, deps.streams, submitter);
  app.use("/judge0/*", guard(deps, { refuse: judge0Refuse, keyHeader: "x-auth-token" }));
  app.use(
    "/judge0/*",
    cappedBody(cfg.bodyMaxBytes, (c) => judge0Refuse(c, 413, `the body is larger than ${cfg.bodyMaxBytes} bytes`)),
  );
  judge0Routes(app, cfg, queue, redis, submitter);

  const runRequest = runRequestSchema(cfg);

  const postRun = createRoute({
    method: "post",
    path: "/v1/runs",
    summary: "Queue a run; with wait=true, hold the request until it completes",
    request: {
      body: { content: { "application/json": { schema: runRequest } }, required: true },
      query: z.object({ wait: z.enum(["true", "false"]).optional() }),
      headers: idempotencyHeader,
    },
    responses: {
      200: jsonContent(runResultSchema, "the completed run (wait=true)"),
      202: jsonContent(z.object({ id: z.string(), status: z.literal("queued") }), "queued"),
      400: jsonContent(errorSchema, "invalid request: issues name the fields"),
      401: jsonContent(errorSchema, "missing or unknown API key"),
      413: jsonContent(errorSchema, "the body (RUSE_BODY_MAX_BYTES) or an input (RUSE_INPUT_MAX_BYTES) too large"),
      422: jsonContent(
        errorSchema,
        "a language whose image is not built on this server (the issue names the command), or a bad or reused Idempotency-Key",
      ),
      429: jsonContent(errorSchema, "rate limit or full queue; see Retry-After"),
    },
  });
  app.openapi(postRun, async (c) => {
    const body = c.req.valid("json");
    const idem = idempotencyOf(c.req.header(IDEMPOTENCY_HEADER), callerScope(c), "run", body);
    if (typeof idem === "string")
      return fail(c, 422, `invalid ${IDEMPOTENCY_HEADER}`, [{ path: IDEMPOTENCY_HEADER, message: idem }]);
    const s = await submitter.submit(body, c.req.valid("query").wait === "true", undefined, idem);
    if ("refused" in s) return fail(c, s.refused.status, s.refused.error, s.refused.issues);
    if ("full" in s) {
      c.header("Retry-After", "5");
      return fail(c, 429, s.full);
    }
    c.header("X-Run-Id", s.id);
    // Not done within the server's wait limit (or failed): answer as queued.
    const result = await s.result;
    if (result) return completed(c, result);
    return c.json({ id: s.id, status: "queued" as const }, 202);
  });

  // Before /v1/runs/{id}, which would take "stream" for an id.
  streamRoutes(app, cfg, deps.streams, submitter);

  const getRun = createRoute({
    method: "get",
    path: "/v1/runs/{id}",
    summary: "A run's status and, once completed, its result (kept for RUSE_RESULT_TTL seconds)",
    request: { params: uuidParam },
    responses: { 200: jsonContent(runResultSchema, "the run"), 404: jsonContent(errorSchema, "unknown or expired") },
  });
  app.openapi(getRun, async (c) => {
    const { id } = c.req.valid("param");
    const r = await runState(queue, redis, id);
    if (!r) return fail(c, 404, `no run ${id} (unknown, or its result expired)`);
    return "stored" in r ? completed(c, r.stored) : c.json(r.state, 200);
  });

  const getCallback = createRoute({
    method: "get",
    path: "/v1/runs/{id}/callback",
    summary: "What became of a run's callbackUrl: delivered, or given up after RUSE_CALLBACK_ATTEMPTS tries",
    request: { params: uuidParam },
    responses: {
      200: jsonContent(callbackRecordSchema, "delivered (the receiver's status) or given up (the last error)"),
      404: jsonContent(errorSchema, "no callback done or given up for this run (yet)"),
    },
  });
  app.openapi(getCallback, async (c) => {
    const { id } = c.req.valid("param");
    const json = await redis.get(CALLBACK_KEY(id));
    return json
      ? c.json(JSON.parse(json) as CallbackRecord, 200)
      : fail(c, 404, `no callback of run ${id} done or given up`);
  });

  dashboardRoutes(app, deps);
  problemRoutes(app, cfg, redis);
  batchRoutes(app, cfg, queue, redis, submitter);
  eventRoutes(app, queue, redis);

  const langs = createRoute({
    method: "get",
    path: "/v1/languages",
    summary: "The languages this server runs",
    responses: {
      200: jsonContent(
        z.array(
          z.object({
            id: z.string(),
            name: z.string(),
            version: z.string().nullable().openapi({ description: "read from the built image; null: not built here" }),
            ready: z.boolean().openapi({
              description:
                "its images are built on this machine; if not, the first run builds them (about a minute), or gets 422 with RUSE_BUILD_ON_DEMAND=0",
            }),
            sourceFile: z.string(),
            compiled: z.boolean(),
            helloWorld: z.string().openapi({ description: 'a program printing "hello, world"' }),
          }),
        ),
        "the catalogue",
      ),
    },
  });
  app.openapi(langs, (c) =>
    c.json(
      offered().map(({ lang, version, ready }) => ({
        id: lang.id,
        name: lang.name,
        version,
        ready,
        sourceFile: lang.sourceFile,
        compiled: !!lang.compile,
        helloWorld: lang.examples.hello,
      })),
      200,
    ),
  );

  app.get("/healthz", async (c) => {
    try {
      // The clients queue commands while Redis is away: never wait on one here.
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("Redis does not answer")), 1000).unref(),
      );
      await Promise.race([redis.ping(), timeout]);
      const workers = await Promise.race([queue.getWorkersCount(), timeout]);
      if (workers === 0) return c.json({ ok: false, redis: true, workers }, 503);
      return c.json({ ok: true, redis: true, workers }, 200);
    } catch (e) {
      return c.json({ ok: false, redis: false, error: (e as Error).message }, 503);
    }
  });

  app.get("/metrics", async (c) => {
    const counts = await queue.getJobCounts("waiting", "active", "delayed", "prioritized", "failed");
    const own = (await deps.processMetrics?.metrics()) ?? "";
    return c.text((await renderMetrics(redis, counts)) + own, 200, { "Content-Type": "text/plain; version=0.0.4" });
  });

  const doc = {
    openapi: "3.0.0",
    info: { title: "ruse", version: "1", description: "Run untrusted code in a rootless sandbox" },
  };
  app.doc("/openapi.json", doc);
  app.get("/docs", (c) => c.html(docsPage(app.getOpenAPIDocument(doc))));
  playgroundRoutes(app);
  return app;
}

// /v1/problems/{id}: a problem stored once (core/problems.ts), which runs
// then name instead of sending its tests.
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Redis } from "ioredis";
import { createHash, randomUUID } from "node:crypto";
import type { Config } from "../core/config.js";
import { jobProgram } from "../core/job.js";
import {
  deleteProblem,
  getProblem,
  NoTestError,
  putProblem,
  setTestData,
  StoreFullError,
  storedBytes,
  storeFullMessage,
  UPLOAD_KEY,
  UPLOAD_TTL_SECONDS,
  type Problem,
} from "../core/problems.js";
import { compareSchema, errorSchema, problemIdSchema, problemRequestSchema } from "../core/schemas.js";
import { fail, jsonContent } from "./reply.js";

const idParam = z.object({ id: problemIdSchema.openapi({ param: { name: "id", in: "path" } }) });

const limitsView = z.record(z.string(), z.number());
const problemView = z
  .object({
    id: z.string(),
    version: z
      .number()
      .int()
      .openapi({ description: "changes on every PUT; a run's result names the one it was judged against" }),
    tests: z.array(
      z.object({
        inputBytes: z.number().int(),
        inputSha256: z.string(),
        answerBytes: z.number().int().optional(),
        answerSha256: z.string().optional(),
      }),
    ),
    compare: compareSchema,
    checker: z.object({ language: z.string() }).optional(),
    interactor: z.object({ language: z.string() }).optional(),
    limits: limitsView.optional(),
    compileLimits: limitsView.optional(),
    updatedAt: z.string(),
  })
  .openapi("Problem");

/** What GET answers: the tests by size and hash, not their data. */
const view = (p: Problem): z.infer<typeof problemView> => ({
  id: p.id,
  version: p.version,
  tests: p.tests.map((t) => ({
    inputBytes: t.inputBytes,
    inputSha256: t.input,
    ...(t.answer ? { answerBytes: t.answerBytes, answerSha256: t.answer } : {}),
  })),
  compare: p.compare,
  ...(p.checker ? { checker: { language: p.checker.language } } : {}),
  ...(p.interactor ? { interactor: { language: p.interactor.language } } : {}),
  ...(p.limits ? { limits: p.limits } : {}),
  ...(p.compileLimits ? { compileLimits: p.compileLimits } : {}),
  updatedAt: p.updatedAt,
});

export function problemRoutes(app: OpenAPIHono, cfg: Config, redis: Redis): void {
  const put = createRoute({
    method: "put",
    path: "/v1/problems/{id}",
    summary: "Store a problem's tests, judging and default limits under an id (replacing any)",
    request: {
      params: idParam,
      body: { content: { "application/json": { schema: problemRequestSchema(cfg) } }, required: true },
    },
    responses: {
      200: jsonContent(problemView, "stored: its new version"),
      400: jsonContent(errorSchema, "invalid problem: issues name the fields"),
      401: jsonContent(errorSchema, "missing or unknown API key"),
      413: jsonContent(errorSchema, "body too large (RUSE_PROBLEM_BODY_MAX_BYTES)"),
      507: jsonContent(errorSchema, "the problem store is full (RUSE_PROBLEM_STORE_MAX_BYTES)"),
    },
  });
  app.openapi(put, async (c) => {
    const { id } = c.req.valid("param");
    const p = c.req.valid("json");
    const tests = p.tests.map((t) => ({
      input: Buffer.from(t.stdin),
      ...(t.expectedOutput !== undefined ? { answer: Buffer.from(t.expectedOutput) } : {}),
    }));
    try {
      await putProblem(
        redis,
        cfg.problemStoreMaxBytes,
        {
          id,
          compare: p.compare,
          ...(p.checker ? { checker: jobProgram(p.checker) } : {}),
          ...(p.interactor ? { interactor: jobProgram(p.interactor) } : {}),
          ...(p.limits ? { limits: p.limits } : {}),
          ...(p.compileLimits ? { compileLimits: p.compileLimits } : {}),
        },
        tests,
      );
    } catch (e) {
      if (e instanceof StoreFullError) return fail(c, 507, e.message);
      throw e;
    }
    // Read back: the version another PUT may have given since is the one stored.
    const stored = await getProblem(redis, id);
    if (!stored) return fail(c, 400, `problem "${id}" was deleted while it was stored`);
    return c.json(view(stored), 200);
  });

  const upload = createRoute({
    method: "put",
    path: "/v1/problems/{id}/tests/{n}/{part}",
    summary: "Replace one test's input or answer with the raw body, streamed: for data too large for a PUT's JSON",
    request: {
      params: z.object({
        id: problemIdSchema.openapi({ param: { name: "id", in: "path" } }),
        n: z.coerce
          .number()
          .int()
          .min(0)
          .openapi({ param: { name: "n", in: "path" }, description: "the test, from 0" }),
        part: z.enum(["input", "answer"]).openapi({ param: { name: "part", in: "path" } }),
      }),
      body: {
        content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } },
        required: true,
      },
    },
    responses: {
      200: jsonContent(problemView, "stored: the problem, with its new version"),
      400: jsonContent(errorSchema, "invalid id, test number or part"),
      404: jsonContent(errorSchema, "no such problem or test"),
      413: jsonContent(errorSchema, "larger than RUSE_PROBLEM_INPUT_MAX_BYTES"),
      507: jsonContent(errorSchema, "the problem store is full (RUSE_PROBLEM_STORE_MAX_BYTES)"),
    },
  });
  app.openapi(upload, async (c) => {
    const { id, n, part } = c.req.valid("param");
    // The body goes to Redis a chunk at a time while it is hashed: never whole in the API's memory.
    const key = UPLOAD_KEY(randomUUID());
    const hash = createHash("sha256");
    let size = 0;
    const current = await getProblem(redis, id);
    if (!current) return fail(c, 404, `no problem "${id}"`);
    if (!current.tests[n]) return fail(c, 404, `problem "${id}" has no test ${n}`);
    // Refused early, before the body fills Redis, past what the store has room for once this test's old data goes
    // (the script checks again, exactly, at the end).
    const freed = current.tests[n][part === "input" ? "inputBytes" : "answerBytes"] ?? 0;
    const room = cfg.problemStoreMaxBytes - (await storedBytes(redis)) + freed;
    try {
      await redis.set(key, "", "EX", UPLOAD_TTL_SECONDS);
      for await (const chunk of c.req.raw.body ?? []) {
        size += chunk.length;
        if (size > cfg.problemInputMaxBytes)
          return fail(
            c,
            413,
            `the upload is larger than ${cfg.problemInputMaxBytes} bytes (RUSE_PROBLEM_INPUT_MAX_BYTES)`,
          );
        if (size > room)
          return fail(c, 507, storeFullMessage(size + cfg.problemStoreMaxBytes - room, cfg.problemStoreMaxBytes));
        hash.update(chunk);
        await redis.append(key, Buffer.from(chunk));
      }
      await setTestData(redis, cfg.problemStoreMaxBytes, id, n, part, { key, sha: hash.digest("hex"), size });
    } catch (e) {
      if (e instanceof NoTestError) return fail(c, 404, e.message);
      if (e instanceof StoreFullError) return fail(c, 507, e.message);
      throw e;
    } finally {
      await redis.del(key); // gone already if it became the blob
    }
    const stored = await getProblem(redis, id);
    return stored ? c.json(view(stored), 200) : fail(c, 404, `no problem "${id}"`);
  });

  const get = createRoute({
    method: "get",
    path: "/v1/problems/{id}",
    summary: "A stored problem: its version, its tests by size and sha256, its judging and limits",
    request: { params: idParam },
    responses: { 200: jsonContent(problemView, "the problem"), 404: jsonContent(errorSchema, "no such problem") },
  });
  app.openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const p = await getProblem(redis, id);
    return p ? c.json(view(p), 200) : fail(c, 404, `no problem "${id}"`);
  });

  const del = createRoute({
    method: "delete",
    path: "/v1/problems/{id}",
    summary: "Delete a problem; test data no other problem holds goes with it",
    request: { params: idParam },
    responses: {
      200: jsonContent(z.object({ id: z.string(), deleted: z.literal(true) }), "deleted"),
      404: jsonContent(errorSchema, "no such problem"),
    },
  });
  app.openapi(del, async (c) => {
    const { id } = c.req.valid("param");
    return (await deleteProblem(redis, id))
      ? c.json({ id, deleted: true as const }, 200)
      : fail(c, 404, `no problem "${id}"`);
  });
}

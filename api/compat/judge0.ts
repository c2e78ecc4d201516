// Judge0 CE's API (v1.13) under /judge0, so that code written for Judge0
// runs on ruse. A thin translation: a submission is made a v1 run request
// (expected_output a single test), checked by the v1 schema (one place for
// limits and maximums), queued by the one submitter; its token is the run's
// id, and its state is the v1 result told in Judge0's words and statuses.
// Judge0's clients read validation errors as 422 {field: [messages]} and
// other refusals as {error}.
//
// Where ruse differs, on purpose: limits are ruse's (defaults and maximums,
// README "Limits"), not Judge0's; a result keeps what ran, not the
// submission, so source_code, stdin, expected_output and the limits read
// back null; output is text (ruse decodes it as UTF-8), so Judge0's "cannot
// be converted to UTF-8" never happens; number_of_runs, cpu_extra_time,
// stack_limit and the per-process switches are accepted and not used;
// compiler_options, callback_url (Judge0 PUTs its own shape), additional_files
// and redirect_stderr_to_stdout are refused by name, as Judge0 refuses a
// feature it has turned off.
import { z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Queue } from "bullmq";
import type { Context } from "hono";
import type { Redis } from "ioredis";
import type { Config } from "../../core/config.js";
import { IDEMPOTENCY_HEADER, idempotencyOf } from "../../core/idempotency.js";
import { runRequestSchema, type RunJob, type RunRequest, type RunResult } from "../../core/schemas.js";
import { offered } from "../catalogue.js";
import { callerScope } from "../guard.js";
import { isRefusal, jobFor, runState, type RunSubmitter } from "../enqueue.js";
import { jsonContent } from "../reply.js";
import { type Errors, byField, judge0SubmissionSchema, v1Fields, v1Request } from "./judge0-request.js";
import { DEFAULT_FIELDS, FIELDS, asSubmission, judge0ResultSchema, pick, resultOf } from "./judge0-result.js";
import { judge0Name, judge0Statuses, primaryId } from "./judge0-table.js";

const query = z.object({
  base64_encoded: z.enum(["true", "false"]).optional(),
  wait: z.enum(["true", "false"]).optional(),
  fields: z.string().optional().openapi({ description: "comma-separated, or * for all" }),
});

export const judge0Refuse = (c: Context, status: 400 | 401 | 404 | 413 | 422 | 429, error: string) =>
  c.json({ error }, status);

export function judge0Routes(app: OpenAPIHono, cfg: Config, queue: Queue, redis: Redis, submitter: RunSubmitter) {
  const runRequest = runRequestSchema(cfg);
  const at = "/judge0";

  /** ?fields= as a list, or the refusal naming the unknown ones. */
  const fieldsOf = (c: Context): string[] | Response => {
    const asked = (c.req.query("fields") ?? "")
      .split(",")
      .map((f) => f.trim())
      .filter(Boolean);
    if (asked.includes("*")) return [...FIELDS];
    const unknown = asked.filter((f) => !(FIELDS as readonly string[]).includes(f));
    if (unknown.length) return judge0Refuse(c, 400, `invalid fields: [${unknown.join(", ")}]`);
    return asked.length ? asked : DEFAULT_FIELDS;
  };
  const base64Of = (c: Context) => c.req.query("base64_encoded") === "true";
  const body = async (c: Context): Promise<unknown> => {
    try {
      return JSON.parse(await c.req.text());
    } catch {
      return undefined;
    }
  };

  /** A submission made a v1 request, or its errors as Judge0 gives them (422 {field: [messages]}). */
  const requestOf = (raw: unknown, base64: boolean): { request: RunRequest } | { errors: Errors } => {
    const parsed = judge0SubmissionSchema.safeParse(raw);
    if (!parsed.success) return { errors: byField(parsed.error.issues) };
    const made = v1Request(parsed.data, cfg, base64);
    if ("errors" in made) return made;
    const request = runRequest.safeParse(made.request);
    return request.success ? { request: request.data } : { errors: byField(request.error.issues, v1Fields) };
  };
  /** A batch's submission made a job, or its errors. */
  const jobOf = (raw: unknown, base64: boolean): { job: RunJob } | { errors: Errors } => {
    const r = requestOf(raw, base64);
    if ("errors" in r) return r;
    const job = jobFor(r.request, cfg, new Map());
    return isRefusal(job) ? { errors: byField(job.issues, v1Fields) } : { job };
  };

  app.openAPIRegistry.registerPath({
    method: "post",
    path: `${at}/submissions`,
    summary: "Judge0: create a submission (a v1 run); with wait=true, answer its result",
    request: {
      query,
      body: { content: { "application/json": { schema: judge0SubmissionSchema } }, required: true },
    },
    responses: {
      201: jsonContent(judge0ResultSchema, "{token}, or with wait=true the fields asked for"),
      422: jsonContent(z.record(z.string(), z.array(z.string())), "errors by field"),
      429: jsonContent(z.object({ error: z.string() }), "rate limit or full queue; see Retry-After"),
    },
  });
  app.post(`${at}/submissions`, async (c) => {
    const fields = fieldsOf(c);
    if (fields instanceof Response) return fields;
    const base64 = base64Of(c);
    const raw = await body(c);
    if (raw === undefined) return judge0Refuse(c, 400, "the body is not valid JSON");
    const made = requestOf(raw, base64);
    if ("errors" in made) return c.json(made.errors, 422);
    const idem = idempotencyOf(c.req.header(IDEMPOTENCY_HEADER), callerScope(c), "run", made.request);
    if (typeof idem === "string") return c.json({ [IDEMPOTENCY_HEADER]: [idem] }, 422);
    const s = await submitter.submit(made.request, c.req.query("wait") === "true", undefined, idem);
    if ("refused" in s) return c.json(byField(s.refused.issues, v1Fields), s.refused.status === 413 ? 413 : 422);
    if ("full" in s) {
      c.header("Retry-After", "5");
      return judge0Refuse(c, 429, "queue is full");
    }
    c.header("X-Run-Id", s.id);
    if (c.req.query("wait") !== "true") return c.json({ token: s.id }, 201);
    // Not done within RUSE_WAIT_MAX_MS: its state (In Queue or Processing), to be read again by its token.
    const result = await s.result;
    const r: RunResult = result
      ? (JSON.parse(result) as RunResult)
      : { id: s.id, status: "queued", language: made.request.language };
    return c.json(pick(asSubmission(r), fields, base64), 201);
  });

  app.openAPIRegistry.registerPath({
    method: "post",
    path: `${at}/submissions/batch`,
    summary: `Judge0: create up to RUSE_MAX_BATCH (${cfg.maxBatch}) submissions; each answered in place by its token or its errors`,
    request: {
      query,
      body: {
        content: { "application/json": { schema: z.object({ submissions: z.array(judge0SubmissionSchema) }) } },
        required: true,
      },
    },
    responses: {
      201: jsonContent(z.array(judge0ResultSchema), "in order: {token} or the errors by field"),
      422: jsonContent(z.array(judge0ResultSchema), "no submission was valid"),
    },
  });
  app.post(`${at}/submissions/batch`, async (c) => {
    const raw = (await body(c)) as { submissions?: unknown } | undefined;
    // Not "at least one submission": the client's fault is its JSON, and it is told so.
    if (raw === undefined) return judge0Refuse(c, 400, "the body is not valid JSON");
    const items = raw?.submissions;
    if (!Array.isArray(items) || items.length === 0)
      return judge0Refuse(c, 400, "there should be at least one submission in a batch");
    if (items.length > cfg.maxBatch)
      return judge0Refuse(c, 400, `number of submissions in a batch should be less than or equal to ${cfg.maxBatch}`);
    const made = items.map((item) => jobOf(item, base64Of(c)));
    const jobs = made.flatMap((m) => ("job" in m ? [m.job] : []));
    if (jobs.length === 0)
      return c.json(
        made.map((m) => ("errors" in m ? m.errors : {})),
        422,
      );
    const idem = idempotencyOf(c.req.header(IDEMPOTENCY_HEADER), callerScope(c), "batch", raw);
    if (typeof idem === "string") return c.json({ [IDEMPOTENCY_HEADER]: [idem] }, 422);
    // All the valid ones or none: a batch is never half queued for want of room.
    const s = await submitter.submitGroup(jobs.length, () => jobs, undefined, idem);
    if ("refused" in s) return c.json(byField(s.refused.issues, v1Fields), 422);
    if ("full" in s) {
      c.header("Retry-After", "5");
      return judge0Refuse(c, 429, "queue is full");
    }
    let next = 0;
    return c.json(
      made.map((m) => ("job" in m ? { token: s.runs[next++]! } : m.errors)),
      201,
    );
  });

  app.openAPIRegistry.registerPath({
    method: "get",
    path: `${at}/submissions/batch`,
    summary: "Judge0: several submissions by their tokens (null for an unknown one)",
    request: { query: query.extend({ tokens: z.string().openapi({ description: "comma-separated" }) }) },
    responses: { 200: jsonContent(z.object({ submissions: z.array(judge0ResultSchema.nullable()) }), "in order") },
  });
  app.get(`${at}/submissions/batch`, async (c) => {
    const fields = fieldsOf(c);
    if (fields instanceof Response) return fields;
    const tokens = (c.req.query("tokens") ?? "")
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean);
    if (tokens.length === 0) return judge0Refuse(c, 400, "there should be at least one submission in a batch");
    if (tokens.length > cfg.maxBatch)
      return judge0Refuse(c, 400, `number of submissions in a batch should be less than or equal to ${cfg.maxBatch}`);
    const base64 = base64Of(c);
    const subs = await Promise.all(
      tokens.map(async (t) => {
        const r = UUID.test(t) ? await runState(queue, redis, t) : null;
        return r ? pick(asSubmission(resultOf(r)), fields, base64) : null;
      }),
    );
    return c.json({ submissions: subs }, 200);
  });

  app.openAPIRegistry.registerPath({
    method: "get",
    path: `${at}/submissions/{token}`,
    summary: "Judge0: a submission's state and result, the fields asked for",
    request: { query, params: z.object({ token: z.string() }) },
    responses: {
      200: jsonContent(judge0ResultSchema, "the fields asked for"),
      404: jsonContent(z.object({ error: z.string() }), "unknown, or its result expired"),
    },
  });
  app.get(`${at}/submissions/:token`, async (c) => {
    const fields = fieldsOf(c);
    if (fields instanceof Response) return fields;
    const token = c.req.param("token");
    const r = UUID.test(token) ? await runState(queue, redis, token) : null;
    if (!r) return judge0Refuse(c, 404, `no submission ${token} (unknown, or its result expired)`);
    return c.json(pick(asSubmission(resultOf(r)), fields, base64Of(c)), 200);
  });

  const languageList = () =>
    offered()
      .map(({ lang, version }) => ({ id: primaryId(lang), name: judge0Name(lang, version) }))
      .sort((a, b) => a.name.localeCompare(b.name));
  app.openAPIRegistry.registerPath({
    method: "get",
    path: `${at}/languages`,
    summary: "Judge0: the languages, with Judge0's ids where Judge0 has the language",
    responses: { 200: jsonContent(z.array(z.object({ id: z.number(), name: z.string() })), "by name") },
  });
  app.get(`${at}/languages`, (c) => c.json(languageList(), 200));
  app.get(`${at}/languages/all`, (c) =>
    c.json(
      languageList().map((l) => ({ ...l, is_archived: false })),
      200,
    ),
  );
  app.get(`${at}/languages/:id`, (c) => {
    const found = offered().find((o) => String(primaryId(o.lang)) === c.req.param("id"));
    if (!found) return judge0Refuse(c, 404, `no language ${c.req.param("id")}`);
    const { lang, version } = found;
    return c.json(
      {
        id: primaryId(lang),
        name: judge0Name(lang, version),
        is_archived: false,
        source_file: lang.sourceFile,
        compile_cmd: lang.compile?.join(" ") ?? null,
        run_cmd: lang.run.join(" "),
      },
      200,
    );
  });
  app.openAPIRegistry.registerPath({
    method: "get",
    path: `${at}/statuses`,
    summary: "Judge0: the statuses",
    responses: { 200: jsonContent(z.array(z.object({ id: z.number(), description: z.string() })), "by id") },
  });
  app.get(`${at}/statuses`, (c) => c.json(judge0Statuses, 200));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

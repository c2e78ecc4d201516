// Property-based fuzzing of the HTTP API (issue 15), against a real stack
// (its own Redis, the API, a worker). Bodies are generated from the zod
// schemas that validate them (test/helpers/arbitraries.ts): random JSON,
// valid-by-type bodies with one field broken, invalid JSON, wrong content
// types, random path ids and queries. Properties: never a 5xx, the API still
// healthy after, and every refusal JSON in its API's shape, naming the field
// at fault. Then one run of random bytes (source, stdin, args) in every
// language built here, each ending in a verdict that is not internal_error.
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { batchRequestSchema } from "../../api/batches.js";
import { judge0SubmissionSchema } from "../../api/compat/judge0-request.js";
import { pistonExecuteSchema } from "../../api/compat/piston.js";
import { errorSchema, problemRequestSchema, runRequestSchema, type RunResult } from "../../core/schemas.js";
import { verdicts } from "../../core/verdicts.js";
import { core, mutated, text, type Mutation } from "../helpers/arbitraries.js";
import { startStack, type Reply, type Stack } from "../helpers/service.js";
import type { z } from "zod";

/** Runs of each property: enough to reach every field, few enough for the file to stay well under 90 s. */
const RUNS = 80;

/** Generous: the machine is shared, and a property is many requests. */
const SLOW = { timeout: 180_000 };

type Api = "v1" | "piston" | "judge0" | "judge0-batch";

interface JsonEndpoint {
  api: Api;
  method: string;
  path: string;
  schema: z.ZodType;
}

const keysOf = (s: z.ZodType) => Object.keys((core(s) as unknown as { shape: Record<string, unknown> }).shape);

/** A v1 issue's path names the field a mutation broke: it, a field inside it, or the union holding it. */
function namesField(issuePath: string, message: string, m: Mutation): boolean {
  const at = m.path || "(body)";
  if (m.kind === "unknown key") return issuePath === at && message.includes(m.key!);
  return issuePath === at || issuePath.startsWith(`${at}.`) || (m.path !== "" && m.path.startsWith(`${issuePath}.`));
}

/** Piston's message, "field: why; field: why", as its fields. */
const pistonFields = (message: string) => message.split("; ").map((p) => p.slice(0, p.indexOf(": ")));

/** A v1 refusal: {error, issues?: [{path, message}]}; issues' paths start at one of `keys` (or are the body). */
function expectV1Refusal(r: Reply, keys: string[]) {
  expect(r.status, r.text).toBeGreaterThanOrEqual(400);
  expect(r.status, r.text).toBeLessThan(500);
  expect(errorSchema.safeParse(r.json).success, r.text).toBe(true);
  for (const i of r.json.issues ?? []) expect([...keys, "(body)"], r.text).toContain(i.path.split(".")[0]);
}

/** A Piston refusal: {message} whose parts each name a field of the request. */
function expectPistonRefusal(r: Reply, keys: string[]) {
  expect(r.status, r.text).toBeGreaterThanOrEqual(400);
  expect(r.status, r.text).toBeLessThan(500);
  expect(typeof r.json?.message, r.text).toBe("string");
  if (/runtime is unknown$|^the body is not valid JSON$/.test(r.json.message)) return;
  for (const f of pistonFields(r.json.message)) expect([...keys, "(body)"], r.text).toContain(f.split(/[. ]/)[0]);
}

/** Judge0's validation errors: {field: [messages]}, its own field names ("base": the body itself). */
function expectJudge0Errors(errors: unknown, keys: string[], text: string) {
  expect(errors && typeof errors === "object" && !Array.isArray(errors), text).toBe(true);
  for (const [field, messages] of Object.entries(errors as object)) {
    expect([...keys, "base"], text).toContain(field);
    expect(Array.isArray(messages) && messages.every((m) => typeof m === "string"), text).toBe(true);
  }
}

/** Text the server cannot parse as JSON (as it decodes it: UTF-8, a byte-order mark dropped). */
const notJson = fc
  .oneof(
    text(),
    fc.constantFrom("", " ", "{", "[1,", '{"a":}', "NaN", "undefined", "{'a':1}", "\ufeff", '{"a":1}}'),
    fc.jsonValue().map((v) => JSON.stringify(v).slice(0, -1)),
  )
  .filter((t) => {
    try {
      JSON.parse(new TextDecoder().decode(new TextEncoder().encode(t)));
      return false;
    } catch {
      return true;
    }
  });

/** A URL path segment: uuids, problem-like names, and anything else, encoded. */
const segment = fc
  .oneof(
    fc.uuid(),
    fc.stringMatching(/^[A-Za-z0-9_-]{1,70}$/),
    text({ minLength: 1, maxLength: 80 }),
    fc.constantFrom("stream", "%", "..", ".", "null", "-1", "0", "1e3", "a/b", "\0", " "),
  )
  .filter((t) => !/\p{Surrogate}/u.test(t)) // a lone surrogate has no UTF-8 to encode
  .map(encodeURIComponent);

describe("fuzzing the HTTP API", () => {
  let s: Stack;
  let endpoints: JsonEndpoint[];
  const problemId = "fuzz-problem";

  beforeAll(async () => {
    // Small caps, so that a body or an input past them is cheap to send.
    s = await startStack({
      worker: "inprocess",
      env: { RUSE_BODY_MAX_BYTES: String(2 << 20), RUSE_INPUT_MAX_BYTES: String(64 << 10) },
    });
    endpoints = [
      { api: "v1", method: "POST", path: "/v1/runs", schema: runRequestSchema(s.cfg) },
      { api: "v1", method: "POST", path: "/v1/batches", schema: batchRequestSchema(s.cfg) },
      { api: "v1", method: "PUT", path: `/v1/problems/${problemId}`, schema: problemRequestSchema(s.cfg) },
      { api: "piston", method: "POST", path: "/piston/api/v2/execute", schema: pistonExecuteSchema },
      { api: "judge0", method: "POST", path: "/judge0/submissions", schema: judge0SubmissionSchema },
    ];
  });
  afterAll(async () => {
    await s?.stop();
  });
  // After each property: the API still answers, and it logged no internal error.
  afterEach(async () => {
    const h = await s.get("/healthz");
    expect(h.status, h.text).toBe(200);
    expect(s.apiLines.filter((l) => (l.level as number) >= 50)).toEqual([]);
  });

  it(
    "random JSON (any value, or the schema's keys with any values) is refused in each API's shape, never a 5xx",
    SLOW,
    async () => {
      for (const e of endpoints) {
        const keys = keysOf(e.schema);
        const withKeys = fc.dictionary(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 3 }), {
          maxKeys: keys.length,
        });
        await fc.assert(
          fc.asyncProperty(fc.oneof(fc.jsonValue(), withKeys), async (body) => {
            const r = await s.request(e.method, e.path, { raw: JSON.stringify(body) ?? "null" });
            expect(r.status, r.text).toBeLessThan(500);
            if (r.status < 400) return; // a random value that is a valid request: allowed, never seen in practice
            if (e.api === "v1") expectV1Refusal(r, keys);
            else if (e.api === "piston") expectPistonRefusal(r, keys);
            else if (r.status === 422) expectJudge0Errors(r.json, keys, r.text);
            else expect(typeof r.json?.error, r.text).toBe("string");
          }),
          { numRuns: RUNS },
        );
      }
    },
  );

  it(
    "a valid-by-type body with one field broken (removed, wrong type, past a bound, an unknown key) is refused naming that field",
    SLOW,
    async () => {
      for (const e of endpoints) {
        const keys = keysOf(e.schema);
        await fc.assert(
          fc.asyncProperty(mutated(e.schema), async (m) => {
            const r = await s.request(e.method, e.path, { body: m.body });
            const why = `${m.kind} ${m.path || "(body)"}: ${r.status} ${r.text.slice(0, 2000)}`;
            if (e.api === "v1") {
              expectV1Refusal(r, keys);
              expect(r.status, why).toBe(400);
              expect(r.json.error, why).toBe("invalid request");
              expect(
                r.json.issues.some((i: { path: string; message: string }) => namesField(i.path, i.message, m)),
                why,
              ).toBe(true);
            } else if (e.api === "piston") {
              expectPistonRefusal(r, keys);
              expect(r.status, why).toBe(400);
              expect(
                pistonFields(r.json.message).some((f) => namesField(f, "", m)),
                why,
              ).toBe(true);
            } else {
              expect(r.status, why).toBe(422);
              expectJudge0Errors(r.json, keys, why);
              expect(Object.keys(r.json), why).toContain(m.path || "base");
            }
          }),
          { numRuns: RUNS },
        );
      }
    },
  );

  it(
    "Piston: a file's name that no path under /box can be is refused naming files.N.name, Piston's field",
    SLOW,
    async () => {
      const badName = fc.oneof(
        fc.constantFrom("..", ".", "/etc/passwd", "a//b", "a/../b", "x\ny", "x\0y", "a/./b"),
        text({ minLength: 256, maxLength: 300 }),
      );
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 3 }), badName, async (n, name) => {
          const files = [
            { content: "print(1)" },
            ...Array.from({ length: n }, (_, i) => ({ name: `f${i}.py`, content: "" })),
          ];
          files[n] = { name, content: "" };
          const r = await s.post("/piston/api/v2/execute", { language: "python", files });
          expect(r.status, r.text).toBe(400);
          expect(pistonFields(r.json.message), r.text).toContain(`files.${n}.name`);
        }),
        { numRuns: Math.ceil(RUNS / 3) },
      );
    },
  );

  it("Judge0's batch answers each broken submission in place with its errors by field", SLOW, async () => {
    const keys = keysOf(judge0SubmissionSchema);
    await fc.assert(
      fc.asyncProperty(fc.array(mutated(judge0SubmissionSchema), { minLength: 1, maxLength: 4 }), async (ms) => {
        const r = await s.post("/judge0/submissions/batch", { submissions: ms.map((m) => m.body) });
        expect(r.status, r.text).toBe(422);
        expect(r.json).toHaveLength(ms.length);
        ms.forEach((m, i) => {
          expectJudge0Errors(r.json[i], keys, r.text);
          expect(Object.keys(r.json[i]), r.text).toContain(m.path || "base");
        });
      }),
      { numRuns: RUNS },
    );
  });

  it("invalid JSON text or an empty body is refused as not JSON, in each API's shape", SLOW, async () => {
    const all = [...endpoints, { api: "judge0-batch" as const, method: "POST", path: "/judge0/submissions/batch" }];
    for (const e of all)
      await fc.assert(
        fc.asyncProperty(notJson, async (raw) => {
          const r = await s.request(e.method, e.path, { raw });
          expect(r.status, r.text).toBe(400);
          if (e.api === "piston") expect(r.json).toEqual({ message: "the body is not valid JSON" });
          else expect(r.json).toEqual({ error: "the body is not valid JSON" });
        }),
        { numRuns: Math.ceil(RUNS / 2) },
      );
  });

  it("a field nested tens of thousands of arrays deep is refused naming that field", SLOW, async () => {
    for (const e of endpoints) {
      const keys = keysOf(e.schema);
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...keys), fc.integer({ min: 10_000, max: 100_000 }), async (key, depth) => {
          const raw = `{${JSON.stringify(key)}:${"[".repeat(depth)}${"]".repeat(depth)}}`;
          const r = await s.request(e.method, e.path, { raw });
          expect(r.status, r.text).toBeLessThan(500);
          const named =
            e.api === "v1"
              ? r.json.issues.map((i: { path: string }) => i.path)
              : e.api === "piston"
                ? pistonFields(r.json.message)
                : Object.keys(r.json);
          // The field, or an element inside it (files.0: an array is no file).
          expect(
            named.some((p: string) => p === key || p.startsWith(`${key}.`)),
            r.text,
          ).toBe(true);
        }),
        { numRuns: 10 },
      );
    }
  });

  it(
    "a JSON body under another content type: v1 answers 415, the compatible APIs (whose clients send text/plain) read it",
    SLOW,
    async () => {
      const types = fc.constantFrom(
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "text/json",
        "application/octet-stream",
      );
      for (const e of endpoints)
        await fc.assert(
          fc.asyncProperty(mutated(e.schema), types, async (m, type) => {
            const r = await s.request(e.method, e.path, {
              raw: JSON.stringify(m.body),
              headers: { "content-type": type },
            });
            if (e.api === "v1") {
              expect(r.status, r.text).toBe(415);
              expect(r.json.issues, r.text).toEqual([{ path: "Content-Type", message: "must be application/json" }]);
            } else expect(r.status, r.text).toBe(e.api === "piston" ? 400 : 422);
          }),
          { numRuns: Math.ceil(RUNS / 3) },
        );
    },
  );

  it(
    "a body past RUSE_BODY_MAX_BYTES is a 413, an input past RUSE_INPUT_MAX_BYTES a 413 naming the field",
    SLOW,
    async () => {
      const huge = "x".repeat(s.cfg.bodyMaxBytes);
      for (const e of endpoints.filter((x) => x.api !== "v1" || x.path !== `/v1/problems/${problemId}`)) {
        const r = await s.request(e.method, e.path, { raw: JSON.stringify({ language: "python", source: huge }) });
        expect(r.status, e.path).toBe(413);
        expect(JSON.stringify(r.json), e.path).toMatch(/larger than/);
      }
      const stdin = "a".repeat(s.cfg.inputMaxBytes + 1);
      const run = await s.post("/v1/runs", {
        language: "bash",
        source: "true",
        tests: [{ stdin, expectedOutput: "" }],
      });
      expect(run.status).toBe(413);
      expect(run.json.issues).toEqual([{ path: "tests.0.stdin", message: expect.stringMatching(/bytes, over/) }]);
      const batch = await s.post("/v1/batches", {
        runs: [
          { language: "bash", source: "true" },
          { language: "bash", source: "true", stdin },
        ],
      });
      expect(batch.status).toBe(413);
      expect(batch.json.issues).toEqual([{ path: "runs.1.stdin", message: expect.stringMatching(/bytes, over/) }]);
    },
  );

  it("random path ids and queries get a 400 naming the parameter or a 404, as JSON, never a 5xx", SLOW, async () => {
    const query = fc.dictionary(
      fc.constantFrom("offset", "limit", "wait", "fields", "base64_encoded", "tokens"),
      fc.oneof(text(), fc.integer().map(String), fc.constantFrom("true", "false", "*", "-1", "1e3", "NaN", "")),
    );
    const routes: {
      method: string;
      path: (id: string) => string;
      params: string[];
      judge0?: boolean;
      /** what a 200 must be, where one is right for some ids */
      ok?: (json: any, id: string) => boolean;
    }[] = [
      { method: "GET", path: (id) => `/v1/runs/${id}`, params: ["id"] },
      { method: "GET", path: (id) => `/v1/runs/${id}/callback`, params: ["id"] },
      { method: "GET", path: (id) => `/v1/runs/${id}/events`, params: ["id"] },
      { method: "GET", path: (id) => `/v1/batches/${id}`, params: ["id", "offset", "limit"] },
      { method: "GET", path: (id) => `/v1/problems/${id}`, params: ["id"] },
      { method: "DELETE", path: (id) => `/v1/problems/${id}`, params: ["id"] },
      { method: "PUT", path: (id) => `/v1/problems/${problemId}/tests/${id}/input`, params: ["n"] },
      { method: "PUT", path: (id) => `/v1/problems/${problemId}/tests/0/${id}`, params: ["part"] },
      { method: "PUT", path: (id) => `/v1/problems/${id}/tests/0/answer`, params: ["id"] },
      { method: "GET", path: (id) => `/judge0/submissions/${id}`, params: [], judge0: true },
      // Judge0 answers null in place of an unknown token.
      {
        method: "GET",
        path: (id) => `/judge0/submissions/batch?tokens=${id}`,
        params: [],
        judge0: true,
        ok: (json) => json.submissions.every((x: unknown) => x === null),
      },
      // A number that is a Judge0 language id is a language.
      {
        method: "GET",
        path: (id) => `/judge0/languages/${id}`,
        params: [],
        judge0: true,
        ok: (json, id) => String(json.id) === decodeURIComponent(id),
      },
    ];
    for (const route of routes)
      await fc.assert(
        fc.asyncProperty(segment, query, async (id, q) => {
          const qs = new URLSearchParams(q).toString();
          const path = route.path(id) + (qs ? (route.path(id).includes("?") ? "&" : "?") + qs : "");
          const r = await s.request(route.method, path, route.method === "PUT" ? { raw: "data" } : {});
          const ok = route.ok ? [200] : [];
          expect([400, 404, ...ok], `${route.method} ${path}: ${r.status} ${r.text}`).toContain(r.status);
          if (r.status === 200) expect(route.ok!(r.json, id), r.text).toBe(true);
          else if (route.judge0) {
            expect(typeof r.json?.error, r.text).toBe("string");
            if (r.status === 400) expect(r.json.error, r.text).toMatch(/^invalid fields: |at least one submission/);
          } else {
            expect(errorSchema.safeParse(r.json).success, `${path}: ${r.text}`).toBe(true);
            if (r.status === 400)
              for (const i of r.json.issues) expect(route.params, `${path}: ${r.text}`).toContain(i.path);
          }
        }),
        { numRuns: Math.ceil(RUNS / 2) },
      );
  });
});

describe("random bytes as source, stdin and args in every language built here", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "inprocess" });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("each run completes with a verdict, never internal_error", { timeout: 300_000 }, async () => {
    const langs = ((await s.get("/v1/languages")).json as { id: string; sourceFile: string; ready: boolean }[]).filter(
      (l) => l.ready,
    );
    expect(langs.length).toBeGreaterThan(0);
    const input = fc.record({
      bytes: fc.uint8Array({ minLength: 1, maxLength: 512 }),
      stdin: text({ maxLength: 256 }),
      args: fc.array(
        text({ maxLength: 32 }).map((a) => a.replaceAll("\0", "")),
        { maxLength: 4 },
      ),
    });
    await fc.assert(
      fc.asyncProperty(fc.tuple(...langs.map(() => input)), async (inputs) => {
        // All queued at once: the worker's two slots are the concurrency.
        const ids = await Promise.all(
          langs.map(async (l, i) => {
            const { bytes, stdin, args } = inputs[i]!;
            const r = await s.post("/v1/runs", {
              language: l.id,
              files: [{ path: l.sourceFile, content: Buffer.from(bytes).toString("base64"), encoding: "base64" }],
              stdin,
              args,
              limits: { wallMs: 5000 },
              compileLimits: { wallMs: 10_000 },
            });
            expect(r.status, `${l.id}: ${r.text}`).toBe(202);
            return r.json.id as string;
          }),
        );
        const results = await Promise.all(ids.map((id) => s.poll(id, 280_000)));
        const bad = results
          .map((r: RunResult, i) => ({ language: langs[i]!.id, verdict: r.verdict, message: r.message }))
          .filter((r) => !r.verdict || !verdicts.includes(r.verdict) || r.verdict === "internal_error");
        expect(bad).toEqual([]);
      }),
      { numRuns: 1, endOnFailure: true },
    );
  });
});

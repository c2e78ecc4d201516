// The service through HTTP (issue 4's acceptance): every endpoint, every
// verdict, async + poll and wait=true, auth on and off, bad input,
// back-pressure, the rate limit and result expiry. Each describe block runs
// against its own private stack (embedded Redis, API on a free loopback
// port, worker in this process or none) from test/helpers/service.ts.
import { createHash, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { DONE_CHANNEL, QUEUE, redisOptions } from "../../core/store.js";
import type { RunResult } from "../../core/schemas.js";
import { languages } from "../../rootfs/languages.js";
import { startStack, type Reply, type Stack } from "../helpers/service.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The value of one sample of the Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  const head = want ? `${name}{${want}} ` : `${name} `;
  const line = text.split("\n").find((l) => l.startsWith(head));
  return line === undefined ? undefined : Number(line.slice(head.length));
}

async function metrics(s: Stack): Promise<string> {
  const r = await s.get("/metrics");
  expect(r.status).toBe(200);
  return r.text;
}

/** Polls /metrics until `f` holds (the worker records a run just after storing its result). */
async function metricsUntil(s: Stack, f: (text: string) => boolean, deadlineMs = 5000): Promise<string> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const t = await metrics(s);
    if (f(t) || Date.now() > end) return t;
    await sleep(50);
  }
}

/** The paths named by a 400's issues. */
const issuePaths = (r: Reply): string[] => (r.json?.issues ?? []).map((i: { path: string }) => i.path);

/** createdAt <= startedAt <= completedAt, all ISO dates. */
function expectOrderedTimes(r: RunResult): void {
  const [c, s, d] = [r.createdAt, r.startedAt, r.completedAt].map((t) => Date.parse(t ?? ""));
  expect(Number.isFinite(c) && Number.isFinite(s) && Number.isFinite(d), JSON.stringify(r)).toBe(true);
  expect(c).toBeLessThanOrEqual(s!);
  expect(s).toBeLessThanOrEqual(d!);
}

/** Sockets listening on `port`, as local addresses from /proc/net/tcp{,6}. */
function listeners(port: number): string[] {
  const out: string[] = [];
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(f, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== "0A") continue; // LISTEN
      const [addr, p] = cols[1]!.split(":");
      if (parseInt(p!, 16) !== port) continue;
      if (addr!.length === 8) out.push(Buffer.from(addr!, "hex").reverse().join("."));
      else out.push(`[${addr}]`);
    }
  }
  return out;
}

const PY_SUM = "a, b = map(int, input().split())\nprint(a + b)\n";

// ---------------------------------------------------------------- the main stack: no keys, a worker

describe("with a worker, no API keys", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "inprocess", env: { RUSE_MAX_TESTS: "3", RUSE_BODY_MAX_BYTES: "65536" } });
  });
  afterAll(async () => {
    await s?.stop();
  });

  describe("endpoints", () => {
    it("POST /v1/runs answers 202 queued; GET /v1/runs/:id shows it queued or running, then completed", async () => {
      const r = await s.post("/v1/runs", {
        language: "python",
        source: "import time\ntime.sleep(0.5)\nprint('hello')\n",
      });
      expect(r.status).toBe(202);
      expect(r.json).toEqual({ id: expect.stringMatching(UUID), status: "queued" });
      const early = await s.get(`/v1/runs/${r.json.id}`);
      expect(early.status).toBe(200);
      expect(["queued", "running"]).toContain(early.json.status);
      expect(early.json.verdict).toBeUndefined();
      const done = await s.poll(r.json.id);
      expect(done).toMatchObject({
        id: r.json.id,
        status: "completed",
        language: "python",
        verdict: "ok",
        compile: null,
      });
      expect(done.run).toMatchObject({ verdict: "ok", exitCode: 0, signal: null, stdout: "hello\n", stderr: "" });
      expect(done.run!.usage.wallMs).toBeGreaterThanOrEqual(500);
      expectOrderedTimes(done);
      // a completed run stays readable
      const again = await s.get(`/v1/runs/${r.json.id}`);
      expect(again.json).toEqual(done);
    });

    it("POST /v1/runs?wait=true answers 200 with the full result", async () => {
      const t0 = Date.now();
      const r = await s.post("/v1/runs?wait=true", {
        language: "bash",
        source: 'echo "out:$1:$(cat)"; echo err >&2',
        stdin: "in",
        args: ["x y"],
      });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({
        id: expect.stringMatching(UUID),
        status: "completed",
        language: "bash",
        verdict: "ok",
      });
      expect(r.json.run).toMatchObject({
        stdout: "out:x y:in\n",
        stderr: "err\n",
        exitCode: 0,
        stdoutTruncated: false,
        stderrTruncated: false,
      });
      expect(r.json.run.usage).toEqual({
        cpuMs: expect.any(Number),
        wallMs: expect.any(Number),
        memoryKb: expect.any(Number),
      });
      expectOrderedTimes(r.json);
      expect(Date.parse(r.json.completedAt)).toBeLessThanOrEqual(Date.now());
      expect(Date.parse(r.json.createdAt)).toBeGreaterThanOrEqual(t0 - 1000);
      // the same result under GET
      expect((await s.get(`/v1/runs/${r.json.id}`)).json).toEqual(r.json);
    });

    it("a completion is announced on Redis for a run a request waits on, and only then", async () => {
      const sub = new Redis(redisOptions(s.redisUrl));
      const notices: string[] = [];
      sub.on("message", (_c: string, m: string) => notices.push(m.slice(0, m.indexOf("\n"))));
      await sub.subscribe(DONE_CHANNEL);
      try {
        const queued = await s.post("/v1/runs", { language: "bash", source: "echo a" });
        await s.poll(queued.json.id);
        const waited = await s.post("/v1/runs?wait=true", { language: "bash", source: "echo b" });
        expect(waited.status).toBe(200);
        await sleep(100);
        expect(notices).toEqual([waited.json.id]);
      } finally {
        await sub.quit();
      }
    });

    it("GET /v1/runs/:id: 404 JSON for an unknown uuid, 400 naming id for a non-uuid", async () => {
      const unknown = await s.get(`/v1/runs/${randomUUID()}`);
      expect(unknown.status).toBe(404);
      expect(unknown.json.error).toMatch(/no run/);
      const bad = await s.get("/v1/runs/not-a-uuid");
      expect(bad.status).toBe(400);
      expect(issuePaths(bad)).toEqual(["id"]);
    });

    it("GET /v1/languages lists every catalogue language with a version", async () => {
      const r = await s.get("/v1/languages");
      expect(r.status).toBe(200);
      expect(r.json.map((l: { id: string }) => l.id).sort()).toEqual(languages.map((l) => l.id).sort());
      for (const l of r.json) {
        const cat = languages.find((c) => c.id === l.id)!;
        expect(typeof l.version, l.id).toBe("string");
        expect(l.version, l.id).toMatch(/\d+\.\d+/);
        expect(l).toMatchObject({
          name: cat.name,
          sourceFile: cat.sourceFile,
          compiled: !!cat.compile,
          ready: true, // npm test builds every image
          helloWorld: cat.examples.hello,
        });
      }
    });

    it("GET /healthz is 200 with a worker", async () => {
      const r = await s.get("/healthz");
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ ok: true, redis: true });
      expect(r.json.workers).toBeGreaterThanOrEqual(1);
    });

    it("GET /metrics counts the runs just made by language and verdict, with the queue and the histograms", async () => {
      const before = await metrics(s);
      const count = (t: string, language: string, verdict: string) =>
        sample(t, "ruse_runs_total", { language, verdict }) ?? 0;
      const runs = (t: string) => sample(t, "ruse_run_duration_seconds_count") ?? 0;
      await s.run({ language: "bash", source: "exit 3" });
      await s.run({ language: "bash", source: "exit 3" });
      await s.run({ language: "python", source: "print(1)" });
      const after = await metricsUntil(s, (t) => runs(t) >= runs(before) + 3);
      expect(count(after, "bash", "runtime_error") - count(before, "bash", "runtime_error")).toBe(2);
      expect(count(after, "python", "ok") - count(before, "python", "ok")).toBe(1);
      expect(runs(after) - runs(before)).toBe(3);
      expect(after).toMatch(/^# TYPE ruse_runs_total counter$/m);
      for (const state of ["waiting", "active", "delayed", "failed"])
        expect(sample(after, "ruse_queue_jobs", { state }), state).toBe(0);
      expect(sample(after, "ruse_sandbox_failures_total")).toEqual(expect.any(Number));
      for (const h of ["ruse_run_duration_seconds", "ruse_queue_wait_seconds"]) {
        expect(after).toMatch(new RegExp(`^# TYPE ${h} histogram$`, "m"));
        const les = [...after.matchAll(new RegExp(`^${h}_bucket\\{le="([^"]+)"\\} (\\S+)$`, "gm"))];
        expect(les.length, h).toBeGreaterThan(3);
        const values = les.map((m) => Number(m[2]));
        for (let i = 1; i < values.length; i++)
          expect(values[i]!, `${h} buckets are cumulative`).toBeGreaterThanOrEqual(values[i - 1]!);
        expect(les.at(-1)![1]).toBe("+Inf");
        expect(values.at(-1)).toBe(sample(after, `${h}_count`));
        expect(sample(after, `${h}_count`)! - (sample(before, `${h}_count`) ?? 0)).toBe(3);
        expect(sample(after, `${h}_sum`)).toBeGreaterThan(0);
      }
      expect((await s.get("/metrics")).headers.get("content-type")).toMatch(/^text\/plain/);
    });

    it("GET /openapi.json is the document with /v1/runs and the RunRequest schema", async () => {
      const r = await s.get("/openapi.json");
      expect(r.status).toBe(200);
      expect(r.json).toBeDefined();
      expect(r.json.openapi).toMatch(/^3\./);
      expect(Object.keys(r.json.paths)).toEqual(
        expect.arrayContaining([
          "/v1/runs",
          "/v1/runs/{id}",
          "/v1/runs/{id}/events",
          "/v1/runs/{id}/callback",
          "/v1/batches",
          "/v1/batches/{id}",
          "/v1/problems/{id}",
          "/v1/problems/{id}/tests/{n}/{part}",
          "/v1/languages",
        ]),
      );
      expect(Object.keys(r.json.paths["/v1/problems/{id}"])).toEqual(expect.arrayContaining(["put", "get", "delete"]));
      expect(r.json.paths["/v1/runs"].post.responses).toHaveProperty("202");
      const req = r.json.components.schemas.RunRequest;
      expect(Object.keys(req.properties)).toEqual(
        expect.arrayContaining([
          "language",
          "source",
          "files",
          "stdin",
          "args",
          "limits",
          "compileLimits",
          "tests",
          "problem",
          "callbackUrl",
          "network",
        ]),
      );
      expect(req.properties.language.enum.sort()).toEqual(languages.map((l) => l.id).sort());
      expect(r.json.components.schemas).toHaveProperty("RunResult");
    });

    it("GET /docs is an HTML page", async () => {
      const r = await s.get("/docs");
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^text\/html/);
      expect(r.text).toMatch(/^<!doctype html>/i);
      expect(r.text).toContain("POST /v1/runs");
      expect(r.text).toContain("PUT /v1/problems/{id}");
    });

    it("an unknown route is a 404 JSON error", async () => {
      const r = await s.get("/v2/nothing");
      expect(r.status).toBe(404);
      expect(r.json.error).toMatch(/no route/);
    });
  });

  describe("verdicts", () => {
    it("ok", async () => {
      const r = await s.run({ language: "python", source: "print('hello')" });
      expect(r.verdict).toBe("ok");
      expect(r.run!.stdout).toBe("hello\n");
    });

    it("accepted (tests mode): every test passes; usage is the maximum over tests", async () => {
      const r = await s.run({
        language: "python",
        source: PY_SUM,
        tests: [
          { stdin: "1 2\n", expectedOutput: "3\n" },
          { stdin: "40 2\n", expectedOutput: "42" },
        ],
      });
      expect(r.verdict).toBe("accepted");
      expect(r.run).toBeNull();
      expect(r.tests!.map((t) => [t.verdict, t.stdout])).toEqual([
        ["accepted", "3\n"],
        ["accepted", "42\n"],
      ]);
      expect(r.usage!.cpuMs).toBe(Math.max(...r.tests!.map((t) => t.usage.cpuMs)));
    });

    it("wrong_answer (tests mode): the failing test is marked", async () => {
      const r = await s.run({
        language: "python",
        source: PY_SUM,
        tests: [
          { stdin: "1 2\n", expectedOutput: "3\n" },
          { stdin: "2 2\n", expectedOutput: "5\n" },
        ],
      });
      expect(r.verdict).toBe("wrong_answer");
      expect(r.tests!.map((t) => t.verdict)).toEqual(["accepted", "wrong_answer"]);
      expect(r.tests![1]!.stdout).toBe("4\n");
    });

    it("compile_error: C with a syntax error, gcc's message in compile.stderr", async () => {
      const r = await s.run({ language: "c", source: "int main(void) { return 0 }\n" });
      expect(r.verdict).toBe("compile_error");
      expect(r.compile!.verdict).toBe("compile_error");
      expect(r.compile!.exitCode).toBe(1);
      expect(r.compile!.stderr).toMatch(/main\.c:1:\d+: error: expected/);
      expect(r.run).toBeNull();
    });

    it("a compiled program that compiles: compile stage ok, then the run", async () => {
      const r = await s.run({
        language: "c",
        source: '#include <stdio.h>\nint main(void) { puts("compiled"); return 0; }\n',
      });
      expect(r.verdict).toBe("ok");
      expect(r.compile!.verdict).toBe("ok");
      expect(r.run!.stdout).toBe("compiled\n");
    });

    it("runtime_error: exit 3 gives exitCode 3", async () => {
      const r = await s.run({ language: "python", source: "import sys\nprint('before')\nsys.exit(3)\n" });
      expect(r.verdict).toBe("runtime_error");
      expect(r.run).toMatchObject({ verdict: "runtime_error", exitCode: 3, signal: null, stdout: "before\n" });
    });

    it("runtime_error: a signal gives exitCode null and the signal's number", async () => {
      const r = await s.run({ language: "python", source: "import os\nos.abort()\n" });
      expect(r.verdict).toBe("runtime_error");
      expect(r.run).toMatchObject({ exitCode: null, signal: 6 }); // SIGABRT
    });

    it("time_limit_exceeded: a CPU spin with cpuMs 500", async () => {
      const r = await s.run({ language: "python", source: "while True:\n    pass\n", limits: { cpuMs: 500 } });
      expect(r.verdict).toBe("time_limit_exceeded");
      expect(r.run!.usage.cpuMs).toBeGreaterThanOrEqual(450);
      expect(r.run!.usage.cpuMs).toBeLessThan(1500);
    });

    it("time_limit_exceeded: a sleep past wallMs 1000", async () => {
      const r = await s.run({ language: "python", source: "import time\ntime.sleep(30)\n", limits: { wallMs: 1000 } });
      expect(r.verdict).toBe("time_limit_exceeded");
      expect(r.run!.usage.wallMs).toBeGreaterThanOrEqual(950);
      expect(r.run!.usage.wallMs).toBeLessThan(4000);
    });

    it("memory_limit_exceeded: 512 MB with memoryMb 64", async () => {
      const r = await s.run({
        language: "python",
        source: "x = b'x' * (512 << 20)\nprint(len(x))\n",
        limits: { memoryMb: 64 },
      });
      expect(r.verdict).toBe("memory_limit_exceeded");
      expect(r.run!.stdout).toBe("");
      expect(r.run!.usage.memoryKb).toBeLessThanOrEqual(64 * 1024 + 1024);
    });

    it("output_limit_exceeded: printing forever with outputKb 16", async () => {
      const r = await s.run({
        language: "python",
        source: "while True:\n    print('x' * 99)\n",
        limits: { outputKb: 16 },
      });
      expect(r.verdict).toBe("output_limit_exceeded");
      expect(r.run!.stdoutTruncated).toBe(true);
      expect(r.run!.stdout.length).toBeLessThanOrEqual(16 * 1024);
      expect(r.run!.stdout.length).toBeGreaterThan(8 * 1024);
    });

    it("internal_error: a job the worker cannot read ends in internal_error with a message, counted; the worker goes on", async () => {
      // The API never queues a malformed job (see the bad-input tests), but
      // another producer on the same Redis (an older API version) could: the
      // worker must store internal_error rather than crash or retry forever.
      const before = await metrics(s);
      const q = new Queue(QUEUE, { connection: redisOptions(s.redisUrl) });
      const id = randomUUID();
      try {
        await q.add("run", { language: "python", source: "print(1)" }, { jobId: id, removeOnComplete: true });
      } finally {
        await q.close();
      }
      const r = await s.poll(id, 20_000);
      expect(r).toMatchObject({
        id,
        status: "completed",
        verdict: "internal_error",
        message: "malformed job",
        run: null,
      });
      const failures = (t: string) => sample(t, "ruse_sandbox_failures_total") ?? 0;
      const after = await metricsUntil(s, (t) => failures(t) > failures(before));
      expect(failures(after) - failures(before)).toBe(1);
      expect((await s.run({ language: "bash", source: "echo still" })).run!.stdout).toBe("still\n");
    });

    // A file and a path under it ("a" and "a/b") cannot both exist: the
    // request is refused, rather than failing in the sandbox as internal_error.
    it("files that collide as file and directory ('a', 'a/b') are rejected with 400, not run into internal_error", async () => {
      const body = {
        language: "bash",
        files: [
          { path: "main.sh", content: "cat a" },
          { path: "a", content: "x" },
          { path: "a/b", content: "y" },
        ],
      };
      const r = await s.post("/v1/runs?wait=true", body);
      expect(r.status, JSON.stringify(r.json)).toBe(400);
      expect(issuePaths(r).some((p) => p.startsWith("files"))).toBe(true);
    });
  });

  describe("bad input: 400 or 413 with a JSON error naming the field; nothing reaches a worker", () => {
    const ok = { language: "python", source: "print(1)" };
    let runsBefore = 0;
    beforeAll(async () => {
      await sleep(200);
      runsBefore = sample(await metrics(s), "ruse_run_duration_seconds_count") ?? 0;
    });

    const cases: [string, Record<string, unknown>, string][] = [
      ["unknown language", { ...ok, language: "brainfuck" }, "language"],
      ["missing language", { source: "print(1)" }, "language"],
      ["negative limit", { ...ok, limits: { cpuMs: -1 } }, "limits.cpuMs"],
      ["zero limit", { ...ok, limits: { memoryMb: 0 } }, "limits.memoryMb"],
      ["fractional limit", { ...ok, limits: { wallMs: 1.5 } }, "limits.wallMs"],
      ["limit of the wrong type", { ...ok, limits: { processes: "64" } }, "limits.processes"],
      ["limit above the maximum", { ...ok, limits: { memoryMb: 2049 } }, "limits.memoryMb"],
      ["compile limit above the maximum", { ...ok, compileLimits: { cpuMs: 60_001 } }, "compileLimits.cpuMs"],
      ["unknown limit", { ...ok, limits: { cpu: 1 } }, "limits"],
      ["unknown field type: a number for source", { ...ok, source: 42 }, "source"],
      ["both source and files", { ...ok, files: [{ path: "main.py", content: "print(1)" }] }, "source"],
      ["neither source nor files", { language: "python" }, "source"],
      ["file path ../x", { language: "python", files: [{ path: "../x", content: "" }] }, "files.0.path"],
      ["file path /etc/passwd", { language: "python", files: [{ path: "/etc/passwd", content: "" }] }, "files.0.path"],
      ["file path a/../../b", { language: "python", files: [{ path: "a/../../b", content: "" }] }, "files.0.path"],
      [
        "duplicate file paths",
        {
          language: "python",
          files: [
            { path: "m.py", content: "" },
            { path: "m.py", content: "" },
          ],
        },
        "files.1.path",
      ],
      [
        "bad base64",
        { language: "python", files: [{ path: "main.py", content: "cHJpbnQ@MSk=", encoding: "base64" }] },
        "files.0.content",
      ],
      [
        "unknown encoding",
        { language: "python", files: [{ path: "main.py", content: "", encoding: "hex" }] },
        "files.0.encoding",
      ],
      ["network when the server does not allow it", { ...ok, network: true }, "network"],
      [
        "too many tests (RUSE_MAX_TESTS=3)",
        { ...ok, tests: Array(4).fill({ stdin: "", expectedOutput: "1\n" }) },
        "tests",
      ],
      ["a test without expectedOutput", { ...ok, tests: [{ stdin: "" }] }, "tests.0.expectedOutput"],
    ];
    it.each(cases)("%s", async (_name, body, field) => {
      const r = await s.post("/v1/runs", body);
      expect(r.status, r.text).toBe(400);
      expect(r.headers.get("content-type")).toMatch(/application\/json/);
      expect(r.json.error).toBe("invalid request");
      expect(issuePaths(r)).toContain(field);
    });

    it("an unknown field is named in the error", async () => {
      const r = await s.post("/v1/runs", { ...ok, timeout: 5 });
      expect(r.status).toBe(400);
      expect(r.json.issues).toHaveLength(1);
      expect(r.json.issues[0].message).toContain("timeout");
    });

    it("invalid JSON is a 400 JSON error", async () => {
      const r = await s.request("POST", "/v1/runs", { raw: '{"language": "python", "source": ' });
      expect(r.status).toBe(400);
      expect(r.json.error).toMatch(/not valid JSON/);
    });

    it("a JSON body that starts with a byte-order mark is read as JSON", async () => {
      const r = await s.request("POST", "/v1/runs", { raw: `\uFEFF${JSON.stringify(ok)}` });
      expect(r.status).toBe(202);
      await s.poll(r.json.id);
      runsBefore += 1;
    });

    it("a body over RUSE_BODY_MAX_BYTES (64 KiB) is a 413 JSON error", async () => {
      const r = await s.post("/v1/runs", { ...ok, source: "#".repeat(70_000) });
      expect(r.status).toBe(413);
      expect(r.json.error).toMatch(/larger than 65536 bytes/);
      // just under the cap is accepted (the cap, not some other limit, refused it)
      const under = await s.post("/v1/runs", { ...ok, source: `#${"x".repeat(60_000)}\nprint(1)` });
      expect(under.status).toBe(202);
      await s.poll(under.json.id);
      runsBefore += 1;
    });

    it("a body sent in chunks, with no length given, is capped too", async () => {
      /** POSTs `body` in 8 KiB chunks (Transfer-Encoding: chunked, no Content-Length). */
      const chunked = (body: string) =>
        new Promise<{ status: number; json: any }>((resolve, reject) => {
          const req = httpRequest(
            `${s.base}/v1/runs`,
            { method: "POST", headers: { "content-type": "application/json" } },
            (res) => {
              let text = "";
              res.setEncoding("utf8").on("data", (d: string) => (text += d));
              res.on("end", () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
            },
          );
          req.on("error", reject);
          for (let i = 0; i < body.length; i += 8192) req.write(body.slice(i, i + 8192));
          req.end();
        });
      const over = await chunked(JSON.stringify({ ...ok, source: "#".repeat(70_000) }));
      expect(over.status).toBe(413);
      expect(over.json.error).toMatch(/larger than 65536 bytes/);
      const under = await chunked(JSON.stringify({ ...ok, source: `#${"x".repeat(60_000)}\nprint(1)` }));
      expect(under.status).toBe(202);
      await s.poll(under.json.id);
      runsBefore += 1;
    });

    it("a bad wait parameter is named", async () => {
      const r = await s.post("/v1/runs?wait=yes", ok);
      expect(r.status).toBe(400);
      expect(issuePaths(r)).toContain("wait");
    });

    it("none of the bad requests reached a worker", async () => {
      await sleep(300);
      const t = await metrics(s);
      expect(sample(t, "ruse_run_duration_seconds_count") ?? 0).toBe(runsBefore);
      expect(sample(t, "ruse_queue_jobs", { state: "waiting" })).toBe(0);
      expect(sample(t, "ruse_queue_jobs", { state: "active" })).toBe(0);
    });
  });

  it("auth off: works without an Authorization header, and says at start that it is loopback only", async () => {
    expect(s.cfg.apiKeys).toEqual([]);
    expect(s.apiMessages.join("\n")).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+ \(no API keys: loopback only\)/);
    expect(listeners(s.port)).toEqual(["127.0.0.1"]);
  });
});

// ---------------------------------------------------------------- auth

describe("auth on (RUSE_API_KEYS=k1,k2)", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "none", env: { RUSE_API_KEYS: "k1, k2" } });
  });
  afterAll(async () => {
    await s?.stop();
  });
  const body = { language: "bash", source: "echo 1" };

  it("a missing key is 401 JSON with WWW-Authenticate", async () => {
    const r = await s.post("/v1/runs", body);
    expect(r.status).toBe(401);
    expect(r.json.error).toMatch(/API key/);
    expect(r.headers.get("www-authenticate")).toBe("Bearer");
    expect((await s.get("/v1/languages")).status).toBe(401);
    expect((await s.get(`/v1/runs/${randomUUID()}`)).status).toBe(401);
  });

  it("a wrong key, or a right key in the wrong scheme, is 401", async () => {
    for (const h of ["Bearer k3", "Bearer k1x", "Bearer ", "Basic k1", "k1", "Bearer k1,k2"]) {
      const r = await s.post("/v1/runs", body, { authorization: h });
      expect(r.status, h).toBe(401);
      expect(r.json.error, h).toMatch(/API key/);
    }
  });

  it("either right key is 202, and reads its run back", async () => {
    for (const k of ["k1", "k2"]) {
      const r = await s.post("/v1/runs", body, { authorization: `Bearer ${k}` });
      expect(r.status, k).toBe(202);
      const g = await s.get(`/v1/runs/${r.json.id}`, { authorization: `Bearer ${k}` });
      expect(g.status).toBe(200);
      expect(g.json.status).toBe("queued");
    }
  });

  it("/healthz, /metrics, /openapi.json and /docs need no key", async () => {
    expect((await s.get("/healthz")).status).toBe(503); // no worker here
    for (const p of ["/metrics", "/openapi.json", "/docs"]) expect((await s.get(p)).status, p).toBe(200);
  });

  it("with keys, HOST is honoured (here 127.0.0.1) and start does not claim loopback-only", () => {
    expect(s.apiMessages.join("\n")).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+$/m);
    expect(s.apiMessages.join("\n")).not.toMatch(/loopback only/);
  });
});

describe("HOST=0.0.0.0", () => {
  it("without keys the API still binds to loopback only, and says so", async () => {
    const s = await startStack({ worker: "none", env: { HOST: "0.0.0.0" } });
    try {
      expect(s.apiMessages.join("\n")).toMatch(/no RUSE_API_KEYS set: binding to 127\.0\.0\.1 instead of 0\.0\.0\.0/);
      expect(listeners(s.port)).toEqual(["127.0.0.1"]);
      expect((await s.get("/healthz")).status).toBe(503);
    } finally {
      await s.stop();
    }
  });

  it("with keys it binds where asked (the check above can tell the difference)", async () => {
    const s = await startStack({ worker: "none", env: { HOST: "0.0.0.0", RUSE_API_KEYS: "k1" } });
    try {
      expect(listeners(s.port)).toEqual(["0.0.0.0"]);
    } finally {
      await s.stop();
    }
  });
});

// ---------------------------------------------------------------- back-pressure and rate limit

describe("back-pressure: RUSE_MAX_QUEUE=2, no worker running", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "none", env: { RUSE_MAX_QUEUE: "2", RUSE_CONCURRENCY: "1" } });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("/healthz is 503 without a worker", async () => {
    const r = await s.get("/healthz");
    expect(r.status).toBe(503);
    expect(r.json).toMatchObject({ ok: false, redis: true, workers: 0 });
  });

  it("the third POST gets 429 with Retry-After; once a worker drains the queue, POST works again", {
    timeout: 60_000,
  }, async () => {
    const body = { language: "bash", source: "echo queued" };
    const a = await s.post("/v1/runs", body);
    const b = await s.post("/v1/runs", body);
    expect([a.status, b.status]).toEqual([202, 202]);
    const c = await s.post("/v1/runs", body);
    expect(c.status).toBe(429);
    expect(Number(c.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(c.json.error).toMatch(/queue is full/);
    expect(sample(await metrics(s), "ruse_queue_jobs", { state: "waiting" })).toBe(2);

    await s.startInProcessWorker();
    expect((await s.get("/healthz")).status).toBe(200);
    for (const id of [a.json.id, b.json.id]) expect((await s.poll(id, 30_000)).run!.stdout).toBe("queued\n");
    const d = await s.post("/v1/runs?wait=true", body);
    expect(d.status).toBe(200);
  });
});

describe("rate limit: RUSE_RATE_LIMIT=3 per key", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "none", env: { RUSE_RATE_LIMIT: "3", RUSE_API_KEYS: "k1,k2" } });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("a burst gets 429 with Retry-After; another key and the next second are not refused", async () => {
    const k1 = { authorization: "Bearer k1" };
    const burst = await Promise.all([
      ...Array.from({ length: 6 }, () => s.get("/v1/languages", k1)),
      ...Array.from({ length: 6 }, () => s.post("/v1/runs", { language: "bash", source: "true" }, k1)),
    ]);
    const refused = burst.filter((r) => r.status === 429);
    const passed = burst.filter((r) => r.status !== 429);
    // At most 3 per second: a burst shorter than a second spans at most two.
    expect(passed.length).toBeGreaterThanOrEqual(3);
    expect(passed.length).toBeLessThanOrEqual(6);
    for (const r of passed) expect([200, 202]).toContain(r.status);
    expect(refused.length).toBe(12 - passed.length);
    for (const r of refused) {
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(r.json.error).toMatch(/rate limit/);
    }
    expect((await s.get("/v1/languages", { authorization: "Bearer k2" })).status).toBe(200);
    await sleep(1100 * Number(refused[0]!.headers.get("retry-after")));
    expect((await s.get("/v1/languages", k1)).status).toBe(200);
  });

  it("names its counters by a hash of the key: Redis never holds a key", async () => {
    const key = "k2";
    expect((await s.get("/v1/languages", { authorization: `Bearer ${key}` })).status).toBe(200);
    const counters = await s.redis.keys("ruse:rate:*");
    expect(counters.length).toBeGreaterThan(0);
    const hashed = createHash("sha256").update(key).digest("base64url");
    expect(counters.some((k) => k.startsWith(`ruse:rate:key:${hashed}:`))).toBe(true);
    for (const k of counters) expect(k.split(":")).not.toContain(key);
  });
});

// ---------------------------------------------------------------- result expiry and the wait limit

describe("RUSE_RESULT_TTL=2, RUSE_WAIT_MAX_MS=1000", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      worker: "inprocess",
      env: { RUSE_RESULT_TTL: "2", RUSE_WAIT_MAX_MS: "1000", RUSE_CONCURRENCY: "1" },
    });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("a completed result is there, then gone (404) after its TTL", async () => {
    const r = await s.post("/v1/runs?wait=true", { language: "bash", source: "echo ttl" });
    expect(r.status).toBe(200);
    const id = r.json.id;
    const now = await s.get(`/v1/runs/${id}`);
    expect(now.status).toBe(200);
    expect(now.json.run.stdout).toBe("ttl\n");
    await sleep(1000);
    expect((await s.get(`/v1/runs/${id}`)).status).toBe(200); // not gone early
    await sleep(2200);
    const later = await s.get(`/v1/runs/${id}`);
    expect(later.status).toBe(404);
    expect(later.json.error).toMatch(/expired/);
  });

  it("wait=true past RUSE_WAIT_MAX_MS answers 202 queued, and the run completes", async () => {
    const t0 = Date.now();
    const r = await s.post("/v1/runs?wait=true", { language: "bash", source: "sleep 2.5; echo late" });
    expect(r.status).toBe(202);
    expect(r.json.status).toBe("queued");
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(2400);
    const done = await s.poll(r.json.id, 20_000);
    expect(done.run!.stdout).toBe("late\n");
  });
});

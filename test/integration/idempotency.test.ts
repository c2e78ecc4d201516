// Idempotency-Key on POST /v1/runs, POST /v1/batches, Piston's execute and
// Judge0's submissions (core/idempotency.ts): one run (or batch) per key,
// however many requests carry it, on however many API processes, even when
// the process that took the first request is killed before it answers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IDEMPOTENCY_KEY, QUEUE } from "../../core/store.js";
import { startStack, type Reply, type Stack, waitFor } from "../helpers/service.js";

/**
 * Runs that workers finished (each try counts): the cluster's counter, read
 * through /metrics once the queue holds no job waiting or running, so that
 * a second run, had one been queued, has finished and is counted.
 */
async function runsDone(s: Stack): Promise<number> {
  const metrics = await waitFor("the queue to be idle", async () => {
    const text = (await s.get("/metrics")).text;
    const busy = [...text.matchAll(/^ruse_queue_jobs\{state="(waiting|active|delayed|prioritized)"\} (\d+)$/gm)];
    return busy.every((m) => m[2] === "0") && text;
  });
  return Number(/^ruse_run_duration_seconds_count (\d+)$/m.exec(metrics)![1]);
}

/** POST a body with an Idempotency-Key to `url` (on the stack's API or another process's). */
async function postKeyed(url: string, body: unknown, key: string): Promise<Reply> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: JSON.parse(text) };
}

const postRun = (base: string, body: unknown, key: string, wait = false) =>
  postKeyed(`${base}/v1/runs${wait ? "?wait=true" : ""}`, body, key);
const postBatch = (base: string, body: unknown, key: string) => postKeyed(`${base}/v1/batches`, body, key);

describe("Idempotency-Key", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "inprocess" });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("refuses a malformed key with 422 naming the header, and queues nothing", async () => {
    const before = await s.redis.dbsize();
    for (const key of ["", "a b", "a/b", "é", "x".repeat(256)]) {
      const r = await postRun(s.base, { language: "bash", source: "true" }, key);
      expect(r.status, key).toBe(422);
      expect(r.json.issues[0].path).toBe("Idempotency-Key");
    }
    expect(await s.redis.dbsize()).toBe(before);
    // The longest and every allowed character are fine.
    const ok = await postRun(s.base, { language: "bash", source: "true" }, `aZ09._:-${"k".repeat(247)}`);
    expect(ok.status).toBe(202);
  });

  it("concurrent requests with one key, on two API processes, make one run; its retries answer that run", {
    timeout: 90_000,
  }, async () => {
    const other = await s.startApiProcess();
    const done = await runsDone(s);
    const body = { language: "bash", source: "sleep 1; echo $RANDOM" };
    const key = "concurrent-1";
    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, i) => postRun(i % 2 ? other.base : s.base, body, key, i % 4 < 2)),
    );
    const ids = new Set(replies.map((r) => r.json.id));
    expect(ids.size).toBe(1);
    const [id] = ids;
    for (const r of replies) expect([200, 202]).toContain(r.status);
    // The ones that waited got the one result; its output (a random number) says it is one run's.
    const results = replies.filter((r) => r.status === 200);
    expect(results.length).toBeGreaterThan(0);
    expect(new Set(results.map((r) => r.text)).size).toBe(1);
    const result = await s.poll(id!);
    expect(result.verdict).toBe("ok");

    // After it completed: the same answer, asynchronously ({id}) and waited for (its result), from either process.
    const again = await postRun(other.base, body, key, true);
    expect(again.status).toBe(200);
    expect(again.json).toEqual(result);
    const async = await postRun(s.base, body, key);
    expect(async.status).toBe(202);
    expect(async.json).toEqual({ id, status: "queued" });
    // The same request with its fields in another order is the same body.
    const reordered = await postRun(s.base, { source: body.source, language: "bash" }, key, true);
    expect(reordered.json).toEqual(result);
    // No job was made again for the retries (the completed one's is removed), and no second run ran.
    expect(await s.redis.exists(`bull:${QUEUE}:${id}`)).toBe(0);
    expect(await runsDone(s)).toBe(done + 1);
    expect(await s.redis.ttl(IDEMPOTENCY_KEY("global", key))).toBeGreaterThan(s.cfg.resultTtlSeconds - 60);
  });

  it("the same key with another body is a 422 naming the header; another key is another run", async () => {
    const first = await postRun(s.base, { language: "bash", source: "echo one" }, "reused", true);
    expect(first.status).toBe(200);
    const other = await postRun(s.base, { language: "bash", source: "echo two" }, "reused", true);
    expect(other.status).toBe(422);
    expect(other.json.issues).toEqual([{ path: "Idempotency-Key", message: expect.stringContaining("different") }]);
    const fresh = await postRun(s.base, { language: "bash", source: "echo two" }, "fresh", true);
    expect(fresh.status).toBe(200);
    expect(fresh.json.id).not.toBe(first.json.id);
    expect(fresh.json.run.stdout).toBe("two\n");
  });

  it("an API process killed while a request waits: the retry on another process gets the one run's result", {
    timeout: 90_000,
  }, async () => {
    const doomed = await s.startApiProcess();
    const done = await runsDone(s);
    const body = { language: "bash", source: "sleep 2; echo survived $RANDOM" };
    const key = "killed-api";
    const pending = postRun(doomed.base, body, key, true).then(
      (r) => r,
      (e: Error) => e,
    );
    // Killed once its run is queued and running, before it can answer.
    const id = await waitFor(
      "the run to be claimed",
      async () => (await s.redis.get(IDEMPOTENCY_KEY("global", key)))?.split(" ")[1],
    );
    await waitFor("the run to start", async () => (await s.get(`/v1/runs/${id}`)).json.status === "running");
    doomed.child.kill("SIGKILL");
    expect(await pending).toBeInstanceOf(Error);

    const retry = await postRun(s.base, body, key, true);
    expect(retry.status).toBe(200);
    expect(retry.json.id).toBe(id);
    expect(retry.json.run.stdout).toMatch(/^survived \d+\n$/);
    expect(await runsDone(s)).toBe(done + 1);
  });

  it("a claim whose process died before queueing its run: the retry queues it, once", async () => {
    // What a process killed between its claim (SET NX) and its add leaves: a key with no job.
    const body = { language: "bash", source: "echo orphan" };
    const claimedId = "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d";
    const first = await postRun(s.base, body, "orphan-probe");
    const hash = (await s.redis.get(IDEMPOTENCY_KEY("global", "orphan-probe")))!.split(" ")[0];
    await s.redis.set(IDEMPOTENCY_KEY("global", "orphan"), `${hash} ${claimedId}`, "EX", 600);
    await s.poll(first.json.id);
    const done = await runsDone(s);
    const retries = await Promise.all([1, 2, 3].map(() => postRun(s.base, body, "orphan", true)));
    for (const r of retries) {
      expect(r.status).toBe(200);
      expect(r.json.id).toBe(claimedId);
      expect(r.json.run.stdout).toBe("orphan\n");
    }
    expect(await runsDone(s)).toBe(done + 1);
  });
});

describe("Idempotency-Key with API keys", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "inprocess", env: { RUSE_API_KEYS: "alice,bob" } });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("is the caller's: the same key under two API keys is two runs", async () => {
    const body = { language: "bash", source: "echo $RANDOM" };
    const as = (who: string) =>
      s.request("POST", "/v1/runs?wait=true", {
        body,
        headers: { authorization: `Bearer ${who}`, "idempotency-key": "shared" },
      });
    const [a1, b1] = await Promise.all([as("alice"), as("bob")]);
    const a2 = await as("alice");
    expect(a1.status).toBe(200);
    expect(b1.status).toBe(200);
    expect(a1.json.id).not.toBe(b1.json.id);
    expect(a2.json).toEqual(a1.json);
  });

  it("Piston's execute and Judge0's submissions take it too, with their own keys' headers", async () => {
    const done = await runsDone(s);
    const piston = () =>
      s.request("POST", "/piston/api/v2/execute", {
        body: { language: "bash", version: "*", files: [{ content: "echo $RANDOM" }] },
        headers: { authorization: "Bearer alice", "idempotency-key": "p1" },
      });
    const [p1, p2] = [await piston(), await piston()];
    expect(p1.status).toBe(200);
    expect(p2.headers.get("x-run-id")).toBe(p1.headers.get("x-run-id"));
    expect(p2.json.run.stdout).toBe(p1.json.run.stdout);
    const judge0 = (source: string) =>
      s.request("POST", "/judge0/submissions?wait=true", {
        body: { language_id: 46, source_code: source },
        headers: { "x-auth-token": "bob", "idempotency-key": "j1" },
      });
    const [j1, j2] = [await judge0("echo $RANDOM"), await judge0("echo $RANDOM")];
    expect(j2.json.token).toBe(j1.json.token);
    expect(j2.json.stdout).toBe(j1.json.stdout);
    const other = await judge0("echo other");
    expect({ status: other.status, fields: Object.keys(other.json) }).toEqual({
      status: 422,
      fields: ["Idempotency-Key"],
    });
    const batch = () =>
      s.request("POST", "/judge0/submissions/batch", {
        body: {
          submissions: [
            { language_id: 46, source_code: "echo a" },
            { language_id: 46, source_code: "echo b" },
          ],
        },
        headers: { "x-auth-token": "bob", "idempotency-key": "j2" },
      });
    const [b1, b2] = [await batch(), await batch()];
    expect(b1.status).toBe(201);
    expect(b2.json).toEqual(b1.json);
    for (const { token } of b1.json)
      await waitFor(`run ${token}`, async () => {
        const r = await s.request("GET", `/v1/runs/${token}`, { headers: { authorization: "Bearer bob" } });
        return r.json.status === "completed";
      });
    expect(await runsDone(s)).toBe(done + 4);
  });
});

describe("Idempotency-Key on batches", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "inprocess" });
  });
  afterAll(async () => {
    await s?.stop();
  });

  const batchOf = (...sources: string[]) => ({ runs: sources.map((source) => ({ language: "bash", source })) });
  /** A batch's runs' results, once all completed. */
  const completed = async (id: string) =>
    waitFor(
      `batch ${id} to complete`,
      async () => {
        const b = (await s.get(`/v1/batches/${id}`)).json;
        return b.completed === b.total && (b.runs as { run: { stdout: string } }[]);
      },
      60_000,
      200,
    );

  it("refuses a malformed key with 422 naming the header, and queues nothing", async () => {
    const before = await s.redis.dbsize();
    for (const key of ["", "a b", "x".repeat(256)]) {
      const r = await postBatch(s.base, batchOf("true"), key);
      expect(r.status, key).toBe(422);
      expect(r.json.issues).toEqual([{ path: "Idempotency-Key", message: expect.any(String) }]);
    }
    expect(await s.redis.dbsize()).toBe(before);
  });

  it("concurrent requests with one key, on two API processes, make one batch whose runs run once; a retry after answers it", {
    timeout: 90_000,
  }, async () => {
    const other = await s.startApiProcess();
    const done = await runsDone(s);
    const body = batchOf("sleep 1; echo $RANDOM", "echo $RANDOM", "echo $RANDOM");
    const key = "batch-concurrent";
    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, i) => postBatch(i % 2 ? other.base : s.base, body, key)),
    );
    for (const r of replies) expect(r.status).toBe(202);
    expect(new Set(replies.map((r) => r.text)).size).toBe(1);
    const { id, runs } = replies[0]!.json as { id: string; runs: string[] };
    expect(new Set(runs).size).toBe(3);
    const results = await completed(id);
    expect(results.map((r) => r.run.stdout)).toEqual([
      expect.stringMatching(/^\d+\n$/),
      expect.stringMatching(/^\d+\n$/),
      expect.stringMatching(/^\d+\n$/),
    ]);

    // After it completed: the same answer from either process, and its results unchanged (no run ran again).
    const again = await postBatch(other.base, body, key);
    expect({ status: again.status, json: again.json }).toEqual({ status: 202, json: { id, runs } });
    const reordered = await postBatch(
      s.base,
      { runs: body.runs.map((r) => ({ source: r.source, language: "bash" })) },
      key,
    );
    expect(reordered.json).toEqual({ id, runs });
    for (const run of runs) expect(await s.redis.exists(`bull:${QUEUE}:${run}`)).toBe(0);
    expect(await runsDone(s)).toBe(done + 3);
    expect(await completed(id)).toEqual(results);
  });

  it("the same key with another body, or a run's key, is a 422 naming the header", async () => {
    const first = await postBatch(s.base, batchOf("echo one"), "batch-reused");
    expect(first.status).toBe(202);
    const other = await postBatch(s.base, batchOf("echo two"), "batch-reused");
    expect(other.status).toBe(422);
    expect(other.json.issues).toEqual([{ path: "Idempotency-Key", message: expect.stringContaining("different") }]);
    // A run's body under a batch's key is another request, even were the bodies alike.
    const run = await postRun(s.base, { language: "bash", source: "echo one" }, "batch-reused");
    expect(run.status).toBe(422);
    await completed(first.json.id);
  });

  it("a claim whose process died before queueing its batch: the retries queue it, once", async () => {
    // What a process killed between its claim (SET NX) and its add leaves: a key, no batch, no jobs.
    const body = batchOf("echo orphan 0", "echo orphan 1");
    const claimedId = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
    const probe = await postBatch(s.base, body, "batch-orphan-probe");
    const hash = (await s.redis.get(IDEMPOTENCY_KEY("global", "batch-orphan-probe")))!.split(" ")[0];
    await s.redis.set(IDEMPOTENCY_KEY("global", "batch-orphan"), `${hash} ${claimedId}`, "EX", 600);
    await completed(probe.json.id);
    const done = await runsDone(s);
    const retries = await Promise.all([1, 2, 3].map(() => postBatch(s.base, body, "batch-orphan")));
    for (const r of retries) {
      expect(r.status).toBe(202);
      expect(r.json).toEqual(retries[0]!.json);
    }
    expect(retries[0]!.json.id).toBe(claimedId);
    expect((await completed(claimedId)).map((r) => r.run.stdout)).toEqual(["orphan 0\n", "orphan 1\n"]);
    const batch = () =>
      s.request("POST", "/judge0/submissions/batch", {
        body: {
          submissions: [
            { language_id: 46, source_code: "echo a" },
            { language_id: 46, source_code: "echo b" },
          ],
        },
        headers: { "x-auth-token": "bob", "idempotency-key": "j2" },
      });
    const [b1, b2] = [await batch(), await batch()];
    expect(b1.status).toBe(201);
    expect(b2.json).toEqual(b1.json);
    for (const { token } of b1.json)
      await waitFor(`run ${token}`, async () => {
        const r = await s.request("GET", `/v1/runs/${token}`, { headers: { authorization: "Bearer bob" } });
        return r.json.status === "completed";
      });
    expect(await runsDone(s)).toBe(done + 4);
  });
});

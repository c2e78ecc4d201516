// Problems stored once, through HTTP: PUT, GET and DELETE with versions,
// runs that name a problem instead of sending its tests (judged by
// comparison and by a checker without answers), test data stored once
// however many problems hold it, the store's budget and the body cap.
import { createHash } from "node:crypto";
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunResult } from "../../core/schemas.js";
import { startStack, type Stack } from "../helpers/service.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const aPlusB = {
  tests: [
    { stdin: "1 2\n", expectedOutput: "3\n" },
    { stdin: "40 2\n", expectedOutput: "42\n" },
    { stdin: "-5 5\n", expectedOutput: "0\n" },
  ],
};
const right = "a, b = map(int, input().split())\nprint(a + b)\n";
const wrong = "a, b = map(int, input().split())\nprint(abs(a) + b)\n"; // wrong on the negative one

describe("problems: stored once, named by runs", () => {
  let s: Stack;
  const put = (id: string, body: unknown) => s.request("PUT", `/v1/problems/${id}`, { body });
  const del = (id: string) => s.request("DELETE", `/v1/problems/${id}`);
  const runAgainst = (problem: string, source: string) =>
    s.post("/v1/runs?wait=true", { language: "python", source, problem });
  const blobBytes = async () => Number((await s.redis.get("ruse:blob-bytes")) ?? 0);

  beforeAll(async () => {
    s = await startStack({ worker: "inprocess" });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("PUT stores a problem and answers its version; GET lists its tests by size and hash; each PUT is a new version", async () => {
    const first = await put("a-plus-b", aPlusB);
    expect(first.status).toBe(200);
    expect(first.json.version).toBeGreaterThan(0);
    const g = await s.get("/v1/problems/a-plus-b");
    expect(g.status).toBe(200);
    expect(g.json).toMatchObject({ id: "a-plus-b", version: first.json.version, compare: "lines" });
    expect(g.json.tests).toEqual(
      aPlusB.tests.map((t) => ({
        inputBytes: t.stdin.length,
        inputSha256: sha(t.stdin),
        answerBytes: t.expectedOutput.length,
        answerSha256: sha(t.expectedOutput),
      })),
    );
    const again = await put("a-plus-b", aPlusB);
    expect(again.json.version).toBe(first.json.version + 1);
  });

  it("a run names the problem: judged on its tests, the result names the version", async () => {
    const { version } = (await s.get("/v1/problems/a-plus-b")).json;
    const ok = await runAgainst("a-plus-b", right);
    expect(ok.status).toBe(200);
    const r = ok.json as RunResult;
    expect(r.verdict).toBe("accepted");
    expect(r.tests?.map((t) => [t.verdict, t.stdout])).toEqual([
      ["accepted", "3\n"],
      ["accepted", "42\n"],
      ["accepted", "0\n"],
    ]);
    expect(r.problem).toEqual({ id: "a-plus-b", version });
    const bad = (await runAgainst("a-plus-b", wrong)).json as RunResult;
    expect(bad.verdict).toBe("wrong_answer");
    expect(bad.tests?.map((t) => t.verdict)).toEqual(["accepted", "accepted", "wrong_answer"]);
  });

  it("a run is judged by the problem's own limits, under its own where it gives them", async () => {
    await put("slow", { tests: [{ stdin: "", expectedOutput: "done\n" }], limits: { cpuMs: 300 } });
    const spin = "while True: pass\n";
    const r = (await runAgainst("slow", spin)).json as RunResult;
    expect(r.verdict).toBe("time_limit_exceeded");
    expect(r.tests![0]!.usage.cpuMs).toBeGreaterThanOrEqual(300);
    expect(r.tests![0]!.usage.cpuMs).toBeLessThan(1000); // not the default 2000 ms
    const own = await s.post("/v1/runs?wait=true", {
      language: "python",
      source: "print('done')\n",
      problem: "slow",
      limits: { cpuMs: 1500 },
    });
    expect((own.json as RunResult).verdict).toBe("accepted");
  });

  it("a checker judges tests that have no answer", async () => {
    // The output must be twice the input: no answer is needed to know.
    const checker = {
      language: "python",
      source:
        "import sys\nn = int(open(sys.argv[1]).read())\nsys.exit(0 if int(open(sys.argv[2]).read()) == 2 * n else 1)\n",
    };
    const p = await put("double", { tests: [{ stdin: "4\n" }, { stdin: "21\n" }], checker });
    expect(p.status).toBe(200);
    expect(p.json.checker).toEqual({ language: "python" });
    expect(p.json.tests.every((t: object) => !("answerSha256" in t))).toBe(true);
    const ok = (await runAgainst("double", "print(2 * int(input()))\n")).json as RunResult;
    expect(ok.tests?.map((t) => t.verdict)).toEqual(["accepted", "accepted"]);
    const off = (await runAgainst("double", "print(2 * int(input()) + 1)\n")).json as RunResult;
    expect(off.verdict).toBe("wrong_answer");
  });

  it("an interactor judges tests that have no answer, inline or stored", async () => {
    // Guess the number the test's input holds; the interactor answers higher, lower or correct.
    const interactor = {
      language: "python",
      source:
        "import sys\nn = int(open(sys.argv[1]).read())\nfor q in range(20):\n    g = int(sys.stdin.readline())\n" +
        "    if g == n:\n        print('correct', flush=True); sys.exit(0)\n" +
        "    print('higher' if g < n else 'lower', flush=True)\nsys.exit(1)\n",
    };
    const bisect =
      "lo, hi = 1, 1000\nwhile True:\n    m = (lo + hi) // 2\n    print(m, flush=True)\n    r = input()\n" +
      "    if r == 'correct': break\n    if r == 'higher': lo = m + 1\n    else: hi = m - 1\n";
    const tests = [{ stdin: "1" }, { stdin: "777" }];
    const inline = await s.post("/v1/runs?wait=true", { language: "python", source: bisect, tests, interactor });
    expect(inline.status).toBe(200);
    expect((inline.json as RunResult).tests?.map((t) => t.verdict)).toEqual(["accepted", "accepted"]);
    expect((await put("guess", { tests, interactor })).json.interactor).toEqual({ language: "python" });
    const stored = (await runAgainst("guess", bisect)).json as RunResult;
    expect(stored.tests?.map((t) => t.verdict)).toEqual(["accepted", "accepted"]);
    const guessOne = (await runAgainst("guess", "print(500, flush=True)\ninput()\n")).json as RunResult;
    expect(guessOne.verdict).toBe("wrong_answer");
    await del("guess");
  });

  it("refuses what it cannot judge, naming the field", async () => {
    const noAnswer = await put("x", { tests: [{ stdin: "1\n" }] });
    expect(noAnswer.status).toBe(400);
    expect(noAnswer.json.issues).toEqual([expect.objectContaining({ path: "tests.0.expectedOutput" })]);
    expect((await put("no spaces", aPlusB)).status).toBe(400);
    expect((await put("x", { tests: [] })).json.issues[0].path).toBe("tests");
    const both = await s.post("/v1/runs", {
      language: "python",
      source: right,
      problem: "a-plus-b",
      tests: aPlusB.tests,
    });
    expect(both.status).toBe(400);
    expect(both.json.issues).toEqual([expect.objectContaining({ path: "tests" })]);
    const unknown = await s.post("/v1/runs", { language: "python", source: right, problem: "nope" });
    expect(unknown.status).toBe(400);
    expect(unknown.json.issues).toEqual([{ path: "problem", message: 'no problem "nope"' }]);
    expect((await s.get("/v1/problems/nope")).status).toBe(404);
    expect((await del("nope")).status).toBe(404);
  });

  it("takes a 64 MiB test input as a streamed upload, and judges a run on it", { timeout: 120_000 }, async () => {
    const MiB = 1 << 20;
    const size = 64 * MiB;
    const p = await put("big-input", { tests: [{ stdin: "placeholder", expectedOutput: `${size} ${size / 4}\n` }] });
    // 1 MiB chunks of "abcd": the program counts the bytes and the blocks it read.
    const chunk = Buffer.alloc(MiB, "abcd");
    const uploaded = await new Promise<{ status: number; json: any }>((resolve, reject) => {
      const req = httpRequest(
        `${s.base}/v1/problems/big-input/tests/0/input`,
        { method: "PUT", headers: { "content-type": "application/octet-stream" } },
        (res) => {
          let body = "";
          res.on("data", (d) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode!, json: JSON.parse(body) }));
        },
      );
      req.on("error", reject);
      let sent = 0;
      const more = () => {
        while (sent < size) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once("drain", more);
        }
        req.end();
      };
      more();
    });
    expect(uploaded.status).toBe(200);
    expect(uploaded.json.version).toBe(p.json.version + 1);
    const whole = createHash("sha256");
    for (let i = 0; i < 64; i++) whole.update(chunk);
    expect(uploaded.json.tests[0]).toMatchObject({ inputBytes: size, inputSha256: whole.digest("hex") });
    const count = "import sys\nd = sys.stdin.buffer.read()\nprint(len(d), d.count(b'abcd'))\n";
    const r = (await runAgainst("big-input", count)).json as RunResult;
    expect(r.tests?.map((t) => [t.verdict, t.stdout])).toEqual([["accepted", `${size} ${size / 4}\n`]]);
    expect(await s.redis.keys("ruse:upload:*")).toEqual([]);
    // The placeholder input is gone with the version that held it.
    expect(await s.redis.exists(`ruse:blob:${sha("placeholder")}`)).toBe(0);
    expect(
      (
        await s.request("PUT", "/v1/problems/big-input/tests/1/input", {
          raw: "x",
          headers: { "content-type": "application/octet-stream" },
        })
      ).status,
    ).toBe(404);
    expect(
      (
        await s.request("PUT", "/v1/problems/nope/tests/0/answer", {
          raw: "x",
          headers: { "content-type": "application/octet-stream" },
        })
      ).status,
    ).toBe(404);
    await del("big-input");
  });

  it("keeps each distinct input or answer once, however many problems hold it, and drops it with the last", async () => {
    await Promise.all(["a-plus-b", "slow", "double"].map(del));
    expect(await blobBytes()).toBe(0);
    const data = aPlusB.tests.flatMap((t) => [t.stdin, t.expectedOutput]);
    const distinct = new Set(data);
    const bytes = [...distinct].reduce((n, d) => n + d.length, 0);
    const one = await put("one", aPlusB);
    expect(one.status).toBe(200);
    expect(await blobBytes()).toBe(bytes);
    expect((await put("two", aPlusB)).status).toBe(200);
    expect(await blobBytes()).toBe(bytes); // shared, not copied
    expect((await del("one")).json).toEqual({ id: "one", deleted: true });
    expect(await blobBytes()).toBe(bytes); // "two" still holds them
    expect((await runAgainst("two", right)).json.verdict).toBe("accepted");
    // A new version that drops a test releases its data.
    await put("two", { tests: aPlusB.tests.slice(0, 1) });
    expect(await blobBytes()).toBe("1 2\n3\n".length);
    await del("two");
    expect(await blobBytes()).toBe(0);
    expect(await s.redis.keys("ruse:blob:*")).toEqual([]);
    expect((await s.get("/v1/problems/two")).status).toBe(404);
    const gone = await s.post("/v1/runs", { language: "python", source: right, problem: "two" });
    expect(gone.json.issues).toEqual([{ path: "problem", message: 'no problem "two"' }]);
    // A version never comes back: a problem stored again after a DELETE goes on from the last one.
    expect((await put("one", aPlusB)).json.version).toBe(one.json.version + 1);
  });
});

describe("problems: on two worker processes", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "none", env: { RUSE_CONCURRENCY: "1" } });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("each worker compiles the problem's checker once, however many runs it judges", async () => {
    const workers = [await s.startWorkerProcess(), await s.startWorkerProcess()];
    const checker = {
      language: "c",
      source:
        '#include <stdio.h>\nint main(int c, char **v) { long n, m; FILE *i = fopen(v[1], "r"), *o = fopen(v[2], "r");\n' +
        '  return fscanf(i, "%ld", &n) == 1 && fscanf(o, "%ld", &m) == 1 && m == 2 * n ? 0 : 1; }\n',
    };
    const p = await s.request("PUT", "/v1/problems/double-c", {
      body: { tests: [{ stdin: "4\n" }, { stdin: "21\n" }], checker },
    });
    expect(p.status).toBe(200);
    const ids = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const source = i % 2 ? "print(2 * int(input()))\n" : "print(2 * int(input()) + 1)\n";
        return (await s.post("/v1/runs", { language: "python", source, problem: "double-c" })).json.id as string;
      }),
    );
    const results = await Promise.all(ids.map((id) => s.poll(id, 120_000)));
    expect(results.map((r) => r.verdict)).toEqual(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? "accepted" : "wrong_answer")),
    );
    const compiles = workers.map((w) => w.output().match(/compiling a checker or interactor/g)?.length ?? 0);
    for (const n of compiles) expect(n).toBeLessThanOrEqual(1);
    expect(compiles.reduce((a, b) => a + b)).toBeGreaterThanOrEqual(1);
  });
});

describe("problems: the store's budget and the body cap", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      worker: "none",
      env: {
        RUSE_PROBLEM_STORE_MAX_BYTES: "1000",
        RUSE_PROBLEM_BODY_MAX_BYTES: "5000",
        RUSE_PROBLEM_INPUT_MAX_BYTES: "1500",
      },
    });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("refuses a problem past the budget with 507, and stores nothing of it", async () => {
    const big = { tests: [{ stdin: "x".repeat(600), expectedOutput: "y".repeat(600) }] };
    const r = await s.request("PUT", "/v1/problems/big", { body: big });
    expect(r.status).toBe(507);
    expect(r.json.error).toMatch(/1200 bytes of test data, over its budget of 1000 \(RUSE_PROBLEM_STORE_MAX_BYTES\)/);
    expect((await s.get("/v1/problems/big")).status).toBe(404);
    expect(await s.redis.keys("ruse:blob:*")).toEqual([]);
    // Replacing a problem counts what the new version frees.
    const half = (c: string) => ({ tests: [{ stdin: c.repeat(450), expectedOutput: "" }] });
    expect((await s.request("PUT", "/v1/problems/p", { body: half("a") })).status).toBe(200);
    expect((await s.request("PUT", "/v1/problems/p", { body: half("b") })).status).toBe(200);
    expect((await s.request("PUT", "/v1/problems/q", { body: half("c") })).status).toBe(200);
    expect((await s.request("PUT", "/v1/problems/r", { body: half("d") })).status).toBe(507);
  });

  it("refuses an upload past RUSE_PROBLEM_INPUT_MAX_BYTES (413) or the budget (507), keeping the test as it was", async () => {
    const raw = (text: string) => ({ raw: text, headers: { "content-type": "application/octet-stream" } });
    const before = (await s.get("/v1/problems/p")).json;
    const big = await s.request("PUT", "/v1/problems/p/tests/0/input", raw("x".repeat(1600)));
    expect(big.status).toBe(413);
    expect(big.json.error).toMatch(/larger than 1500 bytes \(RUSE_PROBLEM_INPUT_MAX_BYTES\)/);
    // p and q hold 900 of the 1000 bytes; 450 new ones for q's test do not fit beside p's.
    const full = await s.request("PUT", "/v1/problems/q/tests/0/input", raw("e".repeat(551)));
    expect(full.status).toBe(507);
    expect((await s.get("/v1/problems/p")).json).toEqual(before);
    expect(await s.redis.keys("ruse:upload:*")).toEqual([]);
    const fits = await s.request("PUT", "/v1/problems/q/tests/0/input", raw("f".repeat(500)));
    expect(fits.status).toBe(200); // q's old 450 bytes go as the new 500 come
    expect(fits.json.tests[0].inputBytes).toBe(500);
  });

  it("refuses a body over RUSE_PROBLEM_BODY_MAX_BYTES with 413 naming it", async () => {
    const r = await s.request("PUT", "/v1/problems/huge", {
      body: { tests: [{ stdin: "x".repeat(6000), expectedOutput: "" }] },
    });
    expect(r.status).toBe(413);
    expect(r.json.error).toMatch(/larger than 5000 bytes \(RUSE_PROBLEM_BODY_MAX_BYTES\)/);
  });
});

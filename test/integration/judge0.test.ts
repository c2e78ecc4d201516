// The Judge0-compatible API. There is no Judge0 client on npm, and Judge0's
// docs (ce.judge0.com, judge0/judge0 docs/api/*.md, v1.13) give their
// examples as request and response pairs rather than curl lines: these
// tests replay those requests verbatim, by plain HTTP as any client sends
// them, and check ruse's answers against the documented responses. Where
// ruse differs on purpose (the docs' language 4 is archived in Judge0 1.13;
// here it is C), the test says so.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../helpers/service.js";

/** The C program of Judge0's docs (create_a_submission.md), verbatim. */
const DOCS_C =
  '#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf("%s", name);\n  printf("hello, %s\\n", name);\n  return 0;\n}';
const TOKEN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("Judge0 API: the documented examples", () => {
  let s: Stack;
  const j = (path: string) => `/judge0${path}`;
  /** GET a submission until it is neither In Queue nor Processing. */
  const settled = async (token: string, query = "") => {
    for (const end = Date.now() + 60_000; Date.now() < end; ) {
      const r = await s.get(j(`/submissions/${token}${query}`));
      if (r.json.status === undefined || r.json.status.id > 2) return r;
      await new Promise((ok) => setTimeout(ok, 100));
    }
    throw new Error(`submission ${token} did not finish`);
  };
  beforeAll(async () => {
    s = await startStack({ worker: "inprocess" });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("creates a submission (201 {token}) and reads it back with the default fields", async () => {
    const r = await s.post(j("/submissions?base64_encoded=false&wait=false"), {
      source_code: DOCS_C,
      language_id: 4,
      stdin: "world",
    });
    expect(r.status).toBe(201);
    expect(Object.keys(r.json)).toEqual(["token"]);
    expect(r.json.token).toMatch(TOKEN);
    const got = await settled(r.json.token);
    expect(got.status).toBe(200);
    expect(Object.keys(got.json).sort()).toEqual(
      ["stdout", "time", "memory", "stderr", "token", "compile_output", "message", "status"].sort(),
    );
    expect(got.json).toMatchObject({
      stdout: "hello, world\n",
      stderr: null,
      token: r.json.token,
      message: null,
      status: { id: 3, description: "Accepted" },
    });
    expect(got.json.time).toMatch(/^\d+\.\d{3}$/);
    expect(got.json.memory).toBeGreaterThan(0);
    const some = await s.get(j(`/submissions/${r.json.token}?fields=stdout,stderr,status_id,language_id`));
    expect(some.json).toEqual({ stdout: "hello, world\n", status_id: 3, language_id: 50, stderr: null });
  });

  it("waits with wait=true and judges expected_output (language_id as a string, as documented)", async () => {
    const r = await s.post(j("/submissions?wait=true"), {
      source_code: DOCS_C,
      language_id: "4",
      stdin: "Judge0",
      expected_output: "hello, Judge0",
    });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({
      stdout: "hello, Judge0\n",
      stderr: null,
      message: null,
      status: { id: 3, description: "Accepted" },
    });
    expect(r.json.token).toMatch(TOKEN);
  });

  it("answers the documented 422s: no language, an unknown one, a limit past the maximum", async () => {
    const blank = await s.post(j("/submissions"), { source_code: DOCS_C });
    expect(blank.status).toBe(422);
    expect(blank.json).toEqual({ language_id: ["can't be blank"] });
    const unknown = await s.post(j("/submissions"), {
      source_code: DOCS_C,
      language_id: 150000,
      stdin: "world",
      expected_output: "hello, world",
    });
    expect(unknown.status).toBe(422);
    expect(unknown.json).toEqual({ language_id: ["language with id 150000 doesn't exist"] });
    const long = await s.post(j("/submissions"), {
      source_code: DOCS_C,
      language_id: 4,
      number_of_runs: 1,
      stdin: "Judge0",
      expected_output: "hello, Judge0",
      cpu_time_limit: 1,
      cpu_extra_time: 0.5,
      wall_time_limit: 100000,
      memory_limit: 128000,
      stack_limit: 128000,
      enable_per_process_and_thread_time_limit: false,
      enable_per_process_and_thread_memory_limit: false,
      max_file_size: 1024,
    });
    expect(long.status).toBe(422);
    // Judge0's docs say 150 (their maximum then); ruse's maximum wall limit is 60 s.
    expect(long.json).toEqual({ wall_time_limit: ["must be less than or equal to 60"] });
  });

  it("takes Base64 in and gives Base64 out, as Ruby's encoder writes it", async () => {
    const r = await s.post(j("/submissions?base64_encoded=true&wait=true"), {
      source_code:
        "I2luY2x1ZGUgPHN0ZGlvLmg+CgppbnQgbWFpbih2b2lkKSB7CiAgY2hhciBuYW1lWzEwXTsKICBzY2FuZigiJXMiLCBuYW1lKTsKICBwcmludGYoImhlbGxvLCAlc1xuIiwgbmFtZSk7CiAgcmV0dXJuIDA7Cn0=",
      language_id: 4,
      stdin: "SnVkZ2Uw",
    });
    expect(r.status).toBe(201);
    // get_a_submission.md's Base64 answer, verbatim: "aGVsbG8sIEp1ZGdlMAo=\n" is "hello, Judge0\n".
    expect(r.json.stdout).toBe("aGVsbG8sIEp1ZGdlMAo=\n");
    expect(r.json.status).toEqual({ id: 3, description: "Accepted" });
  });

  it("creates a batch and reads it back by tokens, with a failed item answered in place", async () => {
    const r = await s.post(j("/submissions/batch"), {
      submissions: [
        { language_id: 46, source_code: "echo hello from Bash" },
        { language_id: 71, source_code: 'print("hello from Python")' },
        { language_id: 72, source_code: 'puts("hello from Ruby")' },
      ],
    });
    expect(r.status).toBe(201);
    expect(r.json).toEqual([
      { token: expect.stringMatching(TOKEN) },
      { token: expect.any(String) },
      { token: expect.any(String) },
    ]);
    const tokens = r.json.map((t: { token: string }) => t.token);
    for (const t of tokens) await settled(t);
    const got = await s.get(
      j(
        `/submissions/batch?tokens=${tokens.join(",")}&base64_encoded=false&fields=token,stdout,stderr,status_id,language_id`,
      ),
    );
    expect(got.status).toBe(200);
    expect(got.json).toEqual({
      submissions: [
        { language_id: 46, stdout: "hello from Bash\n", status_id: 3, stderr: null, token: tokens[0] },
        { language_id: 71, stdout: "hello from Python\n", status_id: 3, stderr: null, token: tokens[1] },
        { language_id: 72, stdout: "hello from Ruby\n", status_id: 3, stderr: null, token: tokens[2] },
      ],
    });
    const mixed = await s.post(j("/submissions/batch"), {
      submissions: [
        { language_id: 46, source_code: "echo hello from Bash" },
        { language_id: 123456789, source_code: 'print("hello from Python")' },
        { language_id: 72, source_code: "" },
      ],
    });
    expect(mixed.status).toBe(201);
    expect(mixed.json).toEqual([
      { token: expect.stringMatching(TOKEN) },
      { language_id: ["language with id 123456789 doesn't exist"] },
      { source_code: ["can't be blank"] },
    ]);
    const unknown = await s.get(j(`/submissions/batch?tokens=${tokens[0]},00000000-0000-0000-0000-000000000000`));
    expect(unknown.json.submissions[1]).toBeNull();
  });

  it("lists the statuses and the languages under Judge0's ids", async () => {
    const statuses = await s.get(j("/statuses"));
    expect(statuses.json).toHaveLength(14);
    expect(statuses.json[0]).toEqual({ id: 1, description: "In Queue" });
    expect(statuses.json[13]).toEqual({ id: 14, description: "Exec Format Error" });
    const langs = (await s.get(j("/languages"))).json as { id: number; name: string }[];
    expect(langs.find((l) => l.id === 71)?.name).toMatch(/^Python 3 \(3\.\d+\.\d+\)$/);
    expect(langs.find((l) => l.id === 54)?.name).toMatch(/^C\+\+ \(12\.\d+\.\d+\)$/);
    expect(langs.map((l) => l.name)).toEqual([...langs.map((l) => l.name)].sort((a, b) => a.localeCompare(b)));
    const one = await s.get(j("/languages/62"));
    expect(one.json).toMatchObject({ id: 62, source_file: "Main.java", is_archived: false });
  });

  it("tells verdicts apart as Judge0's statuses", async () => {
    const wait = (body: object) =>
      s.post(j("/submissions?wait=true&fields=status_id,message,exit_code,compile_output,stdout"), body);
    const wa = await wait({ language_id: 71, source_code: "print(41)", expected_output: "42" });
    expect(wa.json).toMatchObject({ status_id: 4, stdout: "41\n" });
    const nzec = await wait({ language_id: 71, source_code: "import sys; sys.exit(3)" });
    expect(nzec.json).toMatchObject({ status_id: 11, exit_code: 3, message: "Exited with error status 3" });
    const segv = await wait({ language_id: 50, source_code: "#include <signal.h>\nint main(){raise(SIGSEGV);}" });
    expect(segv.json).toMatchObject({ status_id: 7, message: "Caught fatal signal 11" });
    const tle = await wait({ language_id: 50, source_code: "int main(){for(;;);}", cpu_time_limit: 0.3 });
    expect(tle.json).toMatchObject({ status_id: 5 });
    const ce = await wait({ language_id: 50, source_code: "int main(){ return nope; }" });
    expect(ce.json.status_id).toBe(6);
    expect(ce.json.compile_output).toMatch(/nope/);
  });

  it("refuses what it cannot honour by name, and unknown fields", async () => {
    const r = await s.post(j("/submissions"), { language_id: 71, source_code: "print(1)", compiler_options: "-O3" });
    expect(r.status).toBe(422);
    expect(r.json).toEqual({ compiler_options: ["setting compiler options is not allowed"] });
    const fields = await s.get(j("/submissions/00000000-0000-0000-0000-000000000000?fields=stdout,foo,bar"));
    expect(fields.status).toBe(400);
    expect(fields.json).toEqual({ error: "invalid fields: [foo, bar]" });
    expect((await s.get(j("/submissions/00000000-0000-0000-0000-000000000000"))).status).toBe(404);
  });
});

describe("Judge0 API with API keys on", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "none", env: { RUSE_API_KEYS: "k1" } });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("takes the key in Judge0's X-Auth-Token header", async () => {
    expect((await s.get("/judge0/statuses")).status).toBe(401);
    expect((await s.get("/judge0/statuses", { "x-auth-token": "nope" })).status).toBe(401);
    expect((await s.get("/judge0/statuses", { "x-auth-token": "k1" })).status).toBe(200);
  });
});

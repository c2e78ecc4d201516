// Inline inputs up to RUSE_INPUT_MAX_BYTES (16 MiB by default), whole to the
// program, and a 413 naming the field and the limit past it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunResult } from "../../core/schemas.js";
import { startStack, type Stack } from "../helpers/service.js";

const MAX = 16 << 20;
// Counts the bytes it reads and checks them: what reached it is what was sent.
const count = "import sys\nd = sys.stdin.buffer.read()\nprint(len(d), d.count(b'ab'))\n";

describe("inline inputs of 16 MiB", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "inprocess" });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("a 16 MiB stdin reaches the program whole, by default", async () => {
    expect(s.cfg.inputMaxBytes).toBe(MAX);
    const r = await s.post("/v1/runs?wait=true", { language: "python", source: count, stdin: "ab".repeat(MAX / 2) });
    expect(r.status).toBe(200);
    expect((r.json as RunResult).run?.stdout).toBe(`${MAX} ${MAX / 2}\n`);
  });

  it("a 16 MiB test input too; one byte more, in stdin or a test, is a 413 naming it", async () => {
    const t = await s.post("/v1/runs?wait=true", {
      language: "python",
      source: count,
      tests: [{ stdin: "ab".repeat(MAX / 2), expectedOutput: `${MAX} ${MAX / 2}\n` }],
    });
    expect((t.json as RunResult).verdict).toBe("accepted");
    const over = await s.post("/v1/runs", { language: "python", source: count, stdin: "x".repeat(MAX + 1) });
    expect(over.status).toBe(413);
    expect(over.json.error).toBe(`an input is larger than ${MAX} bytes (RUSE_INPUT_MAX_BYTES)`);
    expect(over.json.issues).toEqual([{ path: "stdin", message: `${MAX + 1} bytes, over ${MAX}` }]);
    const test = await s.post("/v1/runs", {
      language: "python",
      source: count,
      // Half as many characters as the cap, but each two bytes: bytes count.
      tests: [
        { stdin: "", expectedOutput: "" },
        { stdin: "é".repeat(MAX / 2 + 1), expectedOutput: "" },
      ],
    });
    expect(test.status).toBe(413);
    expect(test.json.issues).toEqual([{ path: "tests.1.stdin", message: `${MAX + 2} bytes, over ${MAX}` }]);
  });
});

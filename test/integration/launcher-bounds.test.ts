// The bounds a run's request and the launcher agree on: a request at every
// bound the schema sets runs whole, one past is a 400 naming the field, and
// a launch past the launcher's own bounds is refused before it starts,
// never cut short (a cut argv would run another command than the one asked).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { argBounds } from "../../core/limits.js";
import type { RunResult } from "../../core/schemas.js";
import { launcherBounds } from "../../worker/sandbox/launcher-args.js";
import type { Sandbox } from "../../worker/sandbox/sandbox.js";
import { openSandbox, runProbe } from "../helpers/sandbox.js";
import { startStack, type Reply, type Stack } from "../helpers/service.js";

// Prints how many arguments reached it and their bytes in UTF-8.
const countArgs = "import sys\na = [x.encode() for x in sys.argv[1:]]\nprint(len(a), sum(map(len, a)))\n";
const issuePaths = (r: Reply): string[] => (r.json?.issues ?? []).map((i: { path: string }) => i.path);

/** `count` arguments of `bytes` UTF-8 bytes in all, in three-byte characters where they fit. */
function argsOf(count: number, bytes: number): string[] {
  const each = Math.floor(bytes / count);
  return Array.from({ length: count }, (_, i) => {
    const n = i === count - 1 ? bytes - each * (count - 1) : each;
    return "€".repeat(Math.floor(n / 3)) + "x".repeat(n % 3);
  });
}

describe("a run's arguments, as the schema and the launcher bound them", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "inprocess" });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("the most arguments the schema takes, in the most bytes, reach the program whole", async () => {
    const { count, totalBytes } = argBounds;
    const args = argsOf(count, totalBytes);
    // As many collect paths as the schema takes, each as long as it takes, go in the same request.
    // (Four parts of at most 255 bytes: 1023 bytes each.)
    const collect = Array.from({ length: 32 }, (_, i) => Array(4).fill(`${i}`.padEnd(128, "é")).join("/"));
    const r = await s.post("/v1/runs?wait=true", { language: "python", source: countArgs, args, collect });
    expect(r.status).toBe(200);
    const run = (r.json as RunResult).run!;
    expect(run.verdict).toBe("ok");
    expect(run.stdout).toBe(`${count} ${totalBytes}\n`);
  });

  it("one past each bound is a 400 naming the field", async () => {
    const { count, bytes, totalBytes } = argBounds;
    const past = {
      "one argument too many": { args: argsOf(count + 1, count + 1), path: "args" },
      "one byte too many in all": { args: argsOf(count, totalBytes + 1), path: "args" },
      // 1366 three-byte characters: within 4096 characters, over 4096 bytes.
      "one argument of too many bytes": { args: ["€".repeat(Math.ceil((bytes + 1) / 3))], path: "args.0" },
      "a NUL, which would split one argument into two": { args: ["a\0b"], path: "args.0" },
    };
    for (const [what, { args, path }] of Object.entries(past)) {
      const r = await s.post("/v1/runs", { language: "python", source: countArgs, args });
      expect({ what, status: r.status, paths: issuePaths(r) }).toEqual({ what, status: 400, paths: [path] });
    }
    // A file's name in bytes as the kernel counts them: 255 fit, 256 (in 2-byte characters) do not.
    const named = (path: string) => s.post("/v1/runs", { language: "python", files: [{ path, content: "" }] });
    const longest = await named(`${"é".repeat(127)}x/${"é".repeat(127)}x`);
    expect(longest.status).toBe(202);
    for (const path of ["é".repeat(128), `a/${"é".repeat(128)}`, Array(5).fill("é".repeat(127)).join("/")]) {
      const r = await named(path);
      expect({ status: r.status, paths: issuePaths(r) }).toEqual({ status: 400, paths: ["files.0.path"] });
    }
    const nul = await s.post("/v1/runs", { language: "python", source: "", command: "echo a\0b" });
    expect({ status: nul.status, paths: issuePaths(nul) }).toEqual({ status: 400, paths: ["command"] });
  });
});

describe("the launcher's own bounds", () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await openSandbox(1);
  });
  afterAll(async () => {
    await sb?.close();
  });

  it("refuses a launch with more arguments than it takes, and one of more bytes, before it starts", async () => {
    const { strings, requestBytes } = launcherBounds;
    await expect(runProbe(sb, Array(strings).fill("x"))).rejects.toThrow(/the launcher takes 1023 in under 262144/);
    await expect(runProbe(sb, ["x".repeat(requestBytes)])).rejects.toThrow(/the launcher takes/);
    await expect(runProbe(sb, ["a\0b"])).rejects.toThrow(/contains NUL/);
    // The slot is whole afterwards: a run that fits still runs.
    const ok = await runProbe(sb, ["exit", "7"]);
    expect(ok.exitCode).toBe(7);
  });
});

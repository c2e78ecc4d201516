// The launcher's file stream formats and the report-to-verdict mapping.
import { describe, expect, it } from "vitest";
import { decodeCollected, encodeFiles } from "../../worker/sandbox/files-stream.js";
import { launcherReport, verdictOf } from "../../worker/sandbox/report.js";

describe("encodeFiles", () => {
  it("writes header, path and content per file, then an empty header", () => {
    const b = encodeFiles([{ path: "a/b.txt", content: "hi", executable: true }]);
    expect(b.readUInt32LE(0)).toBe(7);
    expect(b.readUInt32LE(4)).toBe(0o755);
    expect(b.readBigUInt64LE(8)).toBe(2n);
    expect(b.subarray(16, 25).toString()).toBe("a/b.txthi");
    expect(b.length).toBe(16 + 9 + 16);
    expect(b.subarray(25).equals(Buffer.alloc(16))).toBe(true);
  });
});

function record(path: string, err: number, content = ""): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(Buffer.byteLength(path), 0);
  h.writeInt32LE(err, 4);
  h.writeBigUInt64LE(BigInt(Buffer.byteLength(content)), 8);
  return Buffer.concat([h, Buffer.from(path), Buffer.from(content)]);
}

describe("decodeCollected", () => {
  it("returns content and refusals in order", () => {
    const b = Buffer.concat([record("out.txt", 0, "x\n"), record("link", 40), Buffer.alloc(16)]);
    expect(decodeCollected(b)).toEqual([
      { path: "out.txt", content: Buffer.from("x\n") },
      { path: "link", error: "refused: a symbolic link is on the path" },
    ]);
  });
  it("rejects a stream cut short", () => {
    expect(() => decodeCollected(record("out.txt", 0, "x\n"))).toThrow(/ended early/);
  });
});

describe("verdictOf", () => {
  const base = launcherReport.parse({
    ok: true,
    exitCode: 0,
    signal: null,
    limit: null,
    oomKilled: false,
    wallUs: 1,
    cpuUs: 1,
    userUs: 0,
    sysUs: 0,
    memoryPeakBytes: 1,
    setupUs: 1,
    stdoutBytes: 0,
    stderrBytes: 0,
    stdoutTruncated: false,
    stderrTruncated: false,
    netLeftover: false,
  });
  if (!base.ok) throw new Error("unreachable");
  it.each([
    [{}, "ok"],
    [{ exitCode: 3 }, "runtime_error"],
    [{ exitCode: null, signal: 11 }, "runtime_error"],
    [{ limit: "cpu", exitCode: null, signal: 9 }, "time_limit_exceeded"],
    [{ limit: "wall", exitCode: null, signal: 9 }, "time_limit_exceeded"],
    [{ limit: "memory", exitCode: null, signal: 9 }, "memory_limit_exceeded"],
    [{ oomKilled: true, exitCode: 1 }, "memory_limit_exceeded"],
    [{ limit: "output", exitCode: null, signal: 9 }, "output_limit_exceeded"],
  ] as const)("%j -> %s", (patch, verdict) => expect(verdictOf({ ...base, ...patch } as typeof base)).toBe(verdict));
});

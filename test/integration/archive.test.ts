// Archives are unpacked inside a sandbox, never on the host, and every
// attack is refused with a clear reason: "..", absolute paths, links out,
// device files, zip bombs, too many entries.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtinLimits } from "../../core/limits.js";
import type { RunJob } from "../../core/schemas.js";
import { executeRun } from "../../worker/execute.js";
import { ARCHIVE_MAX_ENTRIES } from "../../worker/unpack.js";
import type { Sandbox } from "../../worker/sandbox/sandbox.js";
import { openSandbox } from "../helpers/sandbox.js";

let sb: Sandbox;
let dir: string;
beforeAll(async () => {
  sb = await openSandbox(1);
  dir = mkdtempSync(join(tmpdir(), "ruse-archive-"));
});
afterAll(() => sb?.close());

/** Builds an archive on the host with Python's own modules (the test's tool, not the product's). */
function make(name: string, script: string): string {
  const out = join(dir, name);
  execFileSync("/usr/bin/python3", ["-c", script, out]);
  return readFileSync(out).toString("base64");
}
const tarGz = (body: string) =>
  `import io, sys, tarfile\nt = tarfile.open(sys.argv[1], "w:gz")\ndef add(name, data=b"", kind=tarfile.REGTYPE, link=""):\n    i = tarfile.TarInfo(name); i.size = len(data); i.type = kind; i.linkname = link; t.addfile(i, io.BytesIO(data))\n${body}\nt.close()\n`;

function job(format: "tar.gz" | "zip", content: string, command = "ls -R"): RunJob {
  return {
    language: "python",
    files: [],
    archive: { format, contentBase64: content },
    stdin: "",
    args: [],
    command,
    limits: builtinLimits.run.default,
    compileLimits: builtinLimits.compile.default,
    compare: "lines",
    stopOnFirstFailure: false,
    network: false,
    createdAt: new Date().toISOString(),
  };
}

describe("archives", () => {
  it("a project in a tar.gz is unpacked and graded; an inside link becomes a copy", async () => {
    const a = make(
      "good.tgz",
      tarGz(
        `add("pkg/calc.py", b"def add(a, b): return a + b\\n")\nadd("pkg/__init__.py")\nadd("test_calc.py", b"from pkg.calc import add\\ndef test_add(): assert add(1, 2) == 3\\n")\nadd("alias.py", kind=tarfile.SYMTYPE, link="pkg/calc.py")`,
      ),
    );
    const r = await executeRun(job("tar.gz", a, "python3 -m pytest -q && cat alias.py"), sb);
    expect(r.verdict, JSON.stringify(r)).toBe("ok");
    expect(r.run!.stdout).toMatch(/1 passed/);
    expect(r.run!.stdout).toMatch(/def add/);
  });

  it("a zip project is unpacked too", async () => {
    const z = make(
      "good.zip",
      `import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], "w")\nz.writestr("src/main.py", "print(6 * 7)\\n")\nz.close()\n`,
    );
    const r = await executeRun(job("zip", z, "python3 src/main.py"), sb);
    expect(r.run!.stdout).toBe("42\n");
  });

  it.each([
    ["..", tarGz(`add("../evil", b"x")`), /'\.\.\/evil' leaves the project/],
    ["an absolute path", tarGz(`add("/etc/cron.d/evil", b"x")`), /is an absolute path/],
    ["a symlink out", tarGz(`add("leak", kind=tarfile.SYMTYPE, link="/etc/passwd")`), /links out of the project/],
    [
      "a relative symlink out",
      tarGz(`add("d/leak", kind=tarfile.SYMTYPE, link="../../etc/passwd")`),
      /leaves the project|not a file of the project/,
    ],
    ["a device file", tarGz(`add("dev", kind=tarfile.CHRTYPE)`), /device file or a FIFO/],
    ["a FIFO", tarGz(`add("fifo", kind=tarfile.FIFOTYPE)`), /device file or a FIFO/],
    ["too many entries", tarGz(`for i in range(${ARCHIVE_MAX_ENTRIES + 1}): add(f"f{i}")`), /more than \d+ entries/],
    [
      "a zip bomb",
      `import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED)\nz.writestr("big", b"\\0" * (600 << 20))\nz.close()\n`,
      /more than \d+ bytes unpacked/,
    ],
    [
      "a zip symlink",
      `import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], "w")\ni = zipfile.ZipInfo("leak"); i.external_attr = (0o120777 << 16)\nz.writestr(i, "/etc/passwd")\nz.close()\n`,
      /is a link/,
    ],
    ["not an archive", `import sys\nopen(sys.argv[1], "wb").write(b"hello")\n`, /not a readable/],
  ])(
    "%s is refused with a clear error, before anything runs",
    async (name, script, reason) => {
      const fmt = script.includes("zipfile") || name === "not an archive" ? "zip" : "tar.gz";
      const r = await executeRun(job(fmt, make(`${name.replace(/\W/g, "_")}.${fmt}`, script), "echo RAN"), sb);
      expect(r.verdict).toBe("compile_error");
      expect(r.compile!.stderr).toMatch(reason);
      expect(r.run).toBeNull();
    },
    60_000,
  );
});

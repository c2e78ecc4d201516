// With building on demand off, a run for a catalogued language whose image
// this machine has not built is refused before it is queued (422, naming the
// field and the command that builds it), as is one whose checker is in such a
// language; an API host with no images at all (its workers elsewhere)
// refuses none; with building on demand on (the default), none is refused.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isRefusal, jobFor } from "../../api/enqueue.js";
import { loadConfig } from "../../core/config.js";
import { runRequestSchema } from "../../core/schemas.js";

const cfg = loadConfig({ HOME: "/tmp", RUSE_BUILD_ON_DEMAND: "0" });
const request = (body: unknown) => runRequestSchema(cfg).parse(body);
const record = (name: string, parent: string | null) => ({
  file: `${name}-000000000000.sqfs`,
  hash: `${name}hash`,
  parent,
  parentHash: parent ? `${parent}hash` : null,
  packages: [],
  sizeBytes: 4096,
  sha256: "0".repeat(64),
  compression: "zstd",
  version: "1",
  languages: {},
  builtAt: "",
  buildSeconds: 1,
});

describe("a language whose image is not built here", () => {
  let dir: string;
  const saved = process.env.RUSE_IMAGE_CACHE;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ruse-unbuilt-"));
    process.env.RUSE_IMAGE_CACHE = dir;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.RUSE_IMAGE_CACHE;
    else process.env.RUSE_IMAGE_CACHE = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  const manifest = (images: Record<string, unknown>) =>
    writeFileSync(join(dir, "manifest.json"), JSON.stringify({ format: 1, suite: "bookworm", images }));

  it("is refused with 422 naming the field and npm run images -- LANG", () => {
    manifest({ base: record("base", null), gcc: record("gcc", "base") });
    const j = jobFor(request({ language: "kotlin", source: "fun main() {}" }), cfg, new Map());
    expect(isRefusal(j) && j.status).toBe(422);
    expect(isRefusal(j) && j.issues).toEqual([
      { path: "language", message: '"kotlin" is catalogued but its image is not built here: npm run images -- kotlin' },
    ]);
    expect(isRefusal(jobFor(request({ language: "c", source: "int main(){}" }), cfg, new Map()))).toBe(false);
    expect(isRefusal(jobFor(request({ language: "bash", source: "true" }), cfg, new Map()))).toBe(false);
    const onDemand = loadConfig({ HOME: "/tmp" });
    expect(isRefusal(jobFor(request({ language: "kotlin", source: "fun main() {}" }), onDemand, new Map()))).toBe(
      false,
    );
  });

  it("as a checker's language too", () => {
    manifest({ base: record("base", null), gcc: record("gcc", "base") });
    const j = jobFor(
      request({
        language: "c",
        source: "int main(){}",
        tests: [{ stdin: "", expectedOutput: "" }],
        checker: { language: "python", source: "pass" },
      }),
      cfg,
      new Map(),
    );
    expect(isRefusal(j) && j.issues.map((i) => i.path)).toEqual(["checker.language"]);
  });

  it("is not refused by an API host without images (no manifest: its workers are elsewhere)", () => {
    expect(isRefusal(jobFor(request({ language: "kotlin", source: "fun main() {}" }), cfg, new Map()))).toBe(false);
  });
});

// A submitted archive, unpacked in a sandbox of its own.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { getLanguage, languageEnv } from "../rootfs/languages.js";
import type { RunJob, Stage } from "../core/schemas.js";
import type { Sandbox } from "./sandbox/sandbox.js";
import type { SandboxFile } from "./sandbox/files-stream.js";
import { layersOf, sandboxLimits, stage } from "./stage.js";

/** At most this many entries in a submitted archive (its bytes: half the compile scratch space). */
export const ARCHIVE_MAX_ENTRIES = 10_000;
const UNPACK_SCRIPT = readFileSync(fileURLToPath(new URL("./unpack.py", import.meta.url)));

/**
 * A submitted archive is unpacked by worker/unpack.py in a sandbox of its
 * own (the python image), and its files come back as regular files only.
 */
export async function unpack(sb: Sandbox, job: RunJob): Promise<SandboxFile[] | Stage> {
  const py = getLanguage("python")!;
  const limits = sandboxLimits(job.compileLimits, py, true);
  const maxBytes = Math.floor(limits.scratchBytes / 2);
  const u = await sb.run({
    layers: layersOf(py.id),
    argv: ["python3", "unpack.py", "archive", job.archive!.format, String(ARCHIVE_MAX_ENTRIES), String(maxBytes)],
    env: languageEnv(py),
    files: [
      { path: "unpack.py", content: UNPACK_SCRIPT },
      { path: "archive", content: Buffer.from(job.archive!.contentBase64, "base64") },
    ],
    collect: ["out/"],
    collectMaxBytes: maxBytes,
    limits,
  });
  if (u.verdict !== "ok") return stage(u, u.verdict === "internal_error" ? "internal_error" : "compile_error");
  return u.collected.flatMap((f) =>
    "content" in f ? [{ path: f.path.slice("out/".length), content: f.content }] : [],
  );
}

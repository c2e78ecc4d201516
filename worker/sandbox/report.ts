// The launcher's JSON report (sandbox-native/report.c), and the verdict it
// means. The verdict names are the ones the API returns.
import { z } from "zod";
import type { SandboxVerdict } from "../../core/verdicts.js";

export const launcherReport = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(false), error: z.string() }),
  z.object({
    ok: z.literal(true),
    exitCode: z.number().int().nullable(),
    signal: z.number().int().nullable(),
    limit: z.enum(["cpu", "wall", "memory", "output", "setup"]).nullable(),
    oomKilled: z.boolean(),
    wallUs: z.number(),
    cpuUs: z.number(),
    userUs: z.number(),
    sysUs: z.number(),
    memoryPeakBytes: z.number(),
    setupUs: z.number(),
    stdoutBytes: z.number(),
    stderrBytes: z.number(),
    stdoutTruncated: z.boolean(),
    stderrTruncated: z.boolean(),
    /** a socket of the run outlived it in the slot's network namespace (sandbox-native/net.c) */
    netLeftover: z.boolean(),
  }),
]);
export type LauncherReport = z.infer<typeof launcherReport>;
type Finished = Extract<LauncherReport, { ok: true }>;

/** A limit beats the exit status: a program killed at its CPU limit did not "crash". */
export function verdictOf(r: Finished): SandboxVerdict {
  if (r.limit === "cpu" || r.limit === "wall") return "time_limit_exceeded";
  if (r.limit === "memory" || r.oomKilled) return "memory_limit_exceeded";
  if (r.limit === "output") return "output_limit_exceeded";
  if (r.exitCode === 0) return "ok";
  return "runtime_error";
}

// Every verdict a run, a test or a stage can get: the API returns these names.

/** What the sandbox itself says of a program (worker/sandbox/report.ts maps the launcher's report onto them). */
export const sandboxVerdicts = [
  "ok",
  "runtime_error",
  "time_limit_exceeded",
  "memory_limit_exceeded",
  "output_limit_exceeded",
  "internal_error",
] as const;
export type SandboxVerdict = (typeof sandboxVerdicts)[number];

/** The sandbox's verdicts, and those of judging and compiling ("skipped": a test not run after a failure). */
export const verdicts = [...sandboxVerdicts, "accepted", "wrong_answer", "compile_error", "skipped"] as const;
export type Verdict = (typeof verdicts)[number];

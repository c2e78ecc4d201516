// A Judge0 submission as a v1 run request: its fields checked and turned
// into ruse's (seconds and KB into ms and MiB, expected_output a test), or
// Judge0's errors by field (422 {field: [messages]}).
import { z } from "@hono/zod-openapi";
import type { Config } from "../../core/config.js";
import type { Language } from "../../rootfs/languages.js";
import { offered } from "../catalogue.js";
import { languageOfId } from "./judge0-table.js";

export type Errors = Record<string, string[]>;

const addError = (errors: Errors, field: string, message: string) => {
  errors[field] ??= [];
  errors[field].push(message);
};

/** A number as JSON gives it or as a string ("4", "2.5"): Judge0 takes both. */
const numeric = z.union([z.number(), z.string().regex(/^\s*-?\d+(\.\d+)?\s*$/)]).transform(Number);

export const judge0SubmissionSchema = z
  .object({
    source_code: z.string().optional(),
    language_id: numeric.optional(),
    stdin: z.string().nullable().optional(),
    expected_output: z.string().nullable().optional(),
    cpu_time_limit: numeric.optional().openapi({ description: "seconds (CPU)" }),
    wall_time_limit: numeric.optional().openapi({ description: "seconds" }),
    memory_limit: numeric.optional().openapi({ description: "KB" }),
    max_processes_and_or_threads: numeric.optional(),
    max_file_size: numeric.optional().openapi({ description: "KB: the output's limit" }),
    command_line_arguments: z.string().max(512).nullable().optional(),
    enable_network: z.boolean().nullable().optional(),
    number_of_runs: numeric.optional().openapi({ description: "accepted; ruse runs once" }),
    cpu_extra_time: numeric.optional(),
    stack_limit: numeric.optional(),
    enable_per_process_and_thread_time_limit: z.boolean().nullable().optional(),
    enable_per_process_and_thread_memory_limit: z.boolean().nullable().optional(),
    compiler_options: z.string().nullable().optional(),
    redirect_stderr_to_stdout: z.boolean().nullable().optional(),
    callback_url: z.string().nullable().optional(),
    additional_files: z.string().nullable().optional(),
  })
  .openapi("Judge0Submission");
export type Submission = z.infer<typeof judge0SubmissionSchema>;

/** What a submission became: the v1 request for it, or Judge0's errors by field. */
export function v1Request(
  s: Submission,
  cfg: Config,
  base64: boolean,
): { request: unknown; lang: Language } | { errors: Errors } {
  const errors: Errors = {};
  const add = (field: string, message: string) => addError(errors, field, message);
  const decode = (t: string | null | undefined) =>
    t == null ? undefined : base64 ? Buffer.from(t, "base64").toString() : t;

  const langId = languageOfId.get(s.language_id ?? Number.NaN);
  const lang = offered().find((o) => o.lang.id === langId)?.lang;
  if (s.language_id === undefined) add("language_id", "can't be blank");
  else if (!lang) add("language_id", `language with id ${s.language_id} doesn't exist`);
  if (!s.source_code) add("source_code", "can't be blank");
  for (const [field, message] of [
    ["compiler_options", "setting compiler options is not allowed"],
    ["callback_url", "setting callback is not allowed"],
    ["additional_files", "setting additional files is not allowed"],
    ["redirect_stderr_to_stdout", "redirecting stderr to stdout is not supported by this server"],
  ] as const)
    if (s[field]) add(field, message);
  if (s.enable_network && !cfg.allowNetwork) add("enable_network", "enabling network is not allowed");

  // Judge0's units (seconds, KB) as ruse's (ms, MiB), each checked against ruse's maximum.
  const max = cfg.limits.run.max;
  const limit = (field: keyof Submission, v: number | undefined, scale: number, most: number, unit = 1) => {
    if (v === undefined) return undefined;
    if (!(v > 0)) add(field, "must be greater than 0");
    else if (v * scale > most * unit) add(field, `must be less than or equal to ${(most * unit) / scale}`);
    else return Math.max(1, Math.ceil((v * scale) / unit));
    return undefined;
  };
  const limits = {
    cpuMs: limit("cpu_time_limit", s.cpu_time_limit, 1000, max.cpuMs),
    wallMs: limit("wall_time_limit", s.wall_time_limit, 1000, max.wallMs),
    memoryMb: limit("memory_limit", s.memory_limit, 1, max.memoryMb, 1024),
    processes: limit("max_processes_and_or_threads", s.max_processes_and_or_threads, 1, max.processes),
    outputKb: limit("max_file_size", s.max_file_size, 1, max.outputKb),
  };
  if (Object.keys(errors).length || !lang) return { errors };

  const source = base64 ? s.source_code! : undefined;
  const stdin = decode(s.stdin) ?? "";
  const expected = decode(s.expected_output);
  return {
    lang,
    request: {
      language: lang.id,
      // Base64 source goes in as bytes (a file), never through a string.
      ...(source === undefined
        ? { source: s.source_code }
        : { files: [{ path: lang.sourceFile, content: normalBase64(source), encoding: "base64" }] }),
      // As Judge0's run script, which splits them as a shell would, less its metacharacters.
      args: (s.command_line_arguments ?? "")
        .replace(/[$&;<>|`]/g, "")
        .split(/\s+/)
        .filter(Boolean),
      limits: Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)),
      ...(expected === undefined ? { stdin } : { tests: [{ stdin, expectedOutput: expected }] }),
      network: s.enable_network === true,
    },
  };
}

/** Base64 as Ruby's lenient decoder reads it (line breaks and all), in the strict form ruse checks. */
const normalBase64 = (b64: string) => Buffer.from(b64, "base64").toString("base64");

/** The Judge0 field a v1 field came from, to name it when the v1 schema refuses a value. */
export const v1Fields: Record<string, string> = {
  source: "source_code",
  files: "source_code",
  "files.0.content": "source_code",
  language: "language_id",
  stdin: "stdin",
  "tests.0.stdin": "stdin",
  "tests.0.expectedOutput": "expected_output",
  args: "command_line_arguments",
  network: "enable_network",
};

/** Issues as Judge0's errors: field → messages. */
export function byField(
  issues: readonly { path: readonly PropertyKey[] | string; message: string }[],
  rename: Record<string, string> = {},
): Errors {
  const out: Errors = {};
  for (const i of issues) {
    const path = typeof i.path === "string" ? i.path : i.path.map(String).join(".");
    const field = rename[path] ?? rename[path.split(".")[0]!] ?? (path || "base");
    addError(out, field, i.message);
  }
  return out;
}

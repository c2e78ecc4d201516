// A v1 result (or a queued run's state) as a Judge0 submission: its status
// from the verdict, its times as Judge0 writes them, the fields asked for,
// Base64 where asked.
import { z } from "@hono/zod-openapi";
import type { RunResult, Stage } from "../../core/schemas.js";
import { offered } from "../catalogue.js";
import { STATUS, judge0Name, judge0Statuses, primaryId, signalStatus } from "./judge0-table.js";

/** Every field a submission can be read back with (?fields=), in Judge0's order. */
export const FIELDS = [
  "source_code",
  "language_id",
  "stdin",
  "expected_output",
  "stdout",
  "status_id",
  "created_at",
  "finished_at",
  "time",
  "memory",
  "stderr",
  "token",
  "number_of_runs",
  "cpu_time_limit",
  "cpu_extra_time",
  "wall_time_limit",
  "memory_limit",
  "stack_limit",
  "max_processes_and_or_threads",
  "enable_per_process_and_thread_time_limit",
  "enable_per_process_and_thread_memory_limit",
  "max_file_size",
  "compile_output",
  "exit_code",
  "exit_signal",
  "message",
  "wall_time",
  "compiler_options",
  "command_line_arguments",
  "redirect_stderr_to_stdout",
  "callback_url",
  "additional_files",
  "enable_network",
  "status",
  "language",
] as const;
export const DEFAULT_FIELDS = ["stdout", "time", "memory", "stderr", "token", "compile_output", "message", "status"];
/** The fields that hold program text: Base64 with base64_encoded=true. */
const TEXT_FIELDS = new Set(["stdout", "stderr", "compile_output", "message"]);

export const judge0ResultSchema = z.record(z.string(), z.unknown()).openapi("Judge0Result", {
  description: "the fields asked for (?fields=; default stdout,time,memory,stderr,token,compile_output,message,status)",
});

/** Ruby's Base64.encode64, as Judge0 sends Base64: a line break every 60 characters and at the end. */
function encode64(text: string): string {
  const b64 = Buffer.from(text).toString("base64");
  return b64 ? `${b64.match(/.{1,60}/g)!.join("\n")}\n` : "";
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/** Judge0's status of a stage, and its message (isolate's words where Judge0 shows them). */
function statusOf(s: Stage): { id: number; message: string | null } {
  switch (s.verdict) {
    case "ok":
    case "accepted":
      return { id: STATUS.accepted, message: null };
    case "wrong_answer":
      return { id: STATUS.wrongAnswer, message: null };
    case "time_limit_exceeded":
      return { id: STATUS.timeLimit, message: "Time limit exceeded" };
    case "memory_limit_exceeded":
      return { id: STATUS.otherRuntime, message: "Memory limit exceeded" };
    case "output_limit_exceeded":
      return { id: signalStatus(25), message: "Output limit exceeded" };
    case "runtime_error":
      return s.signal !== null
        ? { id: signalStatus(s.signal), message: `Caught fatal signal ${s.signal}` }
        : { id: STATUS.nzec, message: `Exited with error status ${s.exitCode}` };
    default:
      return { id: STATUS.internal, message: s.message ?? "internal error" };
  }
}

/** A v1 result (or state) as every field Judge0 has; those ruse does not keep are null. */
export function asSubmission(r: RunResult): Record<(typeof FIELDS)[number], unknown> {
  const all = Object.fromEntries(FIELDS.map((f) => [f, null])) as Record<(typeof FIELDS)[number], unknown>;
  const lang = offered().find((o) => o.lang.id === r.language);
  Object.assign(all, {
    token: r.id,
    created_at: r.createdAt ?? null,
    ...(lang && {
      language_id: primaryId(lang.lang),
      language: { id: primaryId(lang.lang), name: judge0Name(lang.lang, lang.version) },
    }),
  });
  let status: { id: number; message: string | null };
  if (r.status !== "completed")
    status = { id: r.status === "running" ? STATUS.processing : STATUS.inQueue, message: null };
  else if (r.verdict === "compile_error") status = { id: STATUS.compileError, message: null };
  else {
    const stage = r.tests?.[0] ?? r.run;
    status = stage ? statusOf(stage) : { id: STATUS.internal, message: r.message ?? "internal error" };
    if (stage)
      Object.assign(all, {
        stdout: stage.stdout || null,
        stderr: stage.stderr || null,
        time: seconds(stage.usage.cpuMs),
        wall_time: seconds(stage.usage.wallMs),
        memory: stage.usage.memoryKb,
        exit_code: stage.exitCode ?? 0,
        exit_signal: stage.signal,
      });
  }
  const compiled = r.compile ? r.compile.stdout + r.compile.stderr : "";
  return Object.assign(all, {
    finished_at: r.completedAt ?? null,
    compile_output: compiled || null,
    message: status.message,
    status_id: status.id,
    status: judge0Statuses[status.id - 1],
  });
}

/** The fields asked for (?fields=, * for all), Base64 where asked; or the unknown names. */
export function pick(sub: Record<string, unknown>, fields: string[], base64: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = sub[f];
    out[f] = base64 && TEXT_FIELDS.has(f) && typeof v === "string" ? encode64(v) : v;
  }
  return out;
}

export const resultOf = (r: { stored: string } | { state: RunResult }): RunResult =>
  "stored" in r ? (JSON.parse(r.stored) as RunResult) : r.state;

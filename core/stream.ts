// A streamed run (GET /v1/runs/stream, Piston's /api/v2/connect): what the
// API and the worker running it say to each other through Redis. The
// program's stdin goes as a list, pushed by the API and popped by the worker,
// so that nothing typed before the run starts is lost; its output and its
// stages come back as messages on a channel the API subscribed to before it
// queued the run.
import { z } from "zod";
import { stageSchema } from "./schemas.js";

/** The list of a streamed run's stdin: each entry a StreamInput's JSON. */
export const STREAM_IN_KEY = (id: string) => `ruse:stream-in:${id}`;
/** The channel of a streamed run's output and stages: each message a StreamOutput's JSON. */
export const STREAM_OUT_CHANNEL = (id: string) => `ruse:stream-out:${id}`;

export const streamInputSchema = z.union([z.object({ data: z.string() }), z.object({ eof: z.literal(true) })]);
export type StreamInput = z.infer<typeof streamInputSchema>;

export const streamOutputSchema = z.union([
  /** a stage begins: compile (only for a language that compiles), then run (with the compile's stage, if any) */
  z.object({ t: z.literal("stage"), stage: z.enum(["compile", "run"]), compile: stageSchema.nullable().optional() }),
  /** output as it comes, decoded as UTF-8 across chunk boundaries */
  z.object({ t: z.literal("out"), stream: z.enum(["stdout", "stderr"]), data: z.string() }),
  /** the run is over: no more output follows (its result may come before this, on another channel) */
  z.object({ t: z.literal("end") }),
]);
export type StreamOutput = z.infer<typeof streamOutputSchema>;

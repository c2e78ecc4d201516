// Piston's interactive socket, /piston/api/v2/connect (engineer-man/piston
// PR #299), as a streamed run (api/stream.ts) in Piston's messages: the
// client sends {type: "init", ...an execute's fields}, then {type: "data",
// stream: "stdin", data}; it gets {type: "runtime"}, {type: "stage"},
// {type: "data", stream, data} and {type: "exit", stage, code, signal} for
// each stage, and the socket closes with 4999 "Job Completed". Errors are
// {type: "error", message}, then a close in Piston's 4000s. ruse cannot
// signal a running program: {type: "signal"} ends its input instead, which
// ends most interactive programs (else its limits do).
import { upgradeWebSocket } from "@hono/node-server";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { WSContext } from "hono/ws";
import type { Config } from "../../core/config.js";
import type { RunResult, Stage } from "../../core/schemas.js";
import type { RunSubmitter } from "../enqueue.js";
import { type StreamHub, StreamedRun, messageOf, streamPlaces, streamRequest } from "../stream.js";
import { describe, pistonExecuteSchema, runtimeOf, signalName, v1Fields, v1Request } from "./piston.js";

export function pistonConnectRoute(app: OpenAPIHono, cfg: Config, hub: StreamHub, submitter: RunSubmitter): void {
  const places = streamPlaces();
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/piston/api/v2/connect",
    summary: "Piston: an interactive run over a WebSocket (init, data; runtime, stage, data, exit)",
    responses: { 101: { description: "switching to the WebSocket protocol" } },
  });
  app.get(
    "/piston/api/v2/connect",
    upgradeWebSocket(() => {
      let run: StreamedRun | null = null;
      let place: ReturnType<ReturnType<typeof streamPlaces>["take"]> = null;
      const send = (ws: WSContext, m: object) => ws.readyState === 1 && ws.send(JSON.stringify(m));
      const fail = (ws: WSContext, message: string, code = 4002, reason = "Notified Error") => {
        send(ws, { type: "error", message });
        ws.close(code, reason);
      };
      /** A stage's output and end, as Piston tells them. */
      const finish = (ws: WSContext, stage: "compile" | "run", s: Stage, streamed: boolean) => {
        if (!streamed)
          for (const stream of ["stdout", "stderr"] as const)
            if (s[stream]) send(ws, { type: "data", stream, data: s[stream] });
        send(ws, { type: "exit", stage, code: s.exitCode, signal: signalName(s.signal) });
      };
      return {
        onOpen(_e, ws) {
          place = places.take(() => ws.close(4001, "Initialization Timeout"));
          if (!place) fail(ws, "too many streams open on this API process; try again later", 4002);
        },
        onMessage(e, ws) {
          const m = messageOf(e.data) as Record<string, unknown> | undefined;
          if (m === undefined) return fail(ws, "a message is not valid JSON");
          if (m.type === "init") {
            if (run) return ws.close(4000, "Already Initialized");
            const parsed = pistonExecuteSchema.safeParse(m);
            if (!parsed.success) return fail(ws, describe(parsed.error.issues));
            const runtime = runtimeOf(parsed.data);
            if (!runtime) return fail(ws, `${parsed.data.language}-${parsed.data.version ?? "*"} runtime is unknown`);
            const made = streamRequest(cfg, v1Request(parsed.data, runtime.lang, cfg));
            if ("error" in made) return fail(ws, describe(made.issues, v1Fields));
            place?.started();
            run = new StreamedRun(cfg, hub, submitter);
            let compiled = false;
            void run
              .start(made.request, {
                queued: () => send(ws, { type: "runtime", language: parsed.data.language, version: runtime.version }),
                stage: (stage, compile) => {
                  if (stage === "run" && compile) {
                    finish(ws, "compile", compile, false);
                    compiled = true;
                  }
                  send(ws, { type: "stage", stage });
                },
                output: (stream, data) => send(ws, { type: "data", stream, data }),
                result: (r: RunResult) => {
                  if (r.compile && !compiled) finish(ws, "compile", r.compile, false);
                  if (r.run) finish(ws, "run", r.run, true);
                  else if (r.verdict === "internal_error")
                    send(ws, { type: "error", message: r.message ?? "internal error" });
                  ws.close(4999, "Job Completed");
                },
                refused: (_status, error, issues) => fail(ws, describe(issues ?? [], v1Fields, error)),
              })
              .catch(() => fail(ws, "internal error"));
            return;
          }
          if (!run) return ws.close(4003, "Not yet initialized");
          if (m.type === "data") {
            if (m.stream !== "stdin" || typeof m.data !== "string") return ws.close(4004, "Can only write to stdin");
            void run.stdin(m.data).then((ok) => ok || fail(ws, run!.tooMuch()));
          } else if (m.type === "signal") void run.eof();
        },
        onClose() {
          place?.release();
          run?.gone();
        },
      };
    }),
  );
}

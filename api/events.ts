// GET /v1/runs/{id}/events: a run's progress as Server-Sent Events, for a
// page or client that would otherwise poll. The API watches the run's state
// (a Redis read every POLL_MS, on the server: one cheap read instead of a
// client's request) and sends `state` on each change (queued, running) and
// `result` once, with the result's JSON as the worker stored it; then it
// ends the stream. A comment every KEEPALIVE_MS keeps proxies from closing
// a quiet stream; a client that goes away stops the watch.
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { streamSSE } from "hono/streaming";
import { errorSchema } from "../core/schemas.js";
import { runState } from "./enqueue.js";
import { fail, jsonContent, uuidParam } from "./reply.js";

const POLL_MS = 100;
const KEEPALIVE_MS = 15_000;
/** Streams open at once per API process: each costs a Redis read every POLL_MS, so they are not left unbounded. */
const MAX_STREAMS = 512;

export function eventRoutes(app: OpenAPIHono, queue: Queue, redis: Redis): void {
  const events = createRoute({
    method: "get",
    path: "/v1/runs/{id}/events",
    summary:
      "A run's progress as Server-Sent Events: state (queued, running) on each change, then result, then the end",
    request: { params: uuidParam },
    responses: {
      200: {
        content: { "text/event-stream": { schema: z.string() } },
        description: "event: state, data {id, status}; event: result, data the run's result",
      },
      404: jsonContent(errorSchema, "unknown or expired"),
      429: jsonContent(errorSchema, `${MAX_STREAMS} streams open on this API process; see Retry-After`),
    },
  });
  let open = 0;
  app.openapi(events, async (c) => {
    const { id } = c.req.valid("param");
    const first = await runState(queue, redis, id);
    if (!first) return fail(c, 404, `no run ${id} (unknown, or its result expired)`);
    if (open >= MAX_STREAMS) {
      c.header("Retry-After", "1");
      return fail(c, 429, `${MAX_STREAMS} event streams are open on this API process; try again later, or poll`);
    }
    open++;
    return streamSSE(c, async (stream) => {
      try {
        let last = "";
        let quietSince = Date.now();
        let r: Awaited<ReturnType<typeof runState>> = first;
        for (; r && !stream.aborted; r = await runState(queue, redis, id)) {
          if ("stored" in r) return void (await stream.writeSSE({ event: "result", data: r.stored }));
          if (r.state.status === "completed")
            return void (await stream.writeSSE({ event: "result", data: JSON.stringify(r.state) }));
          if (r.state.status !== last) {
            last = r.state.status;
            quietSince = Date.now();
            await stream.writeSSE({ event: "state", data: JSON.stringify({ id, status: last }) });
          } else if (Date.now() - quietSince > KEEPALIVE_MS) {
            quietSince = Date.now();
            await stream.write(": keepalive\n\n");
          }
          await stream.sleep(POLL_MS);
        }
        // The run's job and result both went (its result expired mid-watch): say so, then end.
        if (!stream.aborted)
          await stream.writeSSE({ event: "error", data: JSON.stringify({ error: `run ${id} is gone` }) });
      } finally {
        open--;
      }
    });
  });
}

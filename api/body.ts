// A request's body, read with a size cap. Under @hono/node-server the body is
// read straight from Node's request into Hono's body cache, where the
// validators find it: Hono's bodyLimit, which works on the adapter's Web
// Request (its headers and body stream), took the API from 0.76 to 1.0 ms of
// CPU per run. Elsewhere (another adapter), bodyLimit does the job.
import type { IncomingMessage } from "node:http";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";

/**
 * The body, or null past `max` bytes (the rest is dropped as it comes), or
 * null if the client went away (an aborted upload must not leave its handler
 * waiting for ever).
 */
export function readCapped(incoming: IncomingMessage, max: number): Promise<Buffer | null> {
  if (incoming.destroyed || incoming.readableAborted || incoming.errored) return Promise.resolve(null);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    incoming.on("data", (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size <= max) return void chunks.push(chunk);
      over = true;
      chunks.length = 0;
      resolve(null);
    });
    incoming.on("end", () => resolve(over ? null : Buffer.concat(chunks, size)));
    incoming.on("error", () => resolve(null));
    incoming.on("close", () => resolve(null)); // after "end", a no-op
  });
}

export function cappedBody(maxSize: number, tooLarge: (c: Context) => Response | Promise<Response>): MiddlewareHandler {
  const generic = bodyLimit({ maxSize, onError: tooLarge });
  return async (c, next) => {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    if (!incoming || c.req.method === "GET" || c.req.method === "HEAD") return generic(c, next);
    const declared = Number(c.req.header("content-length"));
    const body = declared > maxSize ? null : await readCapped(incoming, maxSize);
    if (!body) {
      // Past the cap (or the client is gone, and no one reads this): the
      // connection is not kept for another request, its rest is not read.
      c.header("Connection", "close");
      return tooLarge(c);
    }
    // Hono keeps bodies as promises; json() parses the cached text. The
    // decoder drops a byte-order mark, as the adapter's own reading did.
    (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(new TextDecoder().decode(body));
    await next();
  };
}

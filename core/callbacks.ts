// Callbacks: a run's result POSTed to the client's URL once the run is done,
// by a queue of their own (so a slow or dead receiver never holds a sandbox
// slot, and a delivery outlives the worker that started it). Judge0's
// callback_url let anyone make its servers call any address (SSRF): here the
// server calls only the hosts its operator allows, and each check below says
// which hole it closes.
import { createHmac } from "node:crypto";
import type { z } from "@hono/zod-openapi";
import type { callbackRecordSchema } from "./schemas.js";

export const CALLBACK_QUEUE = "callbacks";
/** What became of a run's callback: delivered, or given up after its attempts. */
export const CALLBACK_KEY = (runId: string) => `ruse:callback:${runId}`;

/** What became of a run's or a batch's callback: its schema is core/schemas.ts's callbackRecordSchema. */
export type CallbackRecord = z.infer<typeof callbackRecordSchema>;

/** Why `url` may not be called (null: it may), under the allowed `host[:port]` list. */
export function callbackRefusal(url: string, allow: readonly string[]): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "is not a URL";
  }
  // Only HTTP: no file:, gopher: or the like, which reach other services.
  if (u.protocol !== "http:" && u.protocol !== "https:") return "must be http or https";
  // No user:password@: it would be sent to the host, and parsers disagree on where it ends.
  if (u.username || u.password) return "must not hold credentials";
  // Only hosts the operator named (RUSE_CALLBACK_ALLOW), by name and port as
  // written: no wildcard, no address range, so that no request can aim the
  // server at its own loopback, metadata service or network.
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  const host = u.hostname;
  if (!allow.includes(`${host}:${port}`) && !(allow.includes(host) && u.port === ""))
    return allow.length
      ? `host ${host}:${port} is not in RUSE_CALLBACK_ALLOW`
      : "callbacks are off on this server (RUSE_CALLBACK_ALLOW is empty)";
  return null;
}

/**
 * The signature headers of a body: an HMAC-SHA256 of the timestamp, a dot and
 * the body, with the server's secret, so that a receiver knows the call came
 * from this server and was not replayed from long ago.
 */
export function signCallback(secret: string, body: string, now = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(now / 1000));
  const mac = createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
  return { "X-Ruse-Timestamp": timestamp, "X-Ruse-Signature": `sha256=${mac}` };
}

// Starts the HTTP API against a Redis.
import { serve } from "@hono/node-server";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../core/config.js";
import { createLog, type Log } from "../core/log.js";
import { createApp } from "./app.js";
import { processMetrics } from "./process-metrics.js";
import { StreamHub } from "./stream.js";
import { WebSocketServer } from "ws";
import { Completions } from "./completions.js";
import { QUEUE, redisOptions } from "../core/store.js";

export interface ApiHandle {
  port: number;
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/**
 * Slow clients (slowloris) hold a socket each and nothing else (no worker:
 * a request reaches the app only once its headers are in). A client must
 * send its headers within HEADERS_TIMEOUT_MS (Node's default: 60 s) and its
 * whole request within Node's requestTimeout (300 s: a 40 MiB body on a
 * slow link).
 */
export const HEADERS_TIMEOUT_MS = 10_000;

/**
 * A socket that moves no byte either way for this long is closed: a client
 * that never reads its response stops the server's writes, and no other
 * timeout covers a response. Quiet sockets that are fine stay under it: a
 * wait=true request (RUSE_WAIT_MAX_MS, then a second's look-up), an event
 * stream (a comment every 15 s); a WebSocket has none (ws clears it).
 */
export const idleTimeoutMs = (cfg: Config) => Math.max(cfg.waitMaxMs + 1000, 15_000) + 10_000;

export async function startApi(
  cfg: Config,
  redisUrl: string,
  log: Log = createLog("api", cfg.logLevel),
): Promise<ApiHandle> {
  let host = cfg.host;
  if (cfg.apiKeys.length === 0 && !LOOPBACK.has(host)) {
    log.warn(`no RUSE_API_KEYS set: binding to 127.0.0.1 instead of ${host} (set keys to listen elsewhere)`);
    host = "127.0.0.1";
  }
  const connection = redisOptions(redisUrl);
  const redis = new Redis(connection);
  redis.on("error", (e) => log.error(`redis: ${e.message}`));
  const queue = new Queue(QUEUE, { connection });
  const completions = await Completions.start(redisUrl, redis, log);
  const streams = await StreamHub.start(redisUrl, redis, cfg, log);
  // Streamed runs' sockets: a message is at most a request's body.
  // A browser offers "ruse" and "bearer.KEY" (api/guard.ts): the answer is "ruse", never the key.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: cfg.bodyMaxBytes,
    handleProtocols: (offered) => (offered.has("ruse") ? "ruse" : false),
  });
  let server: ReturnType<typeof serve> | undefined;
  const connections = () => new Promise<number>((r) => (server ? server.getConnections((_, n) => r(n)) : r(0)));
  const app = createApp({ cfg, queue, completions, redis, log, streams, processMetrics: processMetrics(connections) });
  server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve(
      {
        fetch: app.fetch,
        port: cfg.port,
        hostname: host,
        websocket: { server: wss },
        serverOptions: {
          headersTimeout: HEADERS_TIMEOUT_MS,
          // How often the two timeouts above are checked: Node's 30 s would let a slow client stay that much longer.
          connectionsCheckingInterval: 1000,
        },
      },
      () => resolve(s),
    );
  });
  server.setTimeout(idleTimeoutMs(cfg));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : cfg.port;
  log.info(`listening on http://${host}:${port}${cfg.apiKeys.length ? "" : " (no API keys: loopback only)"}`);
  return {
    port,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((r) => server.close(r));
      await completions.close();
      await streams.close();
      await queue.close();
      await redis.quit();
    },
  };
}

// The queue dashboard (bull-board) at /admin/queues, read-only: it shows
// every run's job, its source and stdin among them, so it is for the
// operator: with API keys on it answers only RUSE_ADMIN_KEYS (HTTP Basic,
// the key as the password, so that a browser asks), and is off without them;
// without keys the API listens on loopback only, and so does the board.
// Read-only, because a job removed or retried by hand is a run lost or run
// twice.
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { HonoAdapter } from "@bull-board/hono";
import { serveStatic } from "@hono/node-server/serve-static";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Deps } from "./app.js";
import { guard } from "./guard.js";
import { fail } from "./reply.js";

export const DASHBOARD_PATH = "/admin/queues";

/** Its page links a web font on another host: the browser is told to load nothing but the board's own files. */
const CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'";

export function dashboardRoutes(app: OpenAPIHono, deps: Deps): void {
  const { cfg, queue } = deps;
  if (cfg.apiKeys.length && !cfg.adminKeys.length) {
    app.all(`${DASHBOARD_PATH}/*`, (c) => fail(c, 404, "the queue dashboard is off: set RUSE_ADMIN_KEYS to open it"));
    return;
  }
  const board = new HonoAdapter(serveStatic).setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(queue, { readOnlyMode: true })],
    serverAdapter: board,
    options: { uiConfig: { boardTitle: "ruse" } },
  });
  app.use(`${DASHBOARD_PATH}/*`, guard(deps, { keys: cfg.adminKeys, basic: true }), async (c, next) => {
    await next();
    c.header("Content-Security-Policy", CSP);
  });
  app.route(DASHBOARD_PATH, board.registerPlugin());
}

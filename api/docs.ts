// The human docs page: the OpenAPI document rendered as plain HTML, served by
// the API itself (no CDN, no script).
import type { OpenAPIHono } from "@hono/zod-openapi";

type Doc = ReturnType<OpenAPIHono["getOpenAPIDocument"]>;
const methods = ["get", "put", "post", "delete", "patch"] as const;

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

export function docsPage(doc: Doc): string {
  const routes = Object.entries(doc.paths ?? {}).flatMap(([path, ops]) =>
    methods.flatMap((m) => {
      const op = ops[m];
      return op ? [`<li><code>${m.toUpperCase()} ${esc(path)}</code> — ${esc(op.summary ?? "")}</li>`] : [];
    }),
  );
  return `<!doctype html><meta charset="utf-8"><title>${esc(doc.info.title)} API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}pre{background:#f4f4f4;padding:1rem;overflow:auto}</style>
<h1>${esc(doc.info.title)} API v1</h1><p>${esc(doc.info.description ?? "")}. Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
<h2>Endpoints</h2><ul>${routes.join("")}<li><code>GET /healthz</code> — 200 when Redis and at least one worker answer</li><li><code>GET /metrics</code> — Prometheus</li></ul>
<h2>Schemas</h2><pre>${esc(JSON.stringify(doc.components ?? {}, null, 2))}</pre>`;
}

// Serves the playground: GET / (the page) and its files under /playground/,
// from dist/ as api/playground/build.ts made it. The files are read (and
// gzipped) once, when the routes are made; without dist/ every route says
// how to build it.
import { randomBytes, createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import type { Context, Env, Hono, Schema } from "hono";

const NOT_BUILT = "the playground is not built: run npm run setup\n";
const NONCE = "__CSP_NONCE__";
const TYPES: Record<string, string> = {
  "playground.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};
const COMMON = { "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer" };

/**
 * Scripts only from this origin and never inline; styles from this origin,
 * or carrying this response's nonce (CodeMirror's <style> element); the
 * page's requests only to this origin.
 */
const csp = (nonce: string) =>
  [
    "default-src 'self'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");

interface Asset {
  body: Buffer;
  gzipped: Buffer;
  type: string;
  etag: string;
}

function load(dist: URL): { html: string; assets: Map<string, Asset> } | null {
  try {
    const html = readFileSync(new URL("index.html", dist), "utf8");
    const assets = new Map<string, Asset>();
    for (const [name, type] of Object.entries(TYPES)) {
      const body = readFileSync(new URL(name, dist));
      const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
      assets.set(name, { body, gzipped: gzipSync(body), type, etag });
    }
    return { html, assets };
  } catch {
    return null;
  }
}

export function playgroundRoutes<E extends Env, S extends Schema, B extends string>(
  app: Hono<E, S, B>,
  dist = new URL("./dist/", import.meta.url),
): void {
  const built = load(dist);
  const notBuilt = (c: Context<E>) => c.text(NOT_BUILT, 503, { "Retry-After": "60" });

  app.get("/", (c) => {
    if (!built) return notBuilt(c);
    // A fresh nonce each time, so a page's nonce tells nothing about the next page's.
    const nonce = randomBytes(16).toString("base64");
    return c.body(built.html.replaceAll(NONCE, nonce), 200, {
      ...COMMON,
      "Content-Type": "text/html; charset=utf-8",
      "Content-Security-Policy": csp(nonce),
      "Cache-Control": "no-store",
    });
  });

  app.get("/playground/:file", (c) => {
    if (!built) return notBuilt(c);
    const a = built.assets.get(c.req.param("file") ?? "");
    if (!a) return c.notFound();
    const headers: Record<string, string> = {
      ...COMMON,
      "Content-Type": a.type,
      ETag: a.etag,
      "Cache-Control": "no-cache",
      Vary: "Accept-Encoding",
    };
    if (c.req.header("if-none-match") === a.etag) return c.body(null, 304, headers);
    if (/\bgzip\b/.test(c.req.header("accept-encoding") ?? ""))
      return c.body(new Uint8Array(a.gzipped), 200, { ...headers, "Content-Encoding": "gzip" });
    return c.body(new Uint8Array(a.body), 200, headers);
  });
}

// Who may call: API keys, and a request rate per key (or per address).
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context, MiddlewareHandler } from "hono";
import type { Redis } from "ioredis";
import { createHash, timingSafeEqual } from "node:crypto";
import type { Config } from "../core/config.js";
import { fail } from "./reply.js";

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/** How an API answers a refusal, in the shape its clients read (v1: {error}; Piston: {message}; ...). */
export type Refuse = (c: Context, status: 401 | 429, message: string) => Response | Promise<Response>;

const v1Refuse: Refuse = (c, status, message) => fail(c, status, message);

/**
 * API keys when configured (Authorization: Bearer KEY, or the header an API
 * names, such as Judge0's X-Auth-Token); a per-key (or per-address) request
 * rate. A key is matched by its hash, compared in constant time with every
 * known key's, so the answer's timing tells nothing of how much of a key was
 * right; the rate counter is named by the hash too, so Redis never holds a key.
 */
export interface GuardOptions {
  refuse?: Refuse;
  /** a header that may carry the key besides Authorization: Bearer (Judge0's X-Auth-Token) */
  keyHeader?: string;
  /** the keys let in (default: RUSE_API_KEYS) */
  keys?: string[];
  /** HTTP Basic too, the key as its password, so that a browser asks for it (the dashboard) */
  basic?: boolean;
}

/**
 * A browser's WebSocket cannot send a header: its key comes as a subprotocol
 * "bearer.KEY" beside "ruse" (the one the server answers with, never the key).
 */
const socketKey = (c: Context) =>
  c.req.header("upgrade")?.toLowerCase() === "websocket"
    ? c.req
        .header("sec-websocket-protocol")
        ?.split(",")
        .map((p) => p.trim())
        .find((p) => p.startsWith("bearer."))
        ?.slice("bearer.".length)
    : undefined;

/** Who each request let in is (by request): its key's hash, or "global" when keys are off. */
const callers = new WeakMap<Request, string>();

/** The caller a guarded request was let in as: the scope of its Idempotency-Key (core/idempotency.ts). */
export const callerScope = (c: Context): string => callers.get(c.req.raw) ?? "global";

export function guard(deps: { cfg: Config; redis: Redis }, opts: GuardOptions = {}): MiddlewareHandler {
  const { refuse = v1Refuse, keyHeader, keys = deps.cfg.apiKeys, basic = false } = opts;
  const known = keys.map(sha256);
  const isKnown = (key: string) => {
    const h = sha256(key);
    return known.reduce((hit, k) => timingSafeEqual(h, k) || hit, false);
  };
  const keyOf = (c: Context) => {
    const auth = c.req.header("authorization") ?? "";
    const basicAuth = basic ? /^Basic (.+)$/.exec(auth)?.[1] : undefined;
    if (basicAuth) return Buffer.from(basicAuth, "base64").toString().split(":").slice(1).join(":");
    return /^Bearer (.+)$/.exec(auth)?.[1] ?? (keyHeader && c.req.header(keyHeader)) ?? socketKey(c);
  };
  return async (c, next) => {
    // Without keys, clients are told apart by their address (never by a
    // header they could set themselves).
    let who = getConnInfo(c).remote.address ?? "unknown";
    if (keys.length) {
      const key = keyOf(c);
      if (!key || !isKnown(key)) {
        c.header("WWW-Authenticate", basic ? 'Basic realm="ruse"' : "Bearer");
        return refuse(
          c,
          401,
          `missing or unknown API key (Authorization: Bearer KEY${keyHeader ? `, or ${keyHeader}: KEY` : ""})`,
        );
      }
      const hash = sha256(key).toString("base64url");
      who = `key:${hash}`;
      callers.set(c.req.raw, hash);
    }
    if (deps.cfg.rateLimit > 0) {
      const key = `ruse:rate:${who}:${Math.floor(Date.now() / 1000)}`;
      const [[, n]] = (await deps.redis.multi().incr(key).expire(key, 2).exec()) as [[null, number]];
      if (n > deps.cfg.rateLimit) {
        c.header("Retry-After", "1");
        return refuse(c, 429, `rate limit: at most ${deps.cfg.rateLimit} requests per second`);
      }
    }
    await next();
  };
}

// A small typed client of the ruse HTTP API (v1), with fetch: what the
// `ruse run | judge | languages` commands send and read. The server's URL is
// --url, else $RUSE_URL, else http://127.0.0.1:3000 (the server's default
// PORT, core/config.ts); its API key --key, else $RUSE_API_KEY, sent as
// `Authorization: Bearer KEY`. Only types come from core/: the client loads
// none of the server's code.
import { setTimeout as sleep } from "node:timers/promises";
import type { RunRequest, RunResult } from "../core/schemas.js";

export const DEFAULT_URL = "http://127.0.0.1:3000";

/** A run as the client sends it: the server fills in what is left out (stdin "", args [], ...). */
export type RunBody = Pick<RunRequest, "language"> & Partial<Omit<RunRequest, "language">>;

/** One entry of GET /v1/languages. */
export interface LanguageInfo {
  id: string;
  name: string;
  /** read from the built image; null: not built on the server */
  version: string | null;
  /** its images are built on the server (if not, the first run builds them, or is refused) */
  ready: boolean;
  /** the name the source is written to (main.py, main.cpp, Main.java) */
  sourceFile: string;
  compiled: boolean;
  helloWorld: string;
}

/** POST /v1/runs answered 202: the run is queued, its result to be polled. */
export interface Queued {
  id: string;
  status: "queued";
}

/** The API's error body: `{error, issues?: [{path, message}]}`. */
export interface ApiErrorBody {
  error: string;
  issues?: { path: string; message: string }[];
}

/** The server answered with an error status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
    /** Retry-After, in seconds, when the server gave one (429, 503) */
    readonly retryAfter?: string,
  ) {
    const issues = body.issues?.length ? `: ${body.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}` : "";
    const retry = retryAfter ? ` (retry after ${retryAfter} s)` : "";
    super(`${status} ${body.error}${issues}${retry}`);
    this.name = "ApiError";
  }
}

/** Nothing answered at the server's URL (refused, unknown host, reset, timed out). */
export class Unreachable extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    const why = (cause as { cause?: { message?: string } })?.cause?.message ?? (cause as Error)?.message ?? `${cause}`;
    super(`cannot reach the ruse server at ${url} (${why}): is it running? (--url or RUSE_URL)`);
    this.name = "Unreachable";
  }
}

/** --url or RUSE_URL is not an http(s) URL. */
export class InvalidUrl extends Error {
  override name = "InvalidUrl";
}

export interface ClientOptions {
  url?: string;
  key?: string;
  env?: NodeJS.ProcessEnv;
}

export class RuseClient {
  /** the server's URL, without a trailing slash */
  readonly url: string;
  private readonly key: string | undefined;

  constructor(opts: ClientOptions = {}) {
    const env = opts.env ?? process.env;
    const url = opts.url || env.RUSE_URL || DEFAULT_URL;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new InvalidUrl(`not a URL: "${url}" (--url or RUSE_URL, such as ${DEFAULT_URL})`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
      throw new InvalidUrl(`not an http(s) URL: "${url}" (--url or RUSE_URL)`);
    this.url = url.replace(/\/+$/, "");
    this.key = opts.key || env.RUSE_API_KEY || undefined;
  }

  /** One request; the answer's status and parsed JSON body. Throws Unreachable when nothing answers. */
  private async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.key) headers.authorization = `Bearer ${this.key}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new Unreachable(this.url, e);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.status >= 400) {
      const err =
        json && typeof json === "object" && typeof (json as ApiErrorBody).error === "string"
          ? (json as ApiErrorBody)
          : { error: text.trim().split("\n")[0]?.slice(0, 200) || res.statusText || "error" };
      throw new ApiError(res.status, err, res.headers.get("retry-after") ?? undefined);
    }
    if (json === undefined)
      throw new ApiError(res.status, { error: `not a JSON answer from ${this.url}${path}: ${text.slice(0, 200)}` });
    return { status: res.status, json };
  }

  /** GET /v1/languages: the languages the server runs. */
  async languages(): Promise<LanguageInfo[]> {
    return (await this.request("GET", "/v1/languages")).json as LanguageInfo[];
  }

  /** POST /v1/runs (wait=true: held until completed, or 202 once the server's wait limit passes). */
  async submit(body: RunBody, wait = true): Promise<RunResult | Queued> {
    const r = await this.request("POST", `/v1/runs${wait ? "?wait=true" : ""}`, body);
    return r.json as RunResult | Queued;
  }

  /** GET /v1/runs/{id}: the run's status, and once completed its result. */
  async get(id: string): Promise<RunResult> {
    return (await this.request("GET", `/v1/runs/${encodeURIComponent(id)}`)).json as RunResult;
  }

  /**
   * GET /v1/runs/{id} until its status is completed: every 100 ms at first,
   * then less often (at most every second); a 429 waits its Retry-After.
   */
  async poll(id: string): Promise<RunResult> {
    let every = 100;
    for (;;) {
      try {
        const r = await this.get(id);
        if (r.status === "completed") return r;
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 429)) throw e;
        await sleep(Math.max(1, Number(e.retryAfter) || 1) * 1000);
        continue;
      }
      await sleep(every);
      every = Math.min(1000, Math.round(every * 1.5));
    }
  }

  /** A run to its end: POST ?wait=true, then, if it is answered queued (202), poll. */
  async run(body: RunBody, onQueued?: (id: string) => void): Promise<RunResult> {
    const r = await this.submit(body, true);
    if (r.status === "completed") return r as RunResult;
    onQueued?.(r.id);
    return this.poll(r.id);
  }
}

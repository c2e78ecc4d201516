// Streamed runs, for a playground's terminal: GET /v1/runs/stream upgrades
// to a WebSocket; the client sends the run (POST /v1/runs's body), then its
// stdin as it types; it gets the stages, stdout and stderr as they come, and
// the result at the end. A streamed run is an ordinary run (one queue, one
// verdict logic, the same limits: its wall limit counts from its start,
// typing time included); only its stdin and output travel as they come,
// through Redis (core/stream.ts). Piston's /api/v2/connect is the same run
// in Piston's messages (compat/piston-connect.ts).
import { upgradeWebSocket } from "@hono/node-server";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { WSContext } from "hono/ws";
import { Redis } from "ioredis";
import { randomUUID } from "node:crypto";
import type { Config } from "../core/config.js";
import type { Log } from "../core/log.js";
import { runRequestSchema, type RunRequest, type RunResult, type Stage } from "../core/schemas.js";
import { redisOptions } from "../core/store.js";
import {
  STREAM_IN_KEY,
  STREAM_OUT_CHANNEL,
  streamOutputSchema,
  type StreamInput,
  type StreamOutput,
} from "../core/stream.js";
import type { RunSubmitter } from "./enqueue.js";
import type { Issue } from "./reply.js";

/** Streams open at once per API process: each holds a socket and a subscription. */
export const MAX_STREAMS = 256;
/** A socket that has not sent its run by then is closed (it would hold a place for nothing). */
export const INIT_TIMEOUT_MS = 10_000;
/** After the result, how long the last output may still take to come (it travels on another channel). */
const END_GRACE_MS = 500;

/** One subscriber connection per API process for every streamed run's output, and the pushes of their stdin. */
export class StreamHub {
  private readonly following = new Map<string, (m: StreamOutput) => void>();

  private constructor(
    private readonly sub: Redis,
    private readonly redis: Redis,
    private readonly ttlSeconds: number,
  ) {
    sub.on("message", (channel: string, message: string) => {
      const m = streamOutputSchema.safeParse(JSON.parse(message));
      if (m.success) this.following.get(channel)?.(m.data);
    });
  }

  static async start(redisUrl: string, redis: Redis, cfg: Config, log: Log): Promise<StreamHub> {
    const sub = new Redis(redisOptions(redisUrl));
    sub.on("error", (e) => log.error(`redis (streams): ${e.message}`));
    await sub.ping();
    return new StreamHub(sub, redis, cfg.resultTtlSeconds);
  }

  /** Follows a run's output from now on; the returned function stops. */
  async follow(id: string, on: (m: StreamOutput) => void): Promise<() => void> {
    const channel = STREAM_OUT_CHANNEL(id);
    this.following.set(channel, on);
    await this.sub.subscribe(channel);
    return () => {
      this.following.delete(channel);
      void this.sub.unsubscribe(channel).catch(() => {});
    };
  }

  async input(id: string, m: StreamInput): Promise<void> {
    const key = STREAM_IN_KEY(id);
    await this.redis.multi().rpush(key, JSON.stringify(m)).expire(key, this.ttlSeconds).exec();
  }

  async close(): Promise<void> {
    await this.sub.quit().catch(() => {});
  }
}

/** What a streamed run tells its socket, in whichever API's words. */
export interface StreamEvents {
  queued(id: string): void;
  stage(stage: "compile" | "run", compile?: Stage | null): void;
  output(stream: "stdout" | "stderr", data: string): void;
  result(r: RunResult): void;
  refused(status: number, error: string, issues?: Issue[]): void;
}

/** What a stream may not carry: it is one run, its input typed, its output shown. */
const NOT_STREAMED = ["tests", "problem", "checker", "interactor", "collect"] as const;

/** A run's request for a stream, checked as POST /v1/runs's and for what a stream cannot carry. */
export function streamRequest(cfg: Config, raw: unknown): { request: RunRequest } | { error: string; issues: Issue[] } {
  const parsed = runRequestSchema(cfg).safeParse(raw);
  if (!parsed.success)
    return {
      error: "invalid request",
      issues: parsed.error.issues.map((i) => ({ path: i.path.join(".") || "(body)", message: i.message })),
    };
  const issues = NOT_STREAMED.filter((f) => parsed.data[f] !== undefined).map((f) => ({
    path: f,
    message: "a streamed run is one run: send it to POST /v1/runs",
  }));
  return issues.length ? { error: "invalid request", issues } : { request: parsed.data };
}

/** One streamed run: started once, fed stdin, ended when its result is out or its client goes. */
export class StreamedRun {
  readonly id = randomUUID();
  private inputBytes = 0;
  private stopFollowing?: () => void;
  private eofSent = false;

  constructor(
    private readonly cfg: Config,
    private readonly hub: StreamHub,
    private readonly submitter: RunSubmitter,
  ) {}

  async start(request: RunRequest, ev: StreamEvents): Promise<void> {
    let ended: () => void = () => {};
    const end = new Promise<void>((r) => {
      ended = r;
    });
    const tell = (m: StreamOutput) => {
      if (m.t === "stage") ev.stage(m.stage, m.compile);
      else if (m.t === "out") ev.output(m.stream, m.data);
      else ended();
    };
    // A fast worker's first messages can come before the queue's answer: they wait for "queued".
    let early: StreamOutput[] | null = [];
    this.stopFollowing = await this.hub.follow(this.id, (m) => (early ? early.push(m) : tell(m)));
    try {
      // The request's stdin is the first of the stream's.
      if (request.stdin && !(await this.stdin(request.stdin))) return ev.refused(413, this.tooMuch());
      const s = await this.submitter.submit({ ...request, stdin: "" }, true, { id: this.id });
      if ("refused" in s) return ev.refused(s.refused.status, s.refused.error, s.refused.issues);
      if ("full" in s) return ev.refused(429, s.full);
      ev.queued(this.id);
      for (const m of early) tell(m);
      early = null;
      const r = await s.result;
      if (!r) return ev.refused(503, `the run did not complete in time; its result: GET /v1/runs/${this.id}`);
      await Promise.race([end, new Promise((ok) => setTimeout(ok, END_GRACE_MS))]);
      this.eofSent = true; // over: nothing more is read
      ev.result(JSON.parse(r) as RunResult);
    } finally {
      this.stopFollowing();
    }
  }

  /** Queues stdin for the program; false when the stream's input is over RUSE_INPUT_MAX_BYTES. */
  async stdin(data: string): Promise<boolean> {
    if (this.eofSent) return true;
    this.inputBytes += Buffer.byteLength(data);
    if (this.inputBytes > this.cfg.inputMaxBytes) {
      await this.eof();
      return false;
    }
    await this.hub.input(this.id, { data });
    return true;
  }

  tooMuch(): string {
    return `the stream's input is larger than ${this.cfg.inputMaxBytes} bytes (RUSE_INPUT_MAX_BYTES)`;
  }

  async eof(): Promise<void> {
    if (this.eofSent) return;
    this.eofSent = true;
    await this.hub.input(this.id, { eof: true });
  }

  /** The client went: its program sees the end of its input, and runs on to its result, which is kept. */
  gone(): void {
    this.stopFollowing?.();
    void this.eof().catch(() => {});
  }
}

/** The JSON of a socket's message, or undefined. */
export const messageOf = (data: unknown): unknown => {
  try {
    return JSON.parse(typeof data === "string" ? data : Buffer.from(data as ArrayBuffer).toString());
  } catch {
    return undefined;
  }
};

/** Holds a place among MAX_STREAMS, closes a socket that sends nothing in time; null when there is no place. */
export function streamPlaces() {
  let open = 0;
  return {
    take(onTimeout: () => void): { release(): void; started(): void } | null {
      if (open >= MAX_STREAMS) return null;
      open++;
      const timer = setTimeout(onTimeout, INIT_TIMEOUT_MS);
      let released = false;
      return {
        started: () => clearTimeout(timer),
        release() {
          clearTimeout(timer);
          if (!released) open--;
          released = true;
        },
      };
    },
  };
}

/** GET /v1/runs/stream: the run as its first message ({...POST /v1/runs's body}), then {stdin} and {eof}. */
export function streamRoutes(app: OpenAPIHono, cfg: Config, hub: StreamHub, submitter: RunSubmitter): void {
  const places = streamPlaces();
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/v1/runs/stream",
    summary:
      'A streamed run over a WebSocket: send the run (POST /v1/runs\'s body), then {"stdin": TEXT} and {"eof": true}; get queued, stage, stdout, stderr, then result',
    responses: { 101: { description: "switching to the WebSocket protocol" } },
  });
  app.get(
    "/v1/runs/stream",
    upgradeWebSocket(() => {
      let run: StreamedRun | null = null;
      let place: ReturnType<ReturnType<typeof streamPlaces>["take"]> = null;
      const send = (ws: WSContext, m: object) => ws.readyState === 1 && ws.send(JSON.stringify(m));
      const refuse = (ws: WSContext, status: number, error: string, issues?: Issue[]) => {
        send(ws, { type: "error", status, error, ...(issues && { issues }) });
        ws.close(4000 + status, error.slice(0, 120));
      };
      return {
        onOpen(_e, ws) {
          place = places.take(() => refuse(ws, 408, `no run sent within ${INIT_TIMEOUT_MS} ms`));
          if (!place) refuse(ws, 429, `${MAX_STREAMS} streams open on this API process; try again later`);
        },
        onMessage(e, ws) {
          const m = messageOf(e.data) as Record<string, unknown> | undefined;
          if (m === undefined) return refuse(ws, 400, "a message is not valid JSON");
          if (run) {
            if (typeof m.stdin === "string")
              void run.stdin(m.stdin).then((ok) => ok || refuse(ws, 413, run!.tooMuch()));
            else if (m.eof === true) void run.eof();
            else
              send(ws, { type: "error", status: 400, error: 'after the run, send {"stdin": TEXT} or {"eof": true}' });
            return;
          }
          const made = streamRequest(cfg, m);
          if ("error" in made) return refuse(ws, 400, made.error, made.issues);
          place?.started();
          run = new StreamedRun(cfg, hub, submitter);
          void run
            .start(made.request, {
              queued: (id) => send(ws, { type: "queued", id }),
              stage: (stage) => send(ws, { type: "stage", stage }),
              output: (stream, data) => send(ws, { type: stream, data }),
              result: (result) => {
                send(ws, { type: "result", result });
                ws.close(1000, "completed");
              },
              refused: (status, error, issues) => refuse(ws, status, error, issues),
            })
            .catch(() => refuse(ws, 500, "internal error"));
        },
        onClose() {
          place?.release();
          run?.gone();
        },
      };
    }),
  );
}

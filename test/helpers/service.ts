// A private service stack for one test file: its own embedded Redis (Unix
// socket in a temporary state directory), the HTTP API on a free loopback
// port, and a worker, either in this process (startWorker) or as child
// processes (`node --import tsx worker/main.ts`) that a fault test can kill.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { loadConfig, type Config } from "../../core/config.js";
import { createLog } from "../../core/log.js";
import { startEmbeddedRedis, type EmbeddedRedis } from "../../core/redis-embedded.js";
import { startApi, type ApiHandle } from "../../api/server.js";
import { redisOptions } from "../../core/store.js";
import type { RunResult } from "../../core/schemas.js";
import { startWorker, type WorkerHandle } from "../../worker/service.js";
import { assertNotRoot } from "./sandbox.js";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));

export interface StackOptions {
  /** Environment given to loadConfig (and to worker processes), over the harness defaults. */
  env?: Record<string, string>;
  /** "inprocess": startWorker in this process; "none": no worker (start processes with startWorkerProcess). */
  worker?: "inprocess" | "none";
}

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  text: string;
  /** the body parsed as JSON, or undefined when it is not JSON */
  json: T;
}

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  output: () => string;
  /** SIGTERM (drains), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface ApiProcess {
  child: ChildProcess;
  pid: number;
  /** http://127.0.0.1:PORT of this process */
  base: string;
  output: () => string;
  /** SIGTERM, SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface Stack {
  cfg: Config;
  env: Record<string, string>;
  stateDir: string;
  redisUrl: string;
  base: string;
  port: number;
  /** What the API logged (each line's message). */
  apiMessages: string[];
  /** The API's log lines, parsed. */
  apiLines: Record<string, unknown>[];
  /** A direct Redis client for checks the API cannot make. */
  redis: Redis;
  request(
    method: string,
    path: string,
    opts?: { body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<Reply>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Reply>;
  get(path: string, headers?: Record<string, string>): Promise<Reply>;
  /** POST /v1/runs (async), then GET until completed. */
  run(body: unknown, deadlineMs?: number): Promise<RunResult>;
  /** GET /v1/runs/:id until status is completed, or throws at the deadline. */
  poll(id: string, deadlineMs?: number): Promise<RunResult>;
  startInProcessWorker(): Promise<WorkerHandle>;
  startWorkerProcess(extraEnv?: Record<string, string>): Promise<WorkerProcess>;
  /** Another API on the same Redis, as `npm run api` starts it (`node --import tsx api/main.ts`), that a test can kill. */
  startApiProcess(extraEnv?: Record<string, string>): Promise<ApiProcess>;
  /** Workers registered with the queue (BullMQ's own count). */
  workerCount(): Promise<number>;
  stopRedis(): Promise<void>;
  /** Starts redis-server again on the same state directory (AOF replay). */
  restartRedis(): Promise<void>;
  stop(): Promise<void>;
}

/** f's first truthy value, tried every `everyMs` (a throw counts as not yet), or a throw at the deadline. */
export async function waitFor<T>(
  what: string,
  f: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  deadlineMs = 30_000,
  everyMs = 50,
): Promise<T> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
    await sleep(everyMs);
  }
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  assertNotRoot();
  const stateDir = mkdtempSync(join(tmpdir(), "ruse-svc-"));
  const env: Record<string, string> = {
    HOME: process.env.HOME ?? stateDir,
    RUSE_STATE_DIR: stateDir,
    PORT: "0",
    RUSE_CONCURRENCY: "2",
    RUSE_RATE_LIMIT: "0",
    ...opts.env,
  };
  const cfg = loadConfig(env);

  let embedded: EmbeddedRedis | null = await startEmbeddedRedis(stateDir);
  const redisUrl = embedded.url;
  const redis = new Redis(redisOptions(redisUrl));
  redis.on("error", () => {}); // Redis restarts are part of the fault tests; ioredis reconnects

  // The API's log lines are kept (their messages, for tests of what it says at start), and
  // only its warnings and errors printed: a line per request would bury a failing test's output.
  const apiMessages: string[] = [];
  const apiLines: Record<string, unknown>[] = [];
  const apiLog = createLog("api", "info", {
    write(line: string) {
      const parsed = JSON.parse(line) as { msg: string; level: number };
      const { msg, level } = parsed;
      apiLines.push(parsed);
      apiMessages.push(msg);
      if (level >= 40) process.stderr.write(line);
    },
  });
  let api: ApiHandle;
  try {
    api = await startApi(cfg, redisUrl, apiLog);
  } catch (e) {
    redis.disconnect();
    await embedded.stop();
    rmSync(stateDir, { recursive: true, force: true });
    throw e;
  }
  const base = `http://127.0.0.1:${api.port}`;

  const inProcess: WorkerHandle[] = [];
  const processes: WorkerProcess[] = [];

  const request: Stack["request"] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    let body: string | undefined = o.raw;
    if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers["content-type"] ??= "application/json";
    } else if (o.raw !== undefined) headers["content-type"] ??= "application/json";
    const res = await fetch(base + path, { method, headers, body });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };
  const post = (path: string, body: unknown, headers?: Record<string, string>) =>
    request("POST", path, { body, headers });
  const get = (path: string, headers?: Record<string, string>) => request("GET", path, { headers });
  const poll = async (id: string, deadlineMs = 60_000): Promise<RunResult> =>
    waitFor(
      `run ${id} to complete`,
      async () => {
        const r = await get(`/v1/runs/${id}`);
        if (r.status !== 200) throw new Error(`GET /v1/runs/${id}: ${r.status} ${r.text}`);
        return r.json.status === "completed" ? (r.json as RunResult) : null;
      },
      deadlineMs,
      100,
    );
  const run = async (body: unknown, deadlineMs?: number): Promise<RunResult> => {
    const r = await post("/v1/runs", body);
    if (r.status !== 202) throw new Error(`POST /v1/runs: ${r.status} ${r.text}`);
    return poll(r.json.id, deadlineMs);
  };

  const workerCount = async () => {
    const r = await get("/healthz");
    return Number(r.json?.workers ?? 0);
  };

  const startInProcessWorker = async () => {
    const w = await startWorker(cfg, redisUrl, createLog("worker", "warn"));
    inProcess.push(w);
    return w;
  };

  const startWorkerProcess = async (extraEnv: Record<string, string> = {}): Promise<WorkerProcess> => {
    const before = await workerCount();
    const child = spawn(process.execPath, ["--import", "tsx", "worker/main.ts"], {
      cwd: REPO,
      env: { ...process.env, ...env, REDIS_URL: redisUrl, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d));
    child.stderr!.on("data", (d: Buffer) => (out += d));
    const exited = once(child, "exit");
    const w: WorkerProcess = {
      child,
      pid: child.pid!,
      output: () => out,
      async stop(graceMs = 30_000) {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(t);
      },
    };
    processes.push(w);
    await waitFor(
      `worker process ${child.pid} to register (output so far: ${out})`,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`worker exited: ${out}`);
        return (await workerCount()) > before;
      },
      30_000,
      100,
    );
    return w;
  };

  const apiProcesses: ApiProcess[] = [];
  const startApiProcess = async (extraEnv: Record<string, string> = {}): Promise<ApiProcess> => {
    const child = spawn(process.execPath, ["--import", "tsx", "api/main.ts"], {
      cwd: REPO,
      env: { ...process.env, ...env, REDIS_URL: redisUrl, PORT: "0", ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d));
    child.stderr!.on("data", (d: Buffer) => (out += d));
    const exited = once(child, "exit");
    const stop = async (graceMs = 10_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(t);
    };
    const handle: ApiProcess = { child, pid: child.pid!, base: "", output: () => out, stop };
    apiProcesses.push(handle); // stopped with the stack even if it never listens
    // Its port (PORT=0: the kernel's choice) from its start-up line.
    const port = await waitFor(
      `API process ${child.pid} to listen (output so far: ${out})`,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`API exited: ${out}`);
        return /"msg":"listening on http:\/\/[^:]+:(\d+)/.exec(out)?.[1];
      },
      30_000,
      100,
    );
    handle.base = `http://127.0.0.1:${port}`;
    return handle;
  };

  const stack: Stack = {
    cfg,
    env,
    stateDir,
    redisUrl,
    base,
    port: api.port,
    apiMessages,
    apiLines,
    redis,
    request,
    post,
    get,
    run,
    poll,
    startInProcessWorker,
    startWorkerProcess,
    startApiProcess,
    workerCount,
    async stopRedis() {
      await embedded?.stop();
      embedded = null;
    },
    async restartRedis() {
      if (embedded) throw new Error("redis is running");
      embedded = await startEmbeddedRedis(stateDir);
    },
    async stop() {
      // Clients close cleanly only against a live Redis: bring it back if a test stopped it.
      if (!embedded) embedded = await startEmbeddedRedis(stateDir).catch(() => null);
      for (const a of apiProcesses) await a.stop().catch(() => {});
      await api.close().catch(() => {});
      for (const w of inProcess) await w.close().catch(() => {});
      for (const w of processes) await w.stop(10_000).catch(() => {});
      redis.disconnect();
      await embedded?.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  if (opts.worker === "inprocess")
    await startInProcessWorker().catch(async (e) => {
      await stack.stop();
      throw e;
    });
  return stack;
}

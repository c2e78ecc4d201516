// The service as `npm start` runs it, for the benchmarks that go through
// HTTP: an embedded Redis, the API in this process, the worker in a process
// of its own; and a lean HTTP client for the load generator, which shares
// the two cores with the service (fetch costs about 1 ms of CPU per request
// here, which would be charged to the service).
import { pino } from "pino";
import { createLog } from "../core/log.js";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { startApi } from "../api/server.js";
import { loadConfig } from "../core/config.js";
import { startEmbeddedRedis } from "../core/redis-embedded.js";

export interface BenchService {
  base: string;
  workerPid: number;
  redisUrl: string;
  /** Stops it all and removes its state directory. */
  stop(): Promise<void>;
}

export async function startBenchService(parallel: number): Promise<BenchService> {
  const state = mkdtempSync(join(tmpdir(), "ruse-bench-"));
  const env = { HOME: state, RUSE_STATE_DIR: state, RUSE_CONCURRENCY: String(parallel) };
  const cfg = loadConfig({ ...env, PORT: "0", RUSE_RATE_LIMIT: "0" });
  const redis = await startEmbeddedRedis(state);
  const workerMain = fileURLToPath(new URL("../worker/main.ts", import.meta.url));
  // Logs at info, as deployed (their cost is measured), into /dev/null rather than over the figures.
  const worker = spawn(process.execPath, ["--import", "tsx", workerMain], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, ...env, REDIS_URL: redis.url },
  });
  const api = await startApi(cfg, redis.url, createLog("api", "info", pino.destination("/dev/null")));
  const base = `http://127.0.0.1:${api.port}`;
  while ((await fetch(`${base}/healthz`)).status !== 200) await sleep(50);
  return {
    base,
    workerPid: worker.pid!,
    redisUrl: redis.url,
    async stop() {
      await api.close();
      worker.kill("SIGTERM");
      await new Promise((r) => worker.once("exit", r));
      await redis.stop();
      rmSync(state, { recursive: true, force: true });
    },
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: 8 });

/** One request on a kept-alive connection; its status and body. */
export function send(method: string, url: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> =
      body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
    const req = request(url, { method, agent, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

// `npm start`: the whole service on one machine: its own Redis when
// REDIS_URL is unset, one worker process, and the API.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../core/config.js";
import { createLog } from "../core/log.js";
import { startEmbeddedRedis, type EmbeddedRedis } from "../core/redis-embedded.js";
import { startApi } from "./server.js";

const cfg = loadConfig();
const log = createLog("api", cfg.logLevel);
let embedded: EmbeddedRedis | null = null;
if (!cfg.redisUrl) {
  embedded = await startEmbeddedRedis(cfg.stateDir, cfg.redisMaxMemoryBytes);
  log.info(`redis: embedded at ${embedded.url} (set REDIS_URL to use another)`);
}
const redisUrl = cfg.redisUrl ?? embedded!.url;
const workerMain = fileURLToPath(new URL("../worker/main.ts", import.meta.url));
const worker = spawn(process.execPath, ["--import", "tsx", workerMain], {
  stdio: "inherit",
  env: { ...process.env, REDIS_URL: redisUrl },
});
const api = await startApi(cfg, redisUrl, log);

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await api.close();
    if (worker.exitCode === null) {
      worker.kill("SIGTERM"); // drains
      await new Promise((r) => worker.once("exit", r));
    }
    await embedded?.stop();
  }
  process.exit(code);
}
worker.on("exit", (code) => void (stopping || stop(code ?? 1)));
for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => void stop(0));

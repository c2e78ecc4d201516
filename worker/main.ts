// `npm run worker`: a worker alone, on the Redis at REDIS_URL. SIGTERM
// drains it: no new jobs, the runs in flight finish, then it exits.
import { availableParallelism } from "node:os";
import { loadConfig } from "../api/config.js";
import { startWorker } from "./service.js";

const cfg = loadConfig(process.env, availableParallelism());
if (!cfg.redisUrl) throw new Error("npm run worker needs REDIS_URL (npm start embeds a Redis when it is unset)");
const worker = await startWorker(cfg, cfg.redisUrl, Number(process.env.RUSE_JOB_LOCK_MS ?? 30_000));
for (const sig of ["SIGTERM", "SIGINT"] as const)
  process.once(sig, () => {
    console.log(`worker: ${sig}: draining`);
    void worker.close().then(() => process.exit(0));
  });

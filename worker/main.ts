// `npm run worker`: a worker alone, on the Redis at REDIS_URL. SIGTERM
// drains it: no new jobs, the runs in flight finish, then it exits.
import { loadConfig } from "../core/config.js";
import { createLog } from "../core/log.js";
import { startWorker } from "./service.js";

const cfg = loadConfig();
if (!cfg.redisUrl) throw new Error("npm run worker needs REDIS_URL (npm start embeds a Redis when it is unset)");
const log = createLog("worker", cfg.logLevel);
const worker = await startWorker(cfg, cfg.redisUrl, log);
for (const sig of ["SIGTERM", "SIGINT"] as const)
  process.once(sig, () => {
    log.info(`${sig}: draining`);
    void worker.close().then(() => process.exit(0));
  });

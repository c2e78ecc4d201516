// `npm run api`: the HTTP API alone, on the Redis at REDIS_URL (scale out by
// running it on as many machines as you like).
import { loadConfig } from "../core/config.js";
import { startApi } from "./server.js";

const cfg = loadConfig();
if (!cfg.redisUrl) throw new Error("npm run api needs REDIS_URL (npm start embeds a Redis when it is unset)");
const api = await startApi(cfg, cfg.redisUrl);
for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => void api.close().then(() => process.exit(0)));

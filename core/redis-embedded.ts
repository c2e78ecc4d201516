// The embedded default: with REDIS_URL unset, `npm start` runs its own
// redis-server on a Unix socket in the state directory (no TCP port), with
// append-only persistence, and stops it on exit. Its memory is capped
// (maxmemory) so that a flood makes Redis refuse writes (the API answers
// 503) instead of growing until the kernel kills it and every queued run
// is lost; the policy is noeviction, the one BullMQ works with (it warns
// at start on any other): an evicted job or lock is a run lost or run twice.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { DEFAULT_REDIS_MAX_MEMORY } from "./config.js";

export interface EmbeddedRedis {
  url: string;
  stop(): Promise<void>;
}

export async function startEmbeddedRedis(
  stateDir: string,
  maxMemoryBytes = DEFAULT_REDIS_MAX_MEMORY,
): Promise<EmbeddedRedis> {
  const dir = join(stateDir, "redis");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socket = join(dir, "redis.sock");
  // setpriv --pdeathsig: if this process dies without stopping it, Redis gets
  // SIGTERM (it still writes its AOF) instead of living on as an orphan.
  const child: ChildProcess = spawn(
    "setpriv",
    [
      "--pdeathsig",
      "TERM",
      "--",
      "redis-server",
      "--port",
      "0",
      "--unixsocket",
      socket,
      "--unixsocketperm",
      "700",
      "--dir",
      dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      "everysec",
      "--save",
      "",
      "--maxmemory",
      String(maxMemoryBytes),
      "--maxmemory-policy",
      "noeviction",
      "--daemonize",
      "no",
      "--loglevel",
      "warning",
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  let exited = false;
  child.on("exit", () => (exited = true));
  const url = `unix://${socket}`;
  for (let i = 0; i < 200 && !exited; i++) {
    if (existsSync(socket)) {
      const probe = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await probe.connect();
        // AOF replay: wait until Redis has loaded what it had before a restart.
        while ((await probe.info("persistence")).includes("loading:1")) await sleep(20);
        probe.disconnect();
        return {
          url,
          stop: async () => {
            if (exited) return;
            child.kill("SIGTERM");
            await new Promise((r) => child.once("exit", r));
          },
        };
      } catch {
        probe.disconnect();
      }
    }
    await sleep(25);
  }
  child.kill("SIGKILL");
  throw new Error(
    `redis-server did not start on ${socket} (is Debian's redis-server installed? scripts/setup.sh installs it)`,
  );
}

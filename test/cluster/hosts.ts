// The hosts of the cluster lane (scripts/cluster/lane.sh made their network
// namespaces, a bridge and the Redis): an API or a worker started in its
// namespace as the product starts it, through scripts/as-worker.sh, so that
// it runs as the worker user although this suite runs as root (root only
// enters the namespaces and cuts links).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, chownSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Queue } from "bullmq";
import { QUEUE, redisOptions } from "../../core/store.js";
import { descendants, type Proc } from "../helpers/processes.js";
import { REPO, waitFor } from "../helpers/service.js";

const env = process.env;
export const IN_LANE = !!(env.RUSE_CLUSTER_NET && env.RUSE_CLUSTER_DIR && env.RUSE_CLUSTER_REDIS_PASS);
const NET = env.RUSE_CLUSTER_NET ?? "";
const DIR = env.RUSE_CLUSTER_DIR ?? "";
const USER = env.RUSE_USER ?? "ruse";
export const REDIS_URL = `redis://:${encodeURIComponent(env.RUSE_CLUSTER_REDIS_PASS ?? "")}@${NET}.2:6379`;
export const API_KEY = "cluster-lane-key";
/**
 * Short, so that a dead or cut-off host's runs move on within seconds
 * (README: RUSE_JOB_LOCK_MS); long enough that a live host whose event loop
 * stalls for a second or two on a loaded 2-core machine keeps its locks
 * (BullMQ renews them at half of it).
 */
export const LOCK_MS = 6000;

/** Each host's last address byte, as the lane gave it. */
const ADDRESS: Record<string, number> = { redis: 2, api1: 11, api2: 12, w1: 21, w2: 22, w3: 23 };
export const address = (name: string): string => `${NET}.${ADDRESS[name]}`;

/** The worker user's uid, and the four uids (real, effective, saved, fs) of a process. */
export const workerUid = (): number => Number(execFileSync("id", ["-u", USER], { encoding: "utf8" }).trim());
export function uids(pid: number): number[] {
  const line = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]!;
  return line.trim().split(/\s+/).map(Number);
}

/** Processes in a namespace's network namespace (ip netns pids), e.g. the Redis's. */
export const netnsPids = (name: string): number[] =>
  execFileSync("ip", ["netns", "pids", `ruse-${name}`], { encoding: "utf8" })
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);

/** Sets a host's link to the bridge down or up (its end on this machine's side). */
export const setLink = (name: string, state: "up" | "down"): void => {
  execFileSync("ip", ["link", "set", `rcl-${name}`, state]);
};

/** A worker's line for each run it finished (worker/service.ts): duplicate when another's result was stored first. */
export interface RunLine {
  run: string;
  verdict: string;
  duplicate?: boolean;
}

export interface HostProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  /** The worker user's uid, which the host runs as. */
  uid: number;
  /** Its JSON log lines so far. */
  lines(): Record<string, any>[];
  /** The runs it logged as done: one line per run it finished ({run, verdict, duplicate?}). */
  runLines(): RunLine[];
  output(): string;
  /** kill -9 of the host's whole tree, as if the machine died. */
  killTree(): Promise<Proc[]>;
  /** SIGTERM (a worker drains), SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

/** A directory of the lane's, owned by the worker user (a host's RUSE_STATE_DIR). */
function stateDir(name: string): string {
  const dir = join(DIR, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chownSync(dir, workerUid(), Number(execFileSync("id", ["-g", USER], { encoding: "utf8" }).trim()));
  return dir;
}

/** Starts `node --import tsx ENTRY` in ruse-NAME as the worker user. */
function startInNamespace(name: string, entry: string, extra: Record<string, string>): HostProcess {
  const child = spawn(
    "nsenter",
    [`--net=/run/netns/ruse-${name}`, "bash", "scripts/as-worker.sh", process.execPath, "--import", "tsx", entry],
    {
      cwd: REPO,
      // Only what the product reads: this suite's (root's) environment stays here.
      env: {
        PATH: env.PATH ?? "/usr/bin:/bin",
        RUSE_USER: USER,
        REDIS_URL,
        RUSE_STATE_DIR: stateDir(name),
        RUSE_JOB_LOCK_MS: String(LOCK_MS),
        RUSE_LANGUAGES: "bash,python",
        RUSE_LOG_LEVEL: "info",
        ...extra,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  const parsed: Record<string, any>[] = [];
  let partial = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d;
    const text = partial + d;
    const lines = text.split("\n");
    partial = lines.pop()!;
    for (const l of lines)
      try {
        parsed.push(JSON.parse(l));
      } catch {
        /* not a log line */
      }
  });
  child.stderr!.on("data", (d: Buffer) => (out += d));
  const exited = once(child, "exit");
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    name,
    child,
    pid: child.pid!,
    uid: workerUid(),
    lines: () => parsed,
    runLines: () => parsed.filter((l): l is RunLine & { msg: string } => l.msg === "run"),
    output: () => out,
    async killTree() {
      const tree = [{ pid: child.pid! } as Proc, ...descendants(child.pid!)];
      for (const p of tree)
        try {
          process.kill(p.pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      await exited;
      return tree;
    },
    async stop(graceMs = 20_000) {
      if (gone()) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

/** BullMQ's own list of workers names each one's address: the host is up once its address is there. */
async function registered(queue: Queue, name: string): Promise<boolean> {
  const workers = await queue.getWorkers();
  return workers.some((w) => String(w.addr).startsWith(`${address(name)}:`));
}

export async function startWorkerHost(name: string, queue: Queue): Promise<HostProcess> {
  const h = startInNamespace(name, "worker/main.ts", { RUSE_CONCURRENCY: "2" });
  await waitFor(
    `worker ${name} to register with the queue`,
    async () => {
      if (h.child.exitCode !== null) throw new Error(`worker ${name} exited: ${h.output()}`);
      return registered(queue, name);
    },
    120_000,
  );
  return h;
}

export async function startApiHost(name: string): Promise<HostProcess> {
  const h = startInNamespace(name, "api/main.ts", {
    HOST: address(name),
    PORT: "3000",
    RUSE_API_KEYS: API_KEY,
    RUSE_RATE_LIMIT: "0",
  });
  await waitFor(
    `API ${name} to listen`,
    async () => {
      if (h.child.exitCode !== null) throw new Error(`API ${name} exited: ${h.output()}`);
      return h.lines().some((l) => String(l.msg).startsWith("listening on"));
    },
    60_000,
  );
  return h;
}

/** Starts redis-server again in ruse-redis from the lane's configuration, on the same directory (AOF). */
export function startRedis(): ChildProcess {
  return spawn(
    "nsenter",
    [
      "--net=/run/netns/ruse-redis",
      "setpriv",
      "--reuid",
      USER,
      "--regid",
      USER,
      "--init-groups",
      "redis-server",
      join(DIR, "redis", "redis.conf"),
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
}

export const newQueue = (): Queue => new Queue(QUEUE, { connection: redisOptions(REDIS_URL) });

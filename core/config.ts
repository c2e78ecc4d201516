// The service's configuration, from the environment, read once at start by
// each process (API, worker, CLI). Every RUSE_* variable is read here and
// nowhere else; each one and its default is listed in the README
// (Configuration).
import { availableParallelism } from "node:os";
import { limitPolicies, type LimitPolicies } from "./limits.js";

/** Where the images are, when the environment says (else rootfs/ chooses: rootfs/manifest.ts). */
export interface ImagePaths {
  /** RUSE_IMAGE_CACHE: the built images and their manifest */
  cacheDir?: string;
  /** RUSE_IMAGE_MOUNTS: where each image is mounted read-only */
  mountRoot?: string;
}

/** Which languages' images a machine builds, and whether its workers build the others when a run needs one. */
export interface ImageChoice {
  /** RUSE_LANGUAGES: language ids, or ["all"]; what `npm start` and `npm run images` build */
  languages: string[];
  /** RUSE_BUILD_ON_DEMAND ("0": off): a run for a catalogued language not built here waits while its worker builds it */
  onDemand: boolean;
}

/** The eight languages of ruse's first release: what a machine builds unless told otherwise. */
export const DEFAULT_LANGUAGES = ["bash", "c", "cpp", "python", "javascript", "java", "go", "rust"];

/** Where the worker makes a cgroup per run; unset: /sys/fs/cgroup and "ruse" (worker/sandbox/host.ts). */
export interface CgroupPlace {
  /** RUSE_CGROUP_ROOT: the cgroup file system's mount point */
  root?: string;
  /** RUSE_CGROUP_NAME: the delegated directory's name (v1: under each controller; v2 without systemd) */
  name?: string;
}

export interface Config {
  port: number;
  /** pino's level: fatal, error, warn, info, debug, trace or silent */
  logLevel: string;
  host: string;
  redisUrl: string | undefined;
  /** the embedded Redis's maxmemory (bytes; noeviction): past it Redis refuses writes instead of being OOM-killed */
  redisMaxMemoryBytes: number;
  stateDir: string;
  /** keys that open the queue dashboard (/admin/queues); with API keys on and none, it is off */
  adminKeys: string[];
  apiKeys: string[];
  /** requests per second per API key (or per client address without keys) */
  rateLimit: number;
  /** queued runs beyond which POST answers 429 */
  maxQueue: number;
  resultTtlSeconds: number;
  waitMaxMs: number;
  bodyMaxBytes: number;
  /** a run's stdin, or one of its tests' inputs, at most (bytes) */
  inputMaxBytes: number;
  /** PUT /v1/problems: the largest body (a problem's tests, JSON) */
  problemBodyMaxBytes: number;
  /** one test's input or answer uploaded raw (PUT /v1/problems/{id}/tests/{n}/{part}) at most */
  problemInputMaxBytes: number;
  /** test data the problem store holds at most, each distinct input or answer once */
  problemStoreMaxBytes: number;
  /** a worker's local cache of test data */
  testCacheMaxBytes: number;
  /** the `host` or `host:port` a run's callbackUrl may name; empty: callbacks off */
  callbackAllow: string[];
  /** signs every callback (HMAC-SHA256); required for callbacks */
  callbackSecret: string | undefined;
  /** tries of a callback before it is given up (1 s, 2 s, 4 s ... apart) */
  callbackAttempts: number;
  /** runs in one POST /v1/batches at most */
  maxBatch: number;
  maxFiles: number;
  maxTests: number;
  allowNetwork: boolean;
  limits: LimitPolicies;
  /** sandbox slots per worker: runs at once */
  concurrency: number;
  /** how long a worker's lock on a run lasts without renewal: a dead worker's run moves on after it */
  jobLockMs: number;
  /** accept the documented weaker mode without subordinate ids (README: Weaker mode) */
  weakSameUid: boolean;
  cgroup: CgroupPlace;
  images: ImageChoice;
}

/** RUSE_REDIS_MAX_MEMORY's default: room for the problem store's 1 GiB (about 1.2 GiB in Redis) and the queue. */
export const DEFAULT_REDIS_MAX_MEMORY = 2 ** 31;

const int = (v: string | undefined, dflt: number, name: string): number => {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got "${v}"`);
  return n;
};
const path = (v: string | undefined): string | undefined => v || undefined;
const list = (v: string | undefined): string[] =>
  (v ?? "")
    .split(",")
    .map((k) => k.trim())
    .filter(Boolean);

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
function logLevel(v: string | undefined): string {
  if (v && !LOG_LEVELS.includes(v)) throw new Error(`RUSE_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}`);
  return v || "info";
}

/** The image locations alone, for rootfs/, which builds and mounts them without a service config. */
export const imagePaths = (env: NodeJS.ProcessEnv = process.env): ImagePaths => ({
  cacheDir: path(env.RUSE_IMAGE_CACHE),
  mountRoot: path(env.RUSE_IMAGE_MOUNTS),
});

/** The image set alone, for rootfs/images.ts. */
export const imageChoice = (env: NodeJS.ProcessEnv = process.env): ImageChoice => ({
  languages: env.RUSE_LANGUAGES ? list(env.RUSE_LANGUAGES) : DEFAULT_LANGUAGES,
  onDemand: env.RUSE_BUILD_ON_DEMAND !== "0",
});

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cpus = availableParallelism()): Config {
  const cfg: Config = {
    port: int(env.PORT, 3000, "PORT"),
    logLevel: logLevel(env.RUSE_LOG_LEVEL),
    host: env.HOST || "127.0.0.1",
    redisUrl: env.REDIS_URL || undefined,
    redisMaxMemoryBytes: int(env.RUSE_REDIS_MAX_MEMORY, DEFAULT_REDIS_MAX_MEMORY, "RUSE_REDIS_MAX_MEMORY"),
    stateDir: env.RUSE_STATE_DIR || `${env.HOME ?? "/tmp"}/.local/state/ruse`,
    apiKeys: list(env.RUSE_API_KEYS),
    adminKeys: list(env.RUSE_ADMIN_KEYS),
    rateLimit: int(env.RUSE_RATE_LIMIT, 50, "RUSE_RATE_LIMIT"),
    maxQueue: int(env.RUSE_MAX_QUEUE, 1000, "RUSE_MAX_QUEUE"),
    resultTtlSeconds: int(env.RUSE_RESULT_TTL, 3600, "RUSE_RESULT_TTL"),
    waitMaxMs: int(env.RUSE_WAIT_MAX_MS, 60000, "RUSE_WAIT_MAX_MS"),
    // Room for a whole RUSE_INPUT_MAX_BYTES input as JSON, with its escapes, and the source beside it.
    bodyMaxBytes: int(env.RUSE_BODY_MAX_BYTES, 40 << 20, "RUSE_BODY_MAX_BYTES"),
    inputMaxBytes: int(env.RUSE_INPUT_MAX_BYTES, 16 << 20, "RUSE_INPUT_MAX_BYTES"),
    problemBodyMaxBytes: int(env.RUSE_PROBLEM_BODY_MAX_BYTES, 64 << 20, "RUSE_PROBLEM_BODY_MAX_BYTES"),
    problemInputMaxBytes: int(env.RUSE_PROBLEM_INPUT_MAX_BYTES, 256 << 20, "RUSE_PROBLEM_INPUT_MAX_BYTES"),
    problemStoreMaxBytes: int(env.RUSE_PROBLEM_STORE_MAX_BYTES, 1 << 30, "RUSE_PROBLEM_STORE_MAX_BYTES"),
    testCacheMaxBytes: int(env.RUSE_TEST_CACHE_MAX_BYTES, 1 << 30, "RUSE_TEST_CACHE_MAX_BYTES"),
    maxBatch: int(env.RUSE_MAX_BATCH, 1000, "RUSE_MAX_BATCH"),
    callbackAllow: list(env.RUSE_CALLBACK_ALLOW),
    callbackSecret: env.RUSE_CALLBACK_SECRET || undefined,
    callbackAttempts: int(env.RUSE_CALLBACK_ATTEMPTS, 5, "RUSE_CALLBACK_ATTEMPTS"),
    maxFiles: int(env.RUSE_MAX_FILES, 100, "RUSE_MAX_FILES"),
    maxTests: int(env.RUSE_MAX_TESTS, 200, "RUSE_MAX_TESTS"),
    allowNetwork: env.RUSE_ALLOW_NETWORK === "1",
    limits: limitPolicies(env.RUSE_LIMITS),
    concurrency: int(env.RUSE_CONCURRENCY, cpus, "RUSE_CONCURRENCY"),
    jobLockMs: int(env.RUSE_JOB_LOCK_MS, 30_000, "RUSE_JOB_LOCK_MS"),
    weakSameUid: env.RUSE_WEAK_SAME_UID === "1",
    cgroup: { root: path(env.RUSE_CGROUP_ROOT), name: path(env.RUSE_CGROUP_NAME) },
    images: imageChoice(env),
  };
  if (cfg.callbackAllow.length && !cfg.callbackSecret)
    throw new Error("RUSE_CALLBACK_ALLOW needs RUSE_CALLBACK_SECRET: every callback is signed with it");
  return cfg;
}

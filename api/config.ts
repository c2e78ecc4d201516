// Server configuration, from the environment, read once at start. Every
// variable and its default is listed in the README (Configuration).
import { z } from "zod";

export const limitFields = ["cpuMs", "wallMs", "memoryMb", "processes", "outputKb", "scratchMb"] as const;
export type LimitField = (typeof limitFields)[number];
export type Limits = Record<LimitField, number>;
export interface LimitPolicy {
  default: Limits;
  max: Limits;
}

/** Defaults and maximums of each limit; RUSE_LIMITS (JSON) overrides any part. */
export const builtinLimits: { run: LimitPolicy; compile: LimitPolicy } = {
  run: {
    default: { cpuMs: 2000, wallMs: 5000, memoryMb: 256, processes: 64, outputKb: 1024, scratchMb: 64 },
    max: { cpuMs: 20000, wallMs: 60000, memoryMb: 2048, processes: 512, outputKb: 16384, scratchMb: 1024 },
  },
  compile: {
    default: { cpuMs: 10000, wallMs: 20000, memoryMb: 1024, processes: 128, outputKb: 1024, scratchMb: 512 },
    max: { cpuMs: 60000, wallMs: 120000, memoryMb: 4096, processes: 512, outputKb: 16384, scratchMb: 2048 },
  },
};

const partialLimits = z.object(Object.fromEntries(limitFields.map((f) => [f, z.number().int().positive().optional()]))).strict();
const limitsOverride = z
  .object({
    run: z.object({ default: partialLimits.optional(), max: partialLimits.optional() }).strict().optional(),
    compile: z.object({ default: partialLimits.optional(), max: partialLimits.optional() }).strict().optional(),
  })
  .strict();

function mergeLimits(json: string | undefined): { run: LimitPolicy; compile: LimitPolicy } {
  if (!json) return builtinLimits;
  const o = limitsOverride.parse(JSON.parse(json));
  const merge = (b: LimitPolicy, x: (typeof o)["run"]): LimitPolicy => ({
    default: { ...b.default, ...x?.default } as Limits,
    max: { ...b.max, ...x?.max } as Limits,
  });
  const out = { run: merge(builtinLimits.run, o.run), compile: merge(builtinLimits.compile, o.compile) };
  for (const kind of ["run", "compile"] as const)
    for (const f of limitFields)
      if (out[kind].default[f] > out[kind].max[f]) throw new Error(`RUSE_LIMITS: ${kind} default ${f} is above its maximum`);
  return out;
}

export interface Config {
  port: number;
  host: string;
  redisUrl: string | undefined;
  stateDir: string;
  apiKeys: string[];
  /** requests per second per API key (or per client address without keys) */
  rateLimit: number;
  /** queued runs beyond which POST answers 429 */
  maxQueue: number;
  resultTtlSeconds: number;
  waitMaxMs: number;
  bodyMaxBytes: number;
  maxFiles: number;
  maxTests: number;
  allowNetwork: boolean;
  concurrency: number;
  limits: { run: LimitPolicy; compile: LimitPolicy };
}

const int = (v: string | undefined, dflt: number, name: string): number => {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got "${v}"`);
  return n;
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cpus = 2): Config {
  return {
    port: int(env.PORT, 3000, "PORT"),
    host: env.HOST || "127.0.0.1",
    redisUrl: env.REDIS_URL || undefined,
    stateDir: env.RUSE_STATE_DIR || `${env.HOME ?? "/tmp"}/.local/state/ruse`,
    apiKeys: (env.RUSE_API_KEYS ?? "").split(",").map((k) => k.trim()).filter(Boolean),
    rateLimit: int(env.RUSE_RATE_LIMIT, 50, "RUSE_RATE_LIMIT"),
    maxQueue: int(env.RUSE_MAX_QUEUE, 1000, "RUSE_MAX_QUEUE"),
    resultTtlSeconds: int(env.RUSE_RESULT_TTL, 3600, "RUSE_RESULT_TTL"),
    waitMaxMs: int(env.RUSE_WAIT_MAX_MS, 60000, "RUSE_WAIT_MAX_MS"),
    bodyMaxBytes: int(env.RUSE_BODY_MAX_BYTES, 4 << 20, "RUSE_BODY_MAX_BYTES"),
    maxFiles: int(env.RUSE_MAX_FILES, 100, "RUSE_MAX_FILES"),
    maxTests: int(env.RUSE_MAX_TESTS, 200, "RUSE_MAX_TESTS"),
    allowNetwork: env.RUSE_ALLOW_NETWORK === "1",
    concurrency: int(env.RUSE_CONCURRENCY, cpus, "RUSE_CONCURRENCY"),
    limits: mergeLimits(env.RUSE_LIMITS),
  };
}

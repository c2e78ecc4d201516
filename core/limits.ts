// A run's limits: their names, the built-in defaults and maximums, the
// server's overrides (RUSE_LIMITS) and a request's resolved values. The one
// place the service decides a limit; the languages adjust them
// (rootfs/languages.ts) and the sandbox enforces them.
import { z } from "zod";

export const limitFields = ["cpuMs", "wallMs", "memoryMb", "processes", "outputKb", "scratchMb"] as const;
export type LimitField = (typeof limitFields)[number];
export type Limits = Record<LimitField, number>;
export interface LimitPolicy {
  default: Limits;
  max: Limits;
}
/** A policy for the program's run, one for its compile (and checkers and interactors). */
export type LimitPolicies = { run: LimitPolicy; compile: LimitPolicy };

/** Defaults and maximums of each limit; RUSE_LIMITS (JSON) overrides any part. */
export const builtinLimits: LimitPolicies = {
  run: {
    default: { cpuMs: 2000, wallMs: 5000, memoryMb: 256, processes: 64, outputKb: 1024, scratchMb: 64 },
    max: { cpuMs: 20000, wallMs: 60000, memoryMb: 2048, processes: 512, outputKb: 16384, scratchMb: 1024 },
  },
  compile: {
    default: { cpuMs: 10000, wallMs: 20000, memoryMb: 1024, processes: 128, outputKb: 1024, scratchMb: 512 },
    max: { cpuMs: 60000, wallMs: 120000, memoryMb: 4096, processes: 512, outputKb: 16384, scratchMb: 2048 },
  },
};

/**
 * A run's program arguments, in UTF-8 bytes: each, and all together. All of
 * them, with the run's options, fit one launcher request (MAX_REQUEST, 256
 * KiB, in sandbox-native/launcher.h) with room to spare, so a request the
 * schema takes is never refused by the launcher (test/unit/launcher-args.test.ts).
 */
export const argBounds = { count: 64, bytes: 4096, totalBytes: 64 * 1024 };

/**
 * The highest maximum an operator may set (RUSE_LIMITS): well inside what
 * the launcher takes (its num() bounds in sandbox-native/args.c), so a
 * limit the server allows is never one the launcher refuses.
 */
export const limitCeilings: Limits = {
  cpuMs: 3_600_000,
  wallMs: 3_600_000,
  memoryMb: 1 << 20,
  processes: 1 << 20,
  outputKb: 1 << 22,
  scratchMb: 1 << 18,
};

const partialLimits = z
  .object(Object.fromEntries(limitFields.map((f) => [f, z.number().int().positive().optional()])))
  .strict();
const policyOverride = z.object({ default: partialLimits.optional(), max: partialLimits.optional() }).strict();
const limitsOverride = z.object({ run: policyOverride.optional(), compile: policyOverride.optional() }).strict();

/** The built-in limits with RUSE_LIMITS's JSON over them; a default above its maximum is refused. */
export function limitPolicies(json: string | undefined): LimitPolicies {
  if (!json) return builtinLimits;
  const o = limitsOverride.parse(JSON.parse(json));
  const merge = (b: LimitPolicy, x: z.infer<typeof policyOverride> | undefined): LimitPolicy => ({
    default: { ...b.default, ...x?.default } as Limits,
    max: { ...b.max, ...x?.max } as Limits,
  });
  const out = { run: merge(builtinLimits.run, o.run), compile: merge(builtinLimits.compile, o.compile) };
  for (const kind of ["run", "compile"] as const)
    for (const f of limitFields)
      if (out[kind].default[f] > out[kind].max[f])
        throw new Error(`RUSE_LIMITS: ${kind} default ${f} is above its maximum`);
      else if (out[kind].max[f] > limitCeilings[f])
        throw new Error(`RUSE_LIMITS: ${kind} max ${f} is above ${limitCeilings[f]}, the most the sandbox takes`);
  return out;
}

/** A request's limits: each one given, else the policy's default (the schema has checked the maximums). */
export function resolveLimits(p: LimitPolicy, given: Partial<Limits> | undefined): Limits {
  // At most the maximum: a stored problem's limits were checked against the maximums of their day.
  return Object.fromEntries(limitFields.map((f) => [f, Math.min(given?.[f] ?? p.default[f], p.max[f])])) as Limits;
}

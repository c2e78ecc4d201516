import type { SandboxLimits } from "./sandbox/sandbox.js";

/** Limits of a `ruse sandbox` run (and of the benchmarks) unless flags say otherwise. */
export const cliDefaults: SandboxLimits = {
  cpuMs: 5000,
  wallMs: 10000,
  memoryBytes: 512 << 20,
  processes: 64,
  outputBytes: 1 << 20,
  scratchBytes: 256 << 20,
  fileSizeBytes: 64 << 20,
  openFiles: 256,
  stackBytes: 256 << 20,
};

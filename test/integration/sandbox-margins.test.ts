// Measures the margins that test/integration/sandbox.test.ts asserts: how far
// past its CPU or wall limit a run gets, and how far the CPU and memory
// accounting is from what the probe did. Off by default (it takes ~40 s);
//   RUSE_MEASURE=1 [RUSE_MEASURE_N=10] npx vitest run test/integration/sandbox-margins.test.ts
// prints the distributions. It asserts only that every run ended as expected.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limits, openSandbox, runProbe } from "../helpers/sandbox.js";
import type { Sandbox, SandboxLimits, SandboxResult } from "../../worker/sandbox/sandbox.js";

const N = Number(process.env.RUSE_MEASURE_N ?? 10);

describe.runIf(process.env.RUSE_MEASURE === "1")("sandbox margins (measurement)", () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await openSandbox(2);
  });
  afterAll(() => sb?.close());

  const probe = (args: string[], l: Partial<SandboxLimits>): Promise<SandboxResult> =>
    runProbe(sb, args, { limits: { ...limits, ...l } });

  function summary(name: string, xs: number[]): string {
    const s = [...xs].sort((a, b) => a - b);
    const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(1);
    return `${name.padEnd(28)} n=${s.length} min ${q(0)} p50 ${q(0.5)} p90 ${q(0.9)} max ${q(1)}   [${xs.map((x) => x.toFixed(1)).join(" ")}]`;
  }

  const cases: [string, string[], Partial<SandboxLimits>, string, (r: SandboxResult) => number][] = [
    ["spin 1: cpuMs - 1000", ["spin", "1"], { cpuMs: 1000 }, "cpu", (r) => r.usage.cpuMs - 1000],
    ["spin 2: cpuMs - 1000", ["spin", "2"], { cpuMs: 1000 }, "cpu", (r) => r.usage.cpuMs - 1000],
    ["spin 2: wallMs / cpuMs", ["spin", "2"], { cpuMs: 1000 }, "cpu", (r) => r.usage.wallMs / r.usage.cpuMs],
    ["spin 4: cpuMs - 1000", ["spin", "4"], { cpuMs: 1000 }, "cpu", (r) => r.usage.cpuMs - 1000],
    ["sleep: wallMs - 500", ["sleep", "10000"], { wallMs: 500 }, "wall", (r) => r.usage.wallMs - 500],
    ["burn 300: cpuMs - 300", ["burn", "300"], {}, "ok", (r) => r.usage.cpuMs - 300],
    ["touch 100: MiB", ["touch", "100"], {}, "ok", (r) => r.usage.memoryKb / 1024],
    ["bomb: cpuMs - 2000", ["bomb"], { processes: 32, wallMs: 2000 }, "any", (r) => r.usage.cpuMs - 2000],
  ];

  it.each(cases)("%s", async (name, args, l, expected, measure) => {
    const xs: number[] = [];
    for (let i = 0; i < N; i++) {
      const r = await probe(args, l);
      if (expected === "ok") expect(r.verdict).toBe("ok");
      else if (expected === "any") expect(r.verdict).toBe("time_limit_exceeded");
      else expect(r.limit).toBe(expected);
      xs.push(measure(r));
    }
    console.log(summary(name, xs));
  });
});

// Side-by-side timing: variants run interleaved (one of each per round), so
// that noise on a small shared machine falls on all of them alike.
import { performance } from "node:perf_hooks";

export interface Variant {
  name: string;
  run: () => Promise<unknown>;
}

export interface Timing {
  name: string;
  median: number;
  p90: number;
  samples: number[];
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export async function compare(variants: Variant[], rounds: number, warmup = 5): Promise<Timing[]> {
  const samples = variants.map(() => [] as number[]);
  for (let r = 0; r < warmup + rounds; r++) {
    for (const [i, v] of variants.entries()) {
      const t0 = performance.now();
      await v.run();
      if (r >= warmup) samples[i]!.push(performance.now() - t0);
    }
  }
  return variants.map((v, i) => {
    const s = [...samples[i]!].sort((a, b) => a - b);
    return { name: v.name, median: quantile(s, 0.5), p90: quantile(s, 0.9), samples: s };
  });
}

export function printTable(title: string, timings: Timing[], baseline: string): void {
  const base = timings.find((t) => t.name === baseline)!;
  console.log(`\n## ${title}`);
  console.log(`${"variant".padEnd(34)} ${"median ms".padStart(10)} ${"p90 ms".padStart(8)} ${`x ${baseline}`}`);
  for (const t of timings)
    console.log(
      `${t.name.padEnd(34)} ${t.median.toFixed(2).padStart(10)} ${t.p90.toFixed(2).padStart(8)} ${(t.median / base.median).toFixed(2).padStart(6)}`,
    );
}

export function ratio(timings: Timing[], a: string, b: string): number {
  const ta = timings.find((t) => t.name === a)!;
  const tb = timings.find((t) => t.name === b)!;
  return ta.median / tb.median;
}

/**
 * `n` calls of `one`, `inFlight` at a time, each waiting for its answer
 * before the next: the time they took and each call's latency, sorted.
 */
export async function drive(
  n: number,
  one: () => Promise<void>,
  inFlight = 2,
): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next++ < n) {
        const s = performance.now();
        await one();
        latencies.push(performance.now() - s);
      }
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, latencies: latencies.sort((a, b) => a - b) };
}

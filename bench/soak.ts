// `npm run soak -- --minutes N`: a mixed load (bench/soak-load.ts) on the
// stack as `npm start` runs it (embedded Redis, the API in this process, the
// worker a process of its own), IN_FLIGHT requests at a time for N minutes
// (N may be fractional). Prints throughput and memory every interval, then
// the drift and what the load left behind (bench/soak-leaks.ts). Exits 1 on
// a wrong verdict, a lost run, a leak, or (from RATIO_FROM_MINUTES) a last
// quarter slower than MIN_RATIO of the first.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { loadConfig } from "../core/config.js";
import { redisOptions } from "../core/store.js";
import { descendants } from "../test/helpers/processes.js";
import { startBenchService } from "./service.js";
import { mixedLoad } from "./soak-load.js";
import { grown, residue, settledResidue } from "./soak-leaks.js";

const IN_FLIGHT = 3;
const SLOTS = 2;
const MIN_RATIO = 0.7;
// Below this a quarter is too short to tell a slowdown from a busy machine (CI's 2 minutes).
const RATIO_FROM_MINUTES = 10;
const SETTLE_MS = 30_000;

const minutes = Number(parseArgs({ options: { minutes: { type: "string" } } }).values.minutes);
if (!(minutes > 0)) {
  console.error("usage: npm run soak -- --minutes N   (N > 0 minutes, fractional allowed, e.g. 0.5)");
  process.exit(2);
}
const durationMs = minutes * 60_000;
const everyMs = Math.min(10_000, durationMs / 12);

const mb = (kb: number) => kb / 1024;
function rssKb(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0; // gone meanwhile
  }
}
/** The worker's RSS with its descendants' (fork servers, launchers, the programs they run). */
const treeRssKb = (pid: number) => [pid, ...descendants(pid).map((p) => p.pid)].reduce((n, p) => n + rssKb(p), 0);

const usedMemoryMb = async (r: Redis) => Number(/^used_memory:(\d+)/m.exec(await r.info("memory"))![1]) / 2 ** 20;

interface Sample {
  at: number;
  runs: number;
  workerMb: number;
  redisMb: number;
  apiMb: number;
}

const service = await startBenchService(SLOTS);
const redis = new Redis(redisOptions(service.redisUrl));
const place = loadConfig(process.env).cgroup;
const failures: string[] = [];
const completedAt: number[] = []; // ms from the load's start, one per completed run
let exitCode = 1;
try {
  const kinds = await mixedLoad(service.base);
  // One of each first: what the worker keeps for good (fork servers, compiled checkers) is then in the baseline.
  for (const k of kinds) await k.once(service.base);
  await sleep(3000);
  const before = residue(service.workerPid, place);
  console.log(`soak: ${minutes} min, ${kinds.length} kinds of request, ${IN_FLIGHT} in flight, ${SLOTS} worker slots`);
  console.log(`baseline: ${JSON.stringify(before)}`);
  console.log(
    `${"elapsed s".padStart(9)} ${"runs".padStart(6)} ${"runs/s".padStart(7)} ${"worker tree MB".padStart(15)} ${"redis MB".padStart(9)} ${"API+load MB".padStart(12)}`,
  );

  const t0 = performance.now();
  const elapsed = () => performance.now() - t0;
  const drivers = Array.from({ length: IN_FLIGHT }, async (_, d) => {
    // Each driver starts at another point of the cycle, so that the kinds in flight differ.
    for (let i = Math.floor((d * kinds.length) / IN_FLIGHT); elapsed() < durationMs; i++) {
      const k = kinds[i % kinds.length]!;
      try {
        const n = await k.once(service.base);
        for (let j = 0; j < n; j++) completedAt.push(elapsed());
      } catch (e) {
        failures.push(`${k.name}: ${(e as Error).message}`);
      }
    }
  });

  const samples: Sample[] = [];
  for (let n = 1; n * everyMs <= durationMs + 1; n++) {
    await sleep(Math.max(0, n * everyMs - elapsed()));
    const at = elapsed();
    const s: Sample = {
      at,
      runs: completedAt.filter((t) => t <= at).length,
      workerMb: mb(treeRssKb(service.workerPid)),
      redisMb: await usedMemoryMb(redis),
      apiMb: process.memoryUsage().rss / 2 ** 20,
    };
    const interval = s.runs - (samples.at(-1)?.runs ?? 0);
    const seconds = (at - (samples.at(-1)?.at ?? 0)) / 1000;
    samples.push(s);
    console.log(
      `${(at / 1000).toFixed(1).padStart(9)} ${String(interval).padStart(6)} ${(interval / seconds).toFixed(2).padStart(7)} ${s.workerMb.toFixed(1).padStart(15)} ${s.redisMb.toFixed(2).padStart(9)} ${s.apiMb.toFixed(1).padStart(12)}`,
    );
  }
  await Promise.all(drivers);

  const quarter = durationMs / 4;
  const firstQ = completedAt.filter((t) => t < quarter).length;
  const lastQ = completedAt.filter((t) => t >= durationMs - quarter && t < durationMs).length;
  const ratio = lastQ / firstQ;
  const first = samples[0]!;
  const last = samples.at(-1)!;
  const growth = (k: "workerMb" | "redisMb" | "apiMb") =>
    `${first[k].toFixed(1)} -> ${last[k].toFixed(1)} MB (${(((last[k] - first[k]) / first[k]) * 100).toFixed(1)}%, peak ${Math.max(...samples.map((s) => s[k])).toFixed(1)})`;
  const after = await settledResidue(service.workerPid, place, before, SETTLE_MS);
  const leaks = grown(before, after);
  const lost = failures.filter((f) => f.includes("lost:")).length;

  console.log(`\nsummary: ${completedAt.length} runs, ${(completedAt.length / (durationMs / 1000)).toFixed(2)} runs/s`);
  const held = minutes >= RATIO_FROM_MINUTES;
  console.log(
    `throughput last/first quarter: ${lastQ}/${firstQ} runs = ${ratio.toFixed(2)} (${held ? `must be >= ${MIN_RATIO}` : `held to ${MIN_RATIO} from ${RATIO_FROM_MINUTES} minutes`})`,
  );
  console.log(`worker tree RSS ${growth("workerMb")}`);
  console.log(`redis used_memory ${growth("redisMb")}`);
  console.log(`API+load RSS ${growth("apiMb")}`);
  console.log(`after, idle: ${JSON.stringify(after)}`);
  console.log(`leaks: ${leaks.length ? leaks.join(", ") : "none"}`);
  console.log(`wrong verdicts or failed requests: ${failures.length - lost}, lost runs: ${lost}`);
  for (const f of failures.slice(0, 10)) console.log(`  ${f}`);
  exitCode = failures.length === 0 && leaks.length === 0 && (!held || ratio >= MIN_RATIO) ? 0 : 1;
  console.log(exitCode === 0 ? "soak: PASS" : "soak: FAIL");
} finally {
  redis.disconnect();
  await service.stop();
}
process.exit(exitCode);

// End to end: N hello-world Python runs through HTTP (wait=true), Redis and
// a worker at concurrency 2, against the same N runs of python3 bare with
// the same parallelism, in one run: throughput ratio and p50/p99 latency.
// The service runs as `npm start` runs it: Redis, the API in this process,
// the worker in a process of its own.
//
// Measured warm, as a service runs: WARMUP runs first, so that V8 has
// compiled the API's and the worker's hot paths. With 10 warm-up runs the
// API and the worker each took 2.2 ms of CPU per run; after 500, V8 still
// compiled a function every 3 runs or so (--trace-opt), and they took 1.5
// each; after 3000, 1.1 (and one compile per 18 runs).
// Two service figures: 2 requests in flight, one per worker slot, each
// waiting for its answer before the next (the target's reading); and 4 in
// flight, so that the queue is never empty, which is what the service
// sustains under load. Bare Python is measured 2 and 4 at a time, and the
// second figure is against the better of the two. The four are measured in
// three rounds of a third of the runs each, so that the machine's drift in
// speed falls on both sides alike.
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { childPid, machineBusyMs, processCpuMs } from "./cpu.js";
import { drive } from "./stats.js";
import { send, startBenchService } from "./service.js";

const PARALLEL = 2;
const SATURATED = 4;
const WARMUP = 3000;
const SOURCE = 'print("hello")';

const q = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;

type Driven = { seconds: number; latencies: number[] };
const BLOCKS = 3;
const SETTLE_MS = 1000;
const empty = (): Driven => ({ seconds: 0, latencies: [] });
const add = (into: Driven, r: Driven) => {
  into.seconds += r.seconds;
  into.latencies.push(...r.latencies);
};

function bare(): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn("/usr/bin/python3", ["-c", SOURCE], { stdio: "ignore" });
    c.on("error", reject);
    c.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`python3 exited ${code}`))));
  });
}

export async function benchEndToEnd(n: number): Promise<void> {
  const service = await startBenchService(PARALLEL);
  const url = `${service.base}/v1/runs?wait=true`;
  const viaService = async () => {
    const res = await send("POST", url, JSON.stringify({ language: "python", source: SOURCE }));
    const body = JSON.parse(res.body) as { verdict?: string; run?: { stdout: string } };
    if (res.status !== 200 || body.verdict !== "ok" || body.run?.stdout !== "hello\n")
      throw new Error(`service run: ${res.status} ${res.body}`);
  };
  try {
    await drive(WARMUP, viaService);
    await drive(10, bare);
    const redisPid = childPid(process.pid, "redis-server");
    const procs = [
      ["API and load generator", process.pid],
      ["worker", service.workerPid],
      ["Redis", redisPid],
    ] as const;
    const used = procs.map(() => 0);
    let busy = 0;
    /** The service, 2 in flight, with where the CPU went. */
    const measured = async (k: number) => {
      const before = procs.map(([, pid]) => (pid ? processCpuMs(pid) : NaN));
      const busy0 = machineBusyMs();
      const r = await drive(k, viaService);
      for (const [i, [, pid]] of procs.entries()) used[i]! += (pid ? processCpuMs(pid) : NaN) - before[i]!;
      busy += machineBusyMs() - busy0;
      return r;
    };
    // In BLOCKS rounds of bare, then ruse: this machine's speed drifts by
    // several percent over a minute, which one block of each would take as a
    // difference between them.
    const b = empty(),
      b4 = empty(),
      s = empty(),
      s4 = empty();
    const block = Math.ceil(n / BLOCKS);
    // A pause before each side's block lets the other side's leftover work
    // (the kernel's deferred cleanup of sandboxes) finish first.
    for (let i = 0; i < BLOCKS; i++) {
      await sleep(SETTLE_MS);
      add(b, await drive(block, bare));
      add(b4, await drive(block, bare, SATURATED));
      await sleep(SETTLE_MS);
      add(s, await measured(block));
      add(s4, await drive(block, viaService, SATURATED));
    }
    for (const r of [b, b4, s, s4]) r.latencies.sort((x, y) => x - y);
    n = block * BLOCKS;
    console.log(
      `\n## end to end: ${n} python hello-world runs, the worker at concurrency ${PARALLEL} (after ${WARMUP} warm-up runs)`,
    );
    console.log(`${"".padEnd(36)} ${"runs/s".padStart(8)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)}`);
    for (const [name, r] of [
      [`bare python3, ${PARALLEL} at a time`, b],
      [`bare python3, ${SATURATED} at a time`, b4],
      [`ruse, ${PARALLEL} requests in flight`, s],
      [`ruse, ${SATURATED} requests in flight`, s4],
    ] as const)
      console.log(
        `${name.padEnd(36)} ${(n / r.seconds).toFixed(1).padStart(8)} ${q(r.latencies, 0.5).toFixed(1).padStart(8)} ${q(r.latencies, 0.99).toFixed(1).padStart(8)}`,
      );
    console.log(`throughput ruse/bare, ${PARALLEL} in flight: ${(b.seconds / s.seconds).toFixed(2)} (target >= 0.70)`);
    console.log(
      `throughput ruse/bare, ${SATURATED} in flight (the queue never empty): ${(Math.min(b.seconds, b4.seconds) / s4.seconds).toFixed(2)}`,
    );
    console.log(
      `p50 latency ruse/bare, ${PARALLEL} in flight: ${(q(s.latencies, 0.5) / q(b.latencies, 0.5)).toFixed(2)} (target < 3)`,
    );
    // Where the CPU went, per run (10 ms ticks over n runs): the rest of the
    // machine's busy time is the programs, the launchers and the kernel.
    const per = (ms: number) => (ms / n).toFixed(2);
    const parts = procs.map(([name], i) => `${name} ${per(used[i]!)}`);
    console.log(
      `CPU per run (${PARALLEL} in flight), ms: ${parts.join(", ")}, the rest (programs, launchers, kernel) ${per(busy - used.reduce((a, x) => a + (Number.isNaN(x) ? 0 : x), 0))}; machine ${per(busy)}`,
    );
  } finally {
    await service.stop();
  }
}

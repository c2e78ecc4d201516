// The compatible APIs' cost: the same Python hello worlds through
// POST /v1/runs?wait=true, Piston's POST /piston/api/v2/execute and Judge0's
// POST /judge0/submissions?wait=true, 2 in flight (one per worker slot), in
// interleaved blocks so that the machine's drift falls on all three alike.
// Each answer is checked, so a translation that broke a run would not look
// fast. The ratios are each API's throughput over v1's.
import { setTimeout as sleep } from "node:timers/promises";
import { send, startBenchService } from "./service.js";
import { drive } from "./stats.js";

const SOURCE = 'print("hello")';
const BLOCKS = 5;
const WARMUP = 600;

interface Api {
  name: string;
  url: string;
  body: string;
  ok: (status: number, body: string) => boolean;
}

export async function benchCompat(n: number): Promise<void> {
  const service = await startBenchService(2);
  const apis: Api[] = [
    {
      name: "v1 /v1/runs?wait=true",
      url: `${service.base}/v1/runs?wait=true`,
      body: JSON.stringify({ language: "python", source: SOURCE }),
      ok: (status, body) =>
        status === 200 && (JSON.parse(body) as { run?: { stdout: string } }).run?.stdout === "hello\n",
    },
    {
      name: "Piston /piston/api/v2/execute",
      url: `${service.base}/piston/api/v2/execute`,
      body: JSON.stringify({ language: "python", version: "*", files: [{ content: SOURCE }] }),
      ok: (status, body) =>
        status === 200 && (JSON.parse(body) as { run?: { stdout: string } }).run?.stdout === "hello\n",
    },
    {
      name: "Judge0 /judge0/submissions?wait=true",
      url: `${service.base}/judge0/submissions?wait=true`,
      body: JSON.stringify({ language_id: 71, source_code: SOURCE }),
      ok: (status, body) => status === 201 && (JSON.parse(body) as { stdout?: string }).stdout === "hello\n",
    },
  ];
  const one = (api: Api) => async () => {
    const r = await send("POST", api.url, api.body);
    if (!api.ok(r.status, r.body)) throw new Error(`${api.name}: ${r.status} ${r.body}`);
  };
  try {
    for (const api of apis) await drive(WARMUP / apis.length, one(api));
    const seconds = apis.map(() => 0);
    // This process is the API and the load generator: its CPU per run is where a translation's cost shows first.
    const cpuMs = apis.map(() => 0);
    const latencies: number[][] = apis.map(() => []);
    const block = Math.ceil(n / BLOCKS);
    for (let b = 0; b < BLOCKS; b++)
      // Each block in another order, so that none is always first after the pause.
      for (let k = 0; k < apis.length; k++) {
        const i = (b + k) % apis.length;
        await sleep(500);
        const cpu0 = process.cpuUsage();
        const r = await drive(block, one(apis[i]!));
        const cpu = process.cpuUsage(cpu0);
        cpuMs[i]! += (cpu.user + cpu.system) / 1000;
        seconds[i]! += r.seconds;
        latencies[i]!.push(...r.latencies);
      }
    const runs = block * BLOCKS;
    const rate = seconds.map((s) => runs / s);
    console.log(
      `\n## compatible APIs: ${runs} python hello worlds through each, 2 in flight, in ${BLOCKS} interleaved blocks`,
    );
    console.log(
      `${"api".padEnd(38)} ${"runs/s".padStart(8)} ${"p50 ms".padStart(8)} ${"x v1".padStart(6)} ${"API+client CPU ms/run".padStart(22)}`,
    );
    for (const [i, api] of apis.entries()) {
      const l = latencies[i]!.sort((a, b) => a - b);
      const p50 = l[Math.floor(l.length / 2)]!;
      console.log(
        `${api.name.padEnd(38)} ${rate[i]!.toFixed(1).padStart(8)} ${p50.toFixed(2).padStart(8)} ${(rate[i]! / rate[0]!).toFixed(3).padStart(6)} ${(cpuMs[i]! / runs).toFixed(2).padStart(22)}`,
      );
    }
  } finally {
    await service.stop();
  }
}

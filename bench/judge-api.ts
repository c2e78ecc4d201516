// The judge's APIs end to end, each side by side with the way it replaces:
// - SUBMISSIONS C++ a+b submissions against a stored problem of 20 tests,
//   and the same submissions sending the 20 tests inline: bytes sent per
//   submission and runs/s, 2 requests in flight, in alternating blocks so the
//   machine's drift falls on both;
// - a batch of BATCH trivial Python runs followed by a GET every 100 ms,
//   against the same runs sent one by one with wait=true.
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { send, startBenchService } from "./service.js";

const PARALLEL = 2;
const BLOCKS = 4;
const SOURCE = '#include <cstdio>\nint main(){long a,b;if(scanf("%ld %ld",&a,&b)!=2)return 1;printf("%ld\\n",a+b);}\n';
const TESTS = Array.from({ length: 20 }, (_, i) => ({ stdin: `${i} ${i * 7}\n`, expectedOutput: `${i * 8}\n` }));

async function inFlight(n: number, k: number, one: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: k }, async () => {
      for (let i = next++; i < n; i = next++) await one(i);
    }),
  );
  return (performance.now() - t0) / 1000;
}

export async function benchJudgeApi(submissions: number, batch: number): Promise<void> {
  const service = await startBenchService(PARALLEL);
  try {
    const put = await send("PUT", `${service.base}/v1/problems/a-plus-b`, JSON.stringify({ tests: TESTS }));
    if (put.status !== 200) throw new Error(`PUT problem: ${put.status} ${put.body}`);
    const bodies = {
      stored: JSON.stringify({ language: "cpp", source: SOURCE, problem: "a-plus-b" }),
      inline: JSON.stringify({ language: "cpp", source: SOURCE, tests: TESTS }),
    };
    const seconds = { stored: 0, inline: 0 };
    const submit = (body: string) => async () => {
      const r = await send("POST", `${service.base}/v1/runs?wait=true`, body);
      if (r.status !== 200 || !r.body.includes('"verdict":"accepted"'))
        throw new Error(`run: ${r.status} ${r.body.slice(0, 300)}`);
    };
    await inFlight(4, PARALLEL, submit(bodies.stored)); // warm
    const block = Math.ceil(submissions / BLOCKS);
    for (let b = 0; b < BLOCKS; b++)
      for (const side of ["stored", "inline"] as const)
        seconds[side] += await inFlight(block, PARALLEL, submit(bodies[side]));
    const n = block * BLOCKS;
    console.log(`\n## judging through the API: ${n} C++ a+b submissions of 20 tests, ${PARALLEL} in flight`);
    console.log(`${"".padEnd(28)} ${"bytes sent".padStart(10)} ${"runs/s".padStart(8)}`);
    for (const side of ["stored", "inline"] as const)
      console.log(
        `${(side === "stored" ? "against a stored problem" : "tests sent inline").padEnd(28)} ${String(Buffer.byteLength(bodies[side])).padStart(10)} ${(n / seconds[side]).toFixed(2).padStart(8)}`,
      );
    console.log(
      `stored/inline: bytes ${(Buffer.byteLength(bodies.stored) / Buffer.byteLength(bodies.inline)).toFixed(2)}, runs/s ${(seconds.inline / seconds.stored).toFixed(2)}`,
    );

    const run = JSON.stringify({ language: "python", source: "print(1)" });
    const t0 = performance.now();
    const posted = await send(
      "POST",
      `${service.base}/v1/batches`,
      JSON.stringify({ runs: Array(batch).fill(JSON.parse(run)) }),
    );
    if (posted.status !== 202) throw new Error(`batch: ${posted.status} ${posted.body.slice(0, 300)}`);
    const { id } = JSON.parse(posted.body) as { id: string };
    let polls = 0;
    for (;;) {
      polls++;
      const g = JSON.parse((await send("GET", `${service.base}/v1/batches/${id}?limit=1`)).body) as {
        completed: number;
      };
      if (g.completed === batch) break;
      await sleep(100);
    }
    const batchSeconds = (performance.now() - t0) / 1000;
    const oneByOne = await inFlight(batch, 1, async () => {
      const r = await send("POST", `${service.base}/v1/runs?wait=true`, run);
      if (r.status !== 200) throw new Error(`run: ${r.status}`);
    });
    console.log(`\n## a batch of ${batch} python runs against the same runs one by one (wait=true)`);
    console.log(`batch: ${(batch / batchSeconds).toFixed(1)} runs/s in ${polls + 1} requests`);
    console.log(`one by one: ${(batch / oneByOne).toFixed(1)} runs/s in ${batch} requests`);
    console.log(`batch/one by one: ${(oneByOne / batchSeconds).toFixed(2)}x the runs/s`);
  } finally {
    await service.stop();
  }
}

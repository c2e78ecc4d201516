// What the judge's data costs in Redis, on an embedded Redis of its own: the
// memory one byte of stored test data takes (values, keys, reference counts
// and the allocator's rounding), for 10 problems of 20 tests of 50 kB; and
// one queued run of a batch (its BullMQ job: a Python hello world).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { randomUUID } from "node:crypto";
import { jobOptions } from "../api/enqueue.js";
import { loadConfig } from "../core/config.js";
import { toJob } from "../core/job.js";
import { runRequestSchema } from "../core/schemas.js";
import { putProblem } from "../core/problems.js";
import { startEmbeddedRedis } from "../core/redis-embedded.js";
import { QUEUE, redisOptions } from "../core/store.js";

const PROBLEMS = 10;
const TESTS = 20;
const INPUT_BYTES = 50_000;
const BATCH = 1000;

export async function benchProblems(): Promise<void> {
  const state = mkdtempSync(join(tmpdir(), "ruse-bench-problems-"));
  const embedded = await startEmbeddedRedis(state);
  const redis = new Redis(redisOptions(embedded.url));
  try {
    const used = async () => Number(/used_memory:(\d+)/.exec(await redis.info("memory"))![1]);
    const before = await used();
    let bytes = 0;
    for (let p = 0; p < PROBLEMS; p++) {
      const tests = Array.from({ length: TESTS }, (_, i) => {
        const t = { input: Buffer.from(`${p} ${i} `.padEnd(INPUT_BYTES, "x")), answer: Buffer.from(`${p} ${i}\n`) };
        bytes += t.input.length + t.answer.length;
        return t;
      });
      await putProblem(redis, 1 << 30, { id: `p${p}`, compare: "lines" }, tests);
    }
    const grown = (await used()) - before;
    console.log(`\n## problems: Redis memory for ${PROBLEMS} problems of ${TESTS} tests (${bytes} bytes of test data)`);
    console.log(`used_memory +${grown} bytes: ${(grown / bytes).toFixed(2)} per stored byte`);

    const cfg = loadConfig({});
    const job = toJob(runRequestSchema(cfg).parse({ language: "python", source: 'print("hello")' }), cfg);
    const queue = new Queue(QUEUE, { connection: redisOptions(embedded.url) });
    const queued0 = await used();
    await queue.addBulk(
      Array.from({ length: BATCH }, () => ({ name: "run", data: job, opts: jobOptions(cfg, randomUUID()) })),
    );
    const perRun = ((await used()) - queued0) / BATCH;
    await queue.close();
    console.log(
      `a queued run (${BATCH} of a batch, a python hello world): ${perRun.toFixed(0)} bytes of used_memory each`,
    );
  } finally {
    await redis.quit();
    await embedded.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

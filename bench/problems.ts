// The problem store's cost in Redis: the memory one byte of stored test data
// takes (values, keys, reference counts and the allocator's rounding), on an
// embedded Redis of its own, for 10 problems of 20 tests of 50 kB.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { putProblem } from "../core/problems.js";
import { startEmbeddedRedis } from "../core/redis-embedded.js";
import { redisOptions } from "../core/store.js";

const PROBLEMS = 10;
const TESTS = 20;
const INPUT_BYTES = 50_000;

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
  } finally {
    await redis.quit();
    await embedded.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

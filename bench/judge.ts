// Judging: one run of 100 tests of a C++ a+b (compiled once, each test in a
// fresh sandbox, two at a time on this worker's two slots) against the same
// program run 100 times bare with the same parallelism; time per test.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { builtinLimits } from "../core/limits.js";
import { catalogueLayers } from "../rootfs/manifest.js";
import { Sandbox } from "../worker/sandbox/sandbox.js";
import { executeRun } from "../worker/execute.js";

const SOURCE = '#include <cstdio>\nint main(){long a,b;if(scanf("%ld %ld",&a,&b)!=2)return 1;printf("%ld\\n",a+b);}\n';
const TESTS = 100;
const PARALLEL = 2;

function bare(bin: string, stdin: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(bin, [], { stdio: ["pipe", "ignore", "ignore"] });
    c.on("error", reject);
    c.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`a+b exited ${code}`))));
    c.stdin.end(stdin);
  });
}

export async function benchJudge(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "ruse-bench-judge-"));
  writeFileSync(join(dir, "main.cpp"), SOURCE);
  execFileSync("g++", ["-O2", "-o", join(dir, "main"), join(dir, "main.cpp")]);
  const tests = Array.from({ length: TESTS }, (_, i) => ({ stdin: `${i} ${i * 7}\n`, expectedOutput: `${i * 8}\n` }));

  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      for (let i = next++; i < TESTS; i = next++) await bare(join(dir, "main"), tests[i]!.stdin);
    }),
  );
  const bareMs = (performance.now() - t0) / TESTS;

  const sb = await Sandbox.create({ concurrency: PARALLEL, images: catalogueLayers() }); // as the service's
  try {
    const job = {
      language: "cpp",
      files: [{ path: "main.cpp", contentBase64: Buffer.from(SOURCE).toString("base64") }],
      stdin: "",
      args: [],
      limits: builtinLimits.run.default,
      compileLimits: builtinLimits.compile.default,
      tests,
      compare: "lines" as const,
      stopOnFirstFailure: false,
      network: false,
      createdAt: new Date().toISOString(),
    };
    await executeRun({ ...job, tests: tests.slice(0, 4) }, sb); // warm-up
    const t1 = performance.now();
    const r = await executeRun(job, sb);
    const totalMs = performance.now() - t1;
    if (r.verdict !== "accepted") throw new Error(`judge bench: ${r.verdict} ${r.message ?? ""}`);
    const compileMs = r.compile?.usage.wallMs ?? 0;
    const perTest = (totalMs - compileMs) / TESTS;
    console.log(`\n## judging: ${TESTS} tests of a C++ a+b, ${PARALLEL} at a time`);
    console.log(`bare, per test            ${bareMs.toFixed(2)} ms`);
    console.log(
      `ruse, per test            ${perTest.toFixed(2)} ms (whole run ${totalMs.toFixed(0)} ms, compile ${compileMs.toFixed(0)} ms)`,
    );
    console.log(`per test ruse/bare: ${(perTest / bareMs).toFixed(2)} (target <= 3)`);
  } finally {
    await sb.close();
  }
}

// `npm run bench`: every benchmark, each printing ratios measured side by
// side in one run. BENCH_ROUNDS sets the rounds (default 200); the end to end
// section runs BENCH_E2E_RUNS per figure (default 1500: on a 2-core machine a
// figure over fewer runs moved by 5% from one bench to the next);
// BENCH_SUBMISSIONS and BENCH_BATCH size the judge API's figures (200, 1000);
// BENCH_COMPAT_RUNS (default 500) the compatible APIs' section;
// BENCH_LANGUAGE_ROUNDS (default 20) and BENCH_LANGUAGES (ids, default every
// ready language) the hello-world-per-language section.
import { benchSandbox } from "./sandbox.js";
import { benchImages } from "./images.js";
import { benchEndToEnd } from "./e2e.js";
import { benchCompat } from "./compat.js";
import { benchJudge } from "./judge.js";
import { benchJudgeApi } from "./judge-api.js";
import { benchProblems } from "./problems.js";
import { benchLanguages } from "./languages.js";
import { benchMachinery } from "./machinery.js";

const rounds = Number(process.env.BENCH_ROUNDS ?? 200);
await benchSandbox(rounds);
await benchMachinery();
await benchImages(Math.ceil(rounds / 2));
await benchLanguages(Number(process.env.BENCH_LANGUAGE_ROUNDS ?? 20));
await benchEndToEnd(Number(process.env.BENCH_E2E_RUNS ?? 1500));
await benchCompat(Number(process.env.BENCH_COMPAT_RUNS ?? 500));
await benchJudge();
await benchProblems();
await benchJudgeApi(Number(process.env.BENCH_SUBMISSIONS ?? 200), Number(process.env.BENCH_BATCH ?? 1000));
process.exit(0);

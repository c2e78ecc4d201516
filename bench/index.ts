// `npm run bench`: every benchmark, each printing ratios measured side by
// side in one run. BENCH_ROUNDS sets the rounds (default 200).
import { benchSandbox } from "./sandbox.js";
import { benchImages } from "./images.js";
import { benchEndToEnd } from "./e2e.js";
import { benchJudge } from "./judge.js";

const rounds = Number(process.env.BENCH_ROUNDS ?? 200);
await benchSandbox(rounds);
await benchImages(Math.ceil(rounds / 2));
await benchEndToEnd(rounds);
await benchJudge();
process.exit(0);

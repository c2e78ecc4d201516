// The sandbox's machinery in memory (issue 16): what the worker's launcher
// processes (slot holders, fork servers, prepared sandboxes, and each run's
// supervisor, mux and init) cost, apart from the programs they run. Their
// private memory (resident less file-backed and shared, from statm, which
// the launcher's non-dumpable processes still show): the launcher is one
// static binary whose text every one of them shares. Measured on the stack
// as `npm start` runs it (bench/service.ts), idle and with a run in every slot.
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { descendants } from "../test/helpers/processes.js";
import { send, startBenchService } from "./service.js";

const SLOTS = 2;

const PAGE_KB = 4;

/** A process's private resident memory and its whole resident set, in kB (0 if gone). */
function memoryKb(pid: number): { own: number; rss: number } {
  try {
    const [, resident, shared] = readFileSync(`/proc/${pid}/statm`, "utf8").split(" ").map(Number);
    return { own: (resident! - shared!) * PAGE_KB, rss: resident! * PAGE_KB };
  } catch {
    return { own: 0, rss: 0 };
  }
}

/** The worker's launcher processes, and its other descendants (the programs). */
function census(workerPid: number) {
  const sum = { launcherOwn: 0, launcherRss: 0, launchers: 0, programOwn: 0, programs: 0 };
  for (const p of descendants(workerPid)) {
    const m = memoryKb(p.pid);
    if (p.comm === "ruse-launch") {
      sum.launcherOwn += m.own;
      sum.launcherRss += m.rss;
      sum.launchers++;
    } else {
      sum.programOwn += m.own;
      sum.programs++;
    }
  }
  return sum;
}

export async function benchMachinery(): Promise<void> {
  const svc = await startBenchService(SLOTS);
  try {
    const run = (source: string) => send("POST", `${svc.base}/v1/runs`, JSON.stringify({ language: "python", source }));
    const done = async (id: string) => {
      for (;;) {
        const r = JSON.parse((await send("GET", `${svc.base}/v1/runs/${id}`)).body) as { status: string };
        if (r.status === "completed") return;
        await sleep(50);
      }
    };
    // Warm: every slot has run once and holds a prepared sandbox for its next.
    for (let i = 0; i < 2 * SLOTS; i++) await done(JSON.parse((await run("pass")).body).id);
    await sleep(1000);
    const idle = census(svc.workerPid);
    const ids = await Promise.all(
      Array.from({ length: SLOTS }, async () => JSON.parse((await run("import time\ntime.sleep(4)")).body).id),
    );
    await sleep(2000); // both running, each prepared sandbox for the slot's next run built
    const busy = census(svc.workerPid);
    await Promise.all(ids.map(done));
    const worker = memoryKb(svc.workerPid);
    const mb = (kb: number) => (kb / 1024).toFixed(2);
    console.log(
      `\n== sandbox machinery in memory (${SLOTS} slots, private memory; their text is one static binary's) ==`,
    );
    console.log(
      `idle:    ${idle.launchers} launcher processes, ${mb(idle.launcherOwn)} MB private (RSS ${mb(idle.launcherRss)})`,
    );
    console.log(
      `running: ${busy.launchers} launcher processes, ${mb(busy.launcherOwn)} MB private, programs ${mb(busy.programOwn)} MB in ${busy.programs}`,
    );
    console.log(`per slot, idle (holders, fork server share, prepared sandbox): ${mb(idle.launcherOwn / SLOTS)} MB`);
    console.log(
      `per run, beside its program (supervisor, mux, init): ${mb((busy.launcherOwn - idle.launcherOwn) / SLOTS)} MB`,
    );
    console.log(`per run, all machinery at work / runs: ${mb(busy.launcherOwn / SLOTS)} MB (target <= 2 MB)`);
    console.log(`the worker's own node process, shared by its slots: ${mb(worker.own)} MB private`);
  } finally {
    await svc.stop();
  }
}

// cgroup v2, proven as the unprivileged worker user in a cgroup delegated to
// it: what the sandbox relies on, read back from the cgroup files themselves.
// Runs where /sys/fs/cgroup is the unified tree (the VM lane, `npm run
// test:cgroup2`, boots one); skipped elsewhere, saying why.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kv, openSandbox, runProbe, type ProbeSpec } from "../helpers/sandbox.js";
import { EMULATED, SLACK } from "../helpers/emulated.js";
import { NO_CPU_CONTROLLER, ownCgroupV2, WORKER_LEAF } from "../../worker/sandbox/host.js";
import type { Sandbox, SandboxResult } from "../../worker/sandbox/sandbox.js";

const CG = "/sys/fs/cgroup";
const V2 = existsSync(join(CG, "cgroup.controllers"));
const WHY =
  "SKIPPED: this host is not cgroup v2 (its /sys/fs/cgroup is v1); `npm run test:cgroup2` runs these in a cgroup v2 VM";
if (!V2) console.log(`test/cgroup2: ${WHY}`);

const MiB = 1 << 20;
let sb: Sandbox;
let parent: string;

const probe = (args: string[], spec: ProbeSpec = {}): Promise<SandboxResult> => runProbe(sb, args, spec);
const words = (file: string): string[] => readFileSync(file, "utf8").trim().split(/\s+/).filter(Boolean);
const runGroups = (): string[] => readdirSync(parent).filter((d) => d.startsWith("run-"));
const describeRun = (r: SandboxResult) =>
  `${r.verdict} limit=${r.limit} exit=${r.exitCode} signal=${r.signal} usage=${JSON.stringify(r.usage)} ${r.error ?? ""} ${r.stderr}`;

/** Whether a process of one of the sandbox's slot uids is in cgroup `dir`: a run's, not a prepared sandbox's (init alone, of the worker's uid). */
function holdsProgram(dir: string): boolean {
  return words(join(dir, "cgroup.procs")).some((pid) => {
    try {
      return sb.slotUids().includes(Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]));
    } catch {
      return false; /* gone meanwhile */
    }
  });
}

/**
 * Calls `f` with the cgroup of the run `run` while its program is alive;
 * then waits for that cgroup to be removed (just after the run's report).
 */
async function whileRunning<T>(
  run: Promise<SandboxResult>,
  f: (dir: string) => T,
): Promise<{ seen: T; result: SandboxResult; removed: boolean }> {
  let seen: T | undefined;
  let dir = "";
  for (let i = 0; i < 400 && seen === undefined; i++) {
    for (const d of runGroups()) {
      try {
        if (!holdsProgram(join(parent, d))) continue;
        seen = f(join(parent, d));
        dir = join(parent, d);
        break;
      } catch {
        /* not yet, or the run ended while we read */
      }
    }
    if (seen === undefined) await sleep(25);
  }
  const result = await run;
  if (seen === undefined) throw new Error(`no run cgroup seen under ${parent} (${describeRun(result)})`);
  for (let i = 0; i < 200 && existsSync(dir); i++) await sleep(10);
  return { seen, result, removed: !existsSync(dir) };
}

describe.skipIf(!V2)(V2 ? "cgroup v2, unprivileged, in a delegated subtree" : `cgroup v2: ${WHY}`, () => {
  beforeAll(async () => {
    sb = await openSandbox(2);
    if (sb.host.cgroups.version !== 2) throw new Error("cgroup v2 host, but the sandbox detected v1");
    parent = sb.host.cgroups.parent;
    console.log(`worker: ${sb.describe()}`);
  });
  afterAll(() => sb?.close());

  it("the worker is unprivileged and lives in the leaf of a cgroup delegated to its user", () => {
    const cg = sb.host.cgroups;
    if (cg.version !== 2) throw new Error("not v2");
    const uid = process.getuid!();
    expect(uid).not.toBe(0);
    expect(join(CG, ownCgroupV2(readFileSync("/proc/self/cgroup", "utf8"))!)).toBe(cg.leaf);
    expect(cg.leaf).toBe(join(parent, WORKER_LEAF));
    // Delegated: the parent and the files that delegate it are this user's.
    for (const f of ["", "cgroup.procs", "cgroup.subtree_control"]) expect(statSync(join(parent, f)).uid, f).toBe(uid);
    // "No internal processes": the parent holds none; memory and pids are on for its children.
    expect(words(join(parent, "cgroup.procs"))).toEqual([]);
    expect(words(join(parent, "cgroup.subtree_control"))).toEqual(expect.arrayContaining(["memory", "pids"]));
    expect(cg.delegation).toBe(existsSync("/run/systemd/system") ? "systemd" : "directory");
    if (!cg.controllers.includes("cpu")) expect(sb.describe()).toContain(NO_CPU_CONTROLLER);
  });

  it("each run gets a fresh cgroup beside the worker, with its limits written, removed afterwards", async () => {
    const { seen, result, removed } = await whileRunning(
      probe(["sleep", "1500"], { limits: { memoryBytes: 96 * MiB, processes: 17 } }),
      (dir) => {
        const uids = words(join(dir, "cgroup.procs")).map((p) =>
          Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, "utf8"))![1]),
        );
        if (!uids.some((u) => sb.slotUids().includes(u))) throw new Error("the program has not started yet");
        return {
          memoryMax: readFileSync(join(dir, "memory.max"), "utf8").trim(),
          swapMax: existsSync(join(dir, "memory.swap.max"))
            ? readFileSync(join(dir, "memory.swap.max"), "utf8").trim()
            : "0",
          oomGroup: readFileSync(join(dir, "memory.oom.group"), "utf8").trim(),
          pidsMax: readFileSync(join(dir, "pids.max"), "utf8").trim(),
          owner: statSync(dir).uid,
          uids,
        };
      },
    );
    expect(result.verdict, describeRun(result)).toBe("ok");
    expect(seen).toMatchObject({
      memoryMax: String(96 * MiB),
      swapMax: "0",
      oomGroup: "1",
      pidsMax: "17",
      owner: process.getuid!(),
    });
    // init keeps the worker's uid; the program runs as its slot's own uid.
    expect(seen.uids).toContain(process.getuid!());
    expect(seen.uids.some((u) => sb.slotUids().includes(u))).toBe(true);
    expect(removed).toBe(true);
  });

  it("memory: past memory.max the run is memory_limit_exceeded, from memory.events", async () => {
    const r = await probe(["touch", "512"], { limits: { memoryBytes: 128 * MiB } });
    expect(r.verdict, describeRun(r)).toBe("memory_limit_exceeded");
    expect(r.limit).toBe("memory");
    expect(r.oomKilled).toBe(true); // memory.events oom_kill > 0
    expect(r.usage.memoryKb).toBeGreaterThan(100 * 1024);
    expect(r.usage.memoryKb).toBeLessThanOrEqual(128 * 1024);
    const ok = await probe(["touch", "32"], { limits: { memoryBytes: 128 * MiB } });
    expect(ok.verdict, describeRun(ok)).toBe("ok");
    expect(ok.oomKilled).toBe(false);
  });

  it("pids: pids.max caps the run's processes (init counts)", async () => {
    const r = await probe(["forkmax"], { limits: { processes: 16 } });
    expect(r.verdict, describeRun(r)).toBe("ok");
    const o = kv(r.stdout);
    expect(o.error).toBe("EAGAIN");
    expect(Number(o.forked)).toBeGreaterThan(0);
    expect(Number(o.forked)).toBeLessThanOrEqual(15);
  });

  it("CPU time comes from cpu.stat (usage, user and system) and the CPU limit is enforced from it", async () => {
    const r = await probe(["burn", "300"]);
    expect(r.verdict, describeRun(r)).toBe("ok");
    expect(r.usage.cpuMs).toBeGreaterThanOrEqual(270);
    expect(r.usage.cpuMs).toBeLessThanOrEqual(300 + 45 * SLACK);
    expect(r.usage.userMs + r.usage.sysMs).toBeGreaterThan(r.usage.cpuMs * 0.9);
    const spin = await probe(["spin", "2"], { limits: { cpuMs: 400, wallMs: 10_000 } });
    expect(spin.verdict, describeRun(spin)).toBe("time_limit_exceeded");
    expect(spin.limit).toBe("cpu");
    expect(spin.usage.cpuMs).toBeGreaterThanOrEqual(400);
    expect(spin.usage.cpuMs).toBeLessThan(400 + 100 * SLACK);
  });

  it("with the cpu controller delegated, cpu.max throttles a run; without it, the start-up line says what remains", async () => {
    if (!sb.host.cgroups.controllers.includes("cpu")) {
      // A delegation without cpu (a user session of systemd < 252): CPU time is
      // still measured and enforced (the test above); only throttling is gone.
      expect(sb.describe()).toContain(NO_CPU_CONTROLLER);
      const r = await probe(["spin", "1"], { limits: { cpuMs: 200, wallMs: 10_000, cpus: 0.5 } });
      expect(r.verdict, describeRun(r)).toBe("time_limit_exceeded");
      expect(r.limit).toBe("cpu");
      return;
    }
    const r = await probe(["spin", "2"], { limits: { cpuMs: 300, wallMs: 10_000, cpus: 0.5 } });
    expect(r.verdict, describeRun(r)).toBe("time_limit_exceeded");
    expect(r.limit).toBe("cpu");
    // Half a CPU: 300 ms of CPU take about 600 ms of wall time (2 threads would take 150 ms unthrottled).
    expect(r.usage.wallMs).toBeGreaterThan(450);
  });

  it("memory.peak: a run's peak is its own (a fresh cgroup), not the previous run's", async () => {
    const big = await probe(["touch", "100"]);
    expect(big.verdict, describeRun(big)).toBe("ok");
    expect(big.usage.memoryKb).toBeGreaterThanOrEqual(100 * 1024);
    expect(big.usage.memoryKb).toBeLessThanOrEqual(130 * 1024);
    const small = await probe(["exit", "0"]);
    expect(small.verdict, describeRun(small)).toBe("ok");
    expect(small.usage.memoryKb).toBeLessThan(16 * 1024);
  });

  it("a fork bomb in a run is killed whole (cgroup.kill and init), leaving no process and no cgroup", async () => {
    const { seen, result, removed } = await whileRunning(
      probe(["bomb"], { limits: { processes: 64, wallMs: 1500 } }),
      (dir) => {
        const n = words(join(dir, "cgroup.procs")).length;
        if (n < 8) throw new Error("not yet");
        return n;
      },
    );
    expect(seen).toBeGreaterThanOrEqual(8);
    expect(result.verdict, describeRun(result)).toBe("time_limit_exceeded");
    expect(result.usage.wallMs).toBeLessThanOrEqual(1500 + 200 * SLACK);
    expect(removed).toBe(true);
    const left = readdirSync("/proc").filter((p) => {
      try {
        const u = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, "utf8"))![1]);
        return sb.slotUids().includes(u);
      } catch {
        return false;
      }
    });
    expect(left).toEqual([]);
  });

  it("the cgroup of a run whose launcher died (killed with its worker) is removed at the next start", async () => {
    const stale = join(parent, `run-${spawnSync("/bin/true").pid}`); // a pid that just ended
    mkdirSync(stale);
    const again = await openSandbox(1);
    await again.close();
    expect(existsSync(stale)).toBe(false);
  });

  it("cgroup.kill, written by the unprivileged user, kills a fork bomb in a cgroup of its delegated subtree", async () => {
    const dir = join(parent, `test-kill-${process.pid}`);
    mkdirSync(dir);
    try {
      writeFileSync(join(dir, "pids.max"), "200");
      // A shell that enters the cgroup, then forks sleepers as fast as it can.
      const sh = spawn("/bin/sh", ["-c", `echo $$ > ${dir}/cgroup.procs && while :; do sleep 60 & done`], {
        stdio: "ignore",
      });
      const procs = () => words(join(dir, "cgroup.procs")).length;
      for (let i = 0; i < 200 && procs() < 50; i++) await sleep(20);
      expect(procs()).toBeGreaterThanOrEqual(50);
      writeFileSync(join(dir, "cgroup.kill"), "1");
      for (let i = 0; i < 500 && !readFileSync(join(dir, "cgroup.events"), "utf8").includes("populated 0"); i++)
        await sleep(10);
      expect(readFileSync(join(dir, "cgroup.events"), "utf8")).toContain("populated 0");
      expect(procs()).toBe(0);
      await new Promise((r) => (sh.exitCode !== null || sh.signalCode !== null ? r(null) : sh.once("exit", r)));
      expect(sh.signalCode).toBe("SIGKILL");
    } finally {
      rmdirSync(dir);
    }
  });

  it("a worker started where the memory controller is not delegated refuses to start, naming the fix", {
    timeout: 240_000,
  }, () => {
    // A delegated cgroup whose children get pids only: what a unit with
    // Delegate=pids gives. The worker started in its leaf must refuse (no
    // silent fallback to rlimits) and say how to delegate memory.
    const outer = join(parent, `test-nomem-${process.pid}`);
    const inner = join(outer, "w");
    mkdirSync(outer);
    try {
      writeFileSync(join(outer, "cgroup.subtree_control"), "+pids");
      mkdirSync(inner);
      const main = fileURLToPath(new URL("../../worker/main.ts", import.meta.url));
      const start = () =>
        spawnSync(
          "/bin/sh",
          ["-c", `echo $$ > ${inner}/cgroup.procs && exec "$0" --import tsx "$1"`, process.execPath, main],
          {
            encoding: "utf8",
            timeout: 60_000,
            env: { ...process.env, REDIS_URL: "unix:///nonexistent/redis.sock", RUSE_CONCURRENCY: "1" },
          },
        );
      let r = start();
      // qemu's emulator now and then breaks a starting node before the worker
      // runs at all (SIGSEGV, SIGILL, or V8's "Maximum call stack size
      // exceeded" in the module loader's wasm): under emulation, a start that
      // did not get as far as the refusal is started again, up to four times.
      const refused = (x: typeof r) =>
        x.status === 1 && x.stderr.includes("the memory controller is not available in ");
      for (let i = 0; EMULATED && !refused(r) && i < 4; i++) r = start();
      const seen = JSON.stringify({
        status: r.status,
        signal: r.signal,
        error: r.error?.message,
        stdout: r.stdout,
        stderr: r.stderr,
      });
      expect(r.status, seen).toBe(1);
      expect(r.stderr, seen).toContain(`the memory controller is not available in ${inner}`);
      expect(r.stderr).toMatch(/Delegate=|cgroup\.subtree_control/);
      // Never started: no start-up line saying its cgroup mode (a JSON log line).
      expect(r.stdout).not.toContain('"msg":"cgroup');
    } finally {
      for (const d of [inner, outer]) if (existsSync(d)) rmdirSync(d);
    }
  });
});

// Integration suite of the sandbox: verdicts, limits, accounting and bad
// configuration, with real runs of test/fixtures/probe.c. The margins below
// were measured on the development host (2 vCPUs, cgroup v1, kernel 6.18);
// RUSE_MEASURE=1 test/integration/sandbox-margins.test.ts re-measures them.
import { spawn } from "node:child_process";
import { once } from "node:events";
import type { Readable, Writable } from "node:stream";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  baseLayers,
  baseShape,
  limits,
  openSandbox,
  probeBinary,
  runProbe,
  kv,
  lines,
  type ProbeSpec,
} from "../helpers/sandbox.js";
import { LAUNCHER, Sandbox, type SandboxLimits, type SandboxResult } from "../../worker/sandbox/sandbox.js";
import { layersFor } from "../../rootfs/manifest.js";
import { SlotPool } from "../../worker/sandbox/slots.js";
import { ForkServer, SERVED_FD } from "../../worker/sandbox/fork-server.js";
import { alive, processes, type Proc } from "../helpers/processes.js";
import { compileSeccompPolicy } from "../../worker/sandbox/seccomp.js";
import { EMULATED, SLACK, itCalibrated } from "../helpers/emulated.js";

// Under qemu's emulator the limits are still enforced, with margins SLACK
// times wider (the host asserts the real ones).
/** How far past its CPU limit a 1-thread run may get (the goal: stopped
 * within 20 ms; measured on an idle host, n=25: p50 3.4, max 6.4 ms). */
const CPU_OVERSHOOT_MS = 20 * SLACK;
/** The same for a 2-thread run, whose two CPUs burn on while it is being
 * killed (n=55: p50 6-8, p90 13-16, max 20.5 ms: over the 20 ms goal). */
const CPU_OVERSHOOT_THREADS_MS = 30 * SLACK;
/** How far past its wall limit a run may get (n=25: p50 1.5-2.4, max 4.0 ms). */
const WALL_OVERSHOOT_MS = 25 * SLACK;
const MiB = 1 << 20;

let sb: Sandbox;
let scratch: string;

beforeAll(async () => {
  sb = await openSandbox(2);
  scratch = mkdtempSync(join(tmpdir(), "ruse-integration-"));
  chmodSync(scratch, 0o755);
});

afterAll(async () => {
  await sb?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const probe = (args: string[], spec: ProbeSpec = {}): Promise<SandboxResult> => runProbe(sb, args, spec);

/** `fill PATH ERR BYTES` lines of the probe, by path. */
function fills(r: SandboxResult): Map<string, { error: string; bytes: number }> {
  const m = new Map<string, { error: string; bytes: number }>();
  for (const l of lines(r.stdout)) {
    const [w, path, error, bytes] = l.split(" ");
    if (w === "fill" && path && error) m.set(path, { error, bytes: Number(bytes) });
  }
  return m;
}

/** CPUs a `spin THREADS` of the probe gets on the host right now (0..THREADS). */
async function hostParallelism(threads: number, ms = 300): Promise<number> {
  const path = join(scratch, "host-probe");
  if (!existsSync(path)) writeFileSync(path, probeBinary(), { mode: 0o755 });
  const child = spawn(path, ["spin", String(threads)], { stdio: "ignore" });
  try {
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, ms));
    const stat = readFileSync(`/proc/${child.pid}/stat`, "utf8");
    const elapsed = performance.now() - t0;
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15) in 1/100 s
    return (ticks * 10) / elapsed;
  } finally {
    child.kill("SIGKILL");
  }
}

const describeRun = (r: SandboxResult) =>
  `${r.verdict} limit=${r.limit} exit=${r.exitCode} signal=${r.signal} usage=${JSON.stringify(r.usage)} ${r.error ?? ""} ${r.stderr}`;

// ---- verdicts ---------------------------------------------------------------------

describe("verdicts", () => {
  it("exit 0 is ok", async () => {
    const r = await probe(["exit", "0"]);
    expect(r.verdict, describeRun(r)).toBe("ok");
    expect(r.exitCode).toBe(0);
    expect(r.signal).toBeNull();
    expect(r.limit).toBeNull();
  });

  it("exit 42 is a runtime error with exit code 42 and no signal", async () => {
    const r = await probe(["exit", "42"]);
    expect(r.verdict, describeRun(r)).toBe("runtime_error");
    expect(r.exitCode).toBe(42);
    expect(r.signal).toBeNull();
    expect(r.limit).toBeNull();
  });

  it("a stack overflow is a runtime error with signal 11", async () => {
    const r = await probe(["stack"]);
    expect(r.verdict, describeRun(r)).toBe("runtime_error");
    expect(r.signal).toBe(11);
    expect(r.exitCode).toBeNull();
    expect(r.limit).toBeNull();
  });

  it("an integer division by zero is a runtime error with signal 8", async () => {
    const r = await probe(["divzero"]);
    expect(r.verdict, describeRun(r)).toBe("runtime_error");
    expect(r.signal).toBe(8);
    expect(r.exitCode).toBeNull();
  });
});

// ---- file system -------------------------------------------------------------------

describe("arguments", () => {
  it("reach the program as given, empty ones too, the last included", async () => {
    for (let i = 0; i < 2; i++) {
      // a cold sandbox, then a prepared one
      const r = await sb.run({
        layers: baseLayers(),
        argv: ["/bin/sh", "-c", 'printf "%s|" "$#" "$@"', "sh", "", "a b", ""],
        env: { PATH: "/usr/bin:/bin" },
        limits,
      });
      expect(r.verdict, describeRun(r)).toBe("ok");
      expect(r.stdout.toString()).toBe("3||a b||");
    }
  });
});

describe("stdio", () => {
  it("the program reopens its stdin, stdout and stderr through /dev/std*, as programs do", async () => {
    for (let i = 0; i < 2; i++) {
      // a cold sandbox, then a prepared one; the launcher's pipes belong to an uid the run cannot see
      const r = await sb.run({
        layers: baseLayers(),
        argv: ["/bin/sh", "-c", "cat /dev/stdin; echo out > /dev/stdout; echo err > /dev/stderr"],
        stdin: "in\n",
        env: { PATH: "/usr/bin:/bin" },
        limits,
      });
      expect(r.verdict, describeRun(r)).toBe("ok");
      expect(r.stdout.toString()).toBe("in\nout\n");
      expect(r.stderr.toString()).toBe("err\n");
    }
  });
});

describe("file system", () => {
  it("the root is read-only; /tmp and /box are writable", async () => {
    for (const [path, want] of [
      ["/usr/x", "EROFS"],
      ["/x", "EROFS"],
      ["/etc/x", "EROFS"],
      ["/dev/x", "EROFS"],
      ["/tmp/x", "OK"],
      ["/box/x", "OK"],
      ["/dev/shm/x", "OK"],
    ] as const) {
      const r = await probe(["write", path]);
      expect(r.verdict, describeRun(r)).toBe("ok");
      expect(`${path} ${kv(r.stdout).write}`).toBe(`${path} ${want}`);
    }
  });

  it("/tmp, /box and /dev/shm fill up to the scratch cap, and not past it (ENOSPC)", async () => {
    const cap = 8 * MiB;
    // The probe itself lies in /box, on the same tmpfs.
    const floor = cap - probeBinary().length - 256 * 1024;
    for (const path of ["/tmp/f", "/box/f", "/dev/shm/f"]) {
      const r = await probe(["fill", path], { limits: { scratchBytes: cap } });
      expect(r.verdict, describeRun(r)).toBe("ok");
      const f = fills(r).get(path);
      expect(f?.error, path).toBe("ENOSPC");
      expect(f!.bytes, path).toBeLessThanOrEqual(cap);
      expect(f!.bytes, path).toBeGreaterThanOrEqual(floor);
    }
  });

  it("one cap bounds /tmp, /box and /dev/shm together", async () => {
    const cap = 8 * MiB;
    const paths = ["/tmp/a", "/box/b", "/dev/shm/c"];
    const r = await probe(["fill", ...paths], { limits: { scratchBytes: cap } });
    expect(r.verdict, describeRun(r)).toBe("ok");
    const f = fills(r);
    for (const p of paths) expect(f.get(p)?.error, p).toBe("ENOSPC");
    const total = paths.reduce((n, p) => n + f.get(p)!.bytes, 0);
    expect(total).toBeLessThanOrEqual(cap);
    expect(total).toBeGreaterThan(cap / 2);
  });

  it("a file stops at fileSizeBytes (EFBIG)", async () => {
    const r = await probe(["fill", "/tmp/f"], { limits: { fileSizeBytes: 3 * MiB } });
    expect(r.verdict, describeRun(r)).toBe("ok");
    expect(fills(r).get("/tmp/f")).toEqual({ error: "EFBIG", bytes: 3 * MiB });
  });
});

// ---- time --------------------------------------------------------------------------

describe("time limits", () => {
  it(`a 2-thread spin stops at the CPU limit within ${CPU_OVERSHOOT_THREADS_MS} ms, threads counted`, async () => {
    const ratios: number[] = [];
    for (let i = 0; i < 3; i++) {
      // The main thread only waits: the CPU limit is reached by the threads alone.
      const r = await probe(["spin", "2"], { limits: { cpuMs: 1000, wallMs: 10_000 } });
      expect(r.verdict, describeRun(r)).toBe("time_limit_exceeded");
      expect(r.limit).toBe("cpu");
      expect(r.signal).toBe(9);
      expect(r.usage.cpuMs, describeRun(r)).toBeGreaterThanOrEqual(1000);
      expect(r.usage.cpuMs, describeRun(r)).toBeLessThanOrEqual(1000 + CPU_OVERSHOOT_THREADS_MS);
      expect(r.usage.wallMs).toBeGreaterThanOrEqual(r.usage.cpuMs / 2 - 5);
      ratios.push(r.usage.wallMs / r.usage.cpuMs);
    }
    // Two threads on two free CPUs take about half the CPU time in wall
    // time (measured 0.51-0.53 on an idle host). Whether two CPUs are free
    // depends on the host's other load, so the same spin on the host is the
    // control: only when it gets ~2 CPUs must the sandboxed one as well.
    const host = await hostParallelism(2);
    const best = Math.min(...ratios);
    if (host >= 1.7)
      expect(best, `wall/cpu ${ratios.join(", ")}; host spin 2 got ${host} CPUs`).toBeLessThanOrEqual(0.75);
    else
      console.warn(`spin 2: wall/cpu ratio not checked, the host is busy (its own spin 2 got ${host.toFixed(2)} CPUs)`);
  });

  it(`a 1-thread spin stops at the CPU limit within ${CPU_OVERSHOOT_MS} ms`, async () => {
    for (let i = 0; i < 2; i++) {
      const r = await probe(["spin", "1"], { limits: { cpuMs: 1000 } });
      expect(r.verdict, describeRun(r)).toBe("time_limit_exceeded");
      expect(r.limit).toBe("cpu");
      expect(r.usage.cpuMs, describeRun(r)).toBeGreaterThanOrEqual(1000);
      expect(r.usage.cpuMs, describeRun(r)).toBeLessThanOrEqual(1000 + CPU_OVERSHOOT_MS);
      expect(r.usage.wallMs).toBeGreaterThanOrEqual(0.95 * r.usage.cpuMs);
    }
  });

  it(`a sleep stops at the wall limit within ${WALL_OVERSHOOT_MS} ms`, async () => {
    for (let i = 0; i < 3; i++) {
      const r = await probe(["sleep", "10000"], { limits: { wallMs: 500 } });
      expect(r.verdict, describeRun(r)).toBe("time_limit_exceeded");
      expect(r.limit).toBe("wall");
      expect(r.signal).toBe(9);
      expect(r.usage.wallMs, describeRun(r)).toBeGreaterThanOrEqual(500);
      expect(r.usage.wallMs, describeRun(r)).toBeLessThanOrEqual(500 + WALL_OVERSHOOT_MS);
      expect(r.usage.cpuMs).toBeLessThan(50);
    }
  });
});

// ---- memory and output ---------------------------------------------------------------

describe("memory and output limits", () => {
  it("touching 512 MiB under a 128 MiB limit is memory_limit_exceeded", async () => {
    const r = await probe(["touch", "512"], { limits: { memoryBytes: 128 * MiB } });
    expect(r.verdict, describeRun(r)).toBe("memory_limit_exceeded");
    expect(r.limit).toBe("memory");
    expect(r.stdout.toString()).not.toContain("done");
    expect(r.usage.memoryKb).toBeLessThanOrEqual(128 * 1024);
    expect(r.usage.memoryKb).toBeGreaterThan(100 * 1024);
  });

  it("touching 64 MiB under 256 MiB is ok", async () => {
    const r = await probe(["touch", "64"], { limits: { memoryBytes: 256 * MiB } });
    expect(r.verdict, describeRun(r)).toBe("ok");
    expect(r.stdout.toString()).toBe("done\n");
    expect(r.oomKilled).toBe(false);
  });

  it("an output flood stops at the cap: exactly outputBytes kept, marked truncated", async () => {
    const r = await probe(["flood"], { limits: { outputBytes: 64 * 1024 } });
    expect(r.verdict, describeRun(r)).toBe("output_limit_exceeded");
    expect(r.limit).toBe("output");
    expect(r.stdout.length).toBe(65536);
    expect(r.stdout.every((b) => b === 0x78)).toBe(true);
    expect(r.stdoutTruncated).toBe(true);
    expect(r.stderrTruncated).toBe(false);
  });

  it("a flood on stderr stops at the same cap", async () => {
    const r = await probe(["flood", "err"], { limits: { outputBytes: 64 * 1024 } });
    expect(r.verdict, describeRun(r)).toBe("output_limit_exceeded");
    expect(r.stderr.length).toBe(65536);
    expect(r.stderrTruncated).toBe(true);
    expect(r.stdout.length).toBe(0);
    expect(r.stdoutTruncated).toBe(false);
  });
});

// ---- accounting ---------------------------------------------------------------------

describe("accounting", () => {
  it("set-up time counts from the launcher's start, also when runs compete for the CPUs", async () => {
    // Init stamps the program's start itself; with two runs at once it may do
    // so before the supervisor gets the CPU back, which once underflowed.
    const setups: number[] = [];
    const hogs = [1, 2, 3].map(() => spawn("/bin/sh", ["-c", "while :; do :; done"], { stdio: "ignore" }));
    try {
      for (let i = 0; i < (EMULATED ? 10 : 40); i++) {
        const rs = await Promise.all([probe(["exit", "0"]), probe(["exit", "0"])]);
        for (const r of rs) {
          expect(r.verdict, describeRun(r)).toBe("ok");
          setups.push(r.setupMs);
        }
      }
    } finally {
      for (const h of hogs) h.kill("SIGKILL");
    }
    expect(Math.min(...setups)).toBeGreaterThan(0);
    expect(Math.max(...setups)).toBeLessThan(2000);
  });

  it("burning 300 ms of CPU reports 300 ms ± 10%", async () => {
    const r = await probe(["burn", "300"]);
    expect(r.verdict, describeRun(r)).toBe("ok");
    expect(r.usage.cpuMs).toBeGreaterThanOrEqual(270);
    expect(r.usage.cpuMs).toBeLessThanOrEqual(330);
    expect(r.usage.wallMs).toBeGreaterThanOrEqual(270);
  });

  itCalibrated("the CPU time of child processes counts (3 × 100 ms ± 10%)", async () => {
    const r = await probe(["forkburn", "3", "100"]);
    expect(r.verdict, describeRun(r)).toBe("ok");
    expect(r.usage.cpuMs).toBeGreaterThanOrEqual(270);
    expect(r.usage.cpuMs).toBeLessThanOrEqual(330);
  });

  it("touching 100 MiB reports a peak between 100 and 130 MiB", async () => {
    const r = await probe(["touch", "100"]);
    expect(r.verdict, describeRun(r)).toBe("ok");
    expect(r.usage.memoryKb).toBeGreaterThanOrEqual(100 * 1024);
    expect(r.usage.memoryKb).toBeLessThanOrEqual(130 * 1024);
  });
});

// ---- the slot's namespace of an image ---------------------------------------------------------

describe("an image the slot holds built", () => {
  const python = () => layersFor("python");
  /** The run's mount table, without what differs from copy to copy and slot to slot (ids, devices, descriptors). */
  const mounts = (r: SandboxResult) =>
    lines(r.stdout)
      .filter((l) => !l.startsWith("dev="))
      .map((l) =>
        l
          .split(" ")
          .slice(2)
          .join(" ")
          .replace(/\b\d+:\d+\b/g, "D")
          .replace(/(id=|fd\/)\d+/g, "$1N"),
      );
  const look = (one: Sandbox) =>
    one.run({
      layers: python(),
      argv: ["/bin/sh", "-c", "stat -c dev=%d /; cat /proc/self/mountinfo"],
      env: { PATH: "/usr/bin:/bin" },
      limits,
    });

  it("runs copy it: the same root and mounts as a run that builds its own, sharing the image's file system, nothing of the host's proc", async () => {
    const holding = await Sandbox.create({ concurrency: 1, images: [python()] });
    const building = await Sandbox.create({ concurrency: 1 });
    try {
      const [a, b] = [await look(holding), await look(holding)];
      const [c, d] = [await look(building), await look(building)];
      for (const r of [a, b, c, d]) expect(r.verdict, describeRun(r)).toBe("ok");
      // Copies of one namespace: the image's overlay is one file system for
      // every run; each run that builds its own root mounts a new one.
      expect(kv(a.stdout).dev).toBe(kv(b.stdout).dev);
      expect(kv(c.stdout).dev).not.toBe(kv(d.stdout).dev);
      const table = mounts(a);
      expect(mounts(b)).toEqual(table); // nothing of the run before
      expect(mounts(c)).toEqual(table);
      const procs = table.filter((l) => / - proc /.test(l));
      expect(procs).toEqual([expect.stringMatching(/^D \/ \/proc .*hidepid=invisible/)]);
    } finally {
      await holding.close();
      await building.close();
    }
  });
});

// ---- collected files and the program's limits ----------------------------------------------

describe("prepared sandboxes", () => {
  /** The run cgroups under the host's parents (run-PID, one per launcher). */
  function runCgroups(): Set<string> {
    const parents = sb.host.cgroups.version === 2 ? [sb.host.cgroups.parent] : sb.host.cgroups.parents;
    return new Set(
      parents.flatMap((p) =>
        readdirSync(p)
          .filter((d) => d.startsWith("run-"))
          .map((d) => join(p, d)),
      ),
    );
  }

  it("a slot's next run of the same image gets a prepared sandbox, with nothing left of the run before", async () => {
    const one = await openSandbox(1);
    try {
      let first = true;
      for (const path of ["/tmp/left", "/box/left", "/dev/shm/left"]) {
        for (let i = 0; i < 2; i++) {
          const r = await runProbe(one, ["write", path]);
          expect(r.verdict, describeRun(r)).toBe("ok");
          // O_EXCL: EEXIST if the scratch of the run before were still there.
          expect(`${path} ${kv(r.stdout).write}`).toBe(`${path} OK`);
          expect(r.prepared).toBe(!first);
          first = false;
        }
      }
    } finally {
      await one.close();
    }
  });

  it("a slot whose shape changes run by run gets no prepared sandbox, until a shape repeats", async () => {
    const one = await openSandbox(1);
    const lower = mkdtempSync(join(scratch, "lower-"));
    chmodSync(lower, 0o755);
    try {
      const seen: boolean[] = [];
      for (const other of [false, true, true, true, false, false, false]) {
        const r = await runProbe(one, ["exit", "0"], other ? { boxLower: lower } : {});
        expect(r.verdict, describeRun(r)).toBe("ok");
        seen.push(r.prepared);
      }
      expect(seen).toEqual([false, false, false, true, false, false, true]);
    } finally {
      await one.close();
    }
  });

  it("ruse-launch --prepare: a run's options cannot change the shape nor turn on loopback in the slot's network; none handed over removes it all", async () => {
    const pool = await SlotPool.create(LAUNCHER, sb.host, 1, join(scratch, "slots-prepare"), [baseLayers()]);
    const [slot] = await pool.acquire(1);
    const bpf = join(scratch, "filter.bpf");
    writeFileSync(bpf, compileSeccompPolicy());
    const seccompFd = openSync(bpf, "r");
    const shape = baseShape(sb.host, slot!, { userns: 4, report: 5, seccomp: 3 });
    /** Starts a launcher with `args` (fd 7: the slot's network namespace, 8: its base image's), hands it `run` on fd 6 (then EOF); its exit code and report. */
    const launch = async (args: string[], run: string[]) => {
      const child = spawn(LAUNCHER, args, {
        stdio: [
          "ignore",
          "ignore",
          "ignore",
          seccompFd,
          slot!.usernsFd,
          "pipe",
          "pipe",
          slot!.netnsFd,
          slot!.imageNsFds[0]!,
        ],
      });
      const stdio = child.stdio as unknown as [null, null, null, null, null, Readable, Writable];
      let report = "";
      stdio[5].setEncoding("utf8").on("data", (d: string) => (report += d));
      stdio[6].on("error", () => {}); // EPIPE: a launcher that refused its arguments reads nothing
      stdio[6].end(run.length ? ["ruse-launch", ...run].join("\0") : "");
      const [code] = (await once(child, "exit")) as [number];
      return { code, report };
    };
    try {
      const before = runCgroups();
      const withShape = await launch(
        [...shape, "--prepare", "6"],
        ["--layer", "/", "--memory", String(64 * MiB), "--", "/bin/true"],
      );
      expect(withShape.report).toMatch(/--layer belongs to the prepared sandbox's shape, not to a run/);
      const withRunOption = await launch([...shape, "--memory", String(64 * MiB), "--prepare", "6"], []);
      expect(withRunOption.report).toMatch(/--prepare takes no run options and no program/);
      // The slot's network namespace is shared by its runs: loopback there is refused.
      const limitArgs = [
        "--memory",
        String(64 * MiB),
        "--pids",
        "8",
        "--cpu-ms",
        "1000",
        "--wall-ms",
        "1000",
        "--output-bytes",
        "4096",
        "--scratch-bytes",
        String(MiB),
        "--fsize",
        String(MiB),
        "--nofile",
        "64",
        "--stack",
        String(MiB),
      ];
      const loopback = await launch(
        [...shape, "--netns-fd", "7", "--prepare", "6"],
        [...limitArgs, "--net-loopback", "--", "/bin/true"],
      );
      expect(loopback.report).toMatch(/--net-loopback needs a network namespace of its own/);
      // The image's namespace has no way to the host's files.
      const imageShape = shape.filter((a, i) => a !== "--layer" && shape[i - 1] !== "--layer");
      const lower = await launch([...imageShape, "--image-ns-fd", "8", "--box-lower", scratch, "--prepare", "6"], []);
      expect(lower.report).toMatch(/--box-lower needs --layer, not --image-ns-fd/);
      const both = await launch([...shape, "--image-ns-fd", "8", "--prepare", "6"], []);
      expect(both.report).toMatch(/give the image: --layer DIR \(repeat\), or --image-ns-fd/);
      const viaImage = await launch(
        [...imageShape, "--image-ns-fd", "8", "--prepare", "6"],
        [...limitArgs, "--", "/bin/true"],
      );
      expect(viaImage.report).toMatch(/"ok":true/);
      // A namespace of the wrong kind is refused, either way round.
      const wrongNet = await launch([...imageShape, "--image-ns-fd", "8", "--netns-fd", "8", "--prepare", "6"], []);
      expect(wrongNet.report).toMatch(/enter the slot's network namespace: Invalid argument/);
      const wrongImage = await launch(
        [...imageShape, "--image-ns-fd", "7", "--prepare", "6"],
        [...limitArgs, "--", "/bin/true"],
      );
      expect(wrongImage.report).toMatch(/copy the image's mount namespace: Invalid argument/);
      const none = await launch([...shape, "--prepare", "6"], []);
      expect(none).toEqual({ code: 0, report: "" });
      expect([...runCgroups()].filter((d) => !before.has(d))).toEqual([]);
    } finally {
      closeSync(seccompFd);
      pool.close();
    }
  });

  it("a prepared launcher that is given up and does not go is killed after its grace", async () => {
    const pool = await SlotPool.create(LAUNCHER, sb.host, 1, join(scratch, "slots-abort"));
    const [slot] = await pool.acquire(1);
    const bpf = join(scratch, "abort-filter.bpf");
    writeFileSync(bpf, compileSeccompPolicy());
    const seccompFd = openSync(bpf, "r");
    const socket = join(scratch, "abort.sock");
    const server = await ForkServer.start(LAUNCHER, socket, [seccompFd, ...pool.namespaceFds()]);
    try {
      const ns = pool.served(slot!, SERVED_FD.firstSlot, baseLayers());
      const fd = { userns: ns.userns, netns: ns.netns, report: SERVED_FD.report, seccomp: SERVED_FD.seccomp };
      const launch = server.launch([
        "ruse-launch",
        ...baseShape(sb.host, slot!, fd),
        "--prepare",
        String(SERVED_FD.run),
      ]);
      // Its launcher: under this server (the one serving our socket), the
      // connection's mux, then the launcher.
      let launcher: Proc | undefined;
      for (let i = 0; i < 200 && !launcher; i++, await new Promise((r) => setTimeout(r, 10))) {
        const all = [...processes().values()];
        const child = (of?: Proc) => of && all.find((p) => p.ppid === of.pid);
        launcher = child(
          child(
            all.find((p) => p.ppid === process.pid && readFileSync(`/proc/${p.pid}/cmdline`, "utf8").includes(socket)),
          ),
        );
      }
      expect(launcher, "the prepared launcher").toBeDefined();
      process.kill(launcher!.pid, "SIGSTOP"); // a teardown that never ends
      launch.abort(200);
      for (let i = 0; i < 150 && !launch.over; i++) await new Promise((r) => setTimeout(r, 20));
      expect(launch.over).toBe(true);
      for (let i = 0; i < 100 && alive(launcher!); i++) await new Promise((r) => setTimeout(r, 20));
      expect(alive(launcher!)).toBe(false);
    } finally {
      await server.close();
      pool.close();
      closeSync(seccompFd);
    }
  });

  it("each run's limits are its own, not those of the run the sandbox was prepared after", async () => {
    const one = await openSandbox(1);
    try {
      const wide = await runProbe(one, ["forkmax"], { limits: { processes: 32 } });
      const narrow = await runProbe(one, ["forkmax"], { limits: { processes: 8 } });
      const small = await runProbe(one, ["touch", "96"], { limits: { memoryBytes: 48 * MiB } });
      const big = await runProbe(one, ["touch", "96"], { limits: { memoryBytes: 256 * MiB } });
      for (const r of [narrow, small, big]) expect(r.prepared, describeRun(r)).toBe(true);
      expect(Number(kv(wide.stdout).forked)).toBeGreaterThan(8);
      expect(Number(kv(narrow.stdout).forked)).toBeLessThanOrEqual(8 - 1);
      expect(small.verdict, describeRun(small)).toBe("memory_limit_exceeded");
      expect(big.verdict, describeRun(big)).toBe("ok");
    } finally {
      await one.close();
    }
  });

  it("a prepared sandbox no run takes (another shape, or close) is removed whole, cgroups too", async () => {
    const before = runCgroups();
    const one = await openSandbox(1);
    const lower = mkdtempSync(join(scratch, "lower-"));
    chmodSync(lower, 0o755);
    try {
      expect((await runProbe(one, ["exit", "0"])).verdict).toBe("ok"); // leaves one prepared for the base image
      // Built while the run goes on; the run's own cgroup goes just after its
      // report: soon, one run-PID is left (in each v1 hierarchy).
      const added = () => new Set([...runCgroups()].filter((d) => !before.has(d)).map((d) => basename(d)));
      for (let i = 0; i < 200 && added().size !== 1; i++) await new Promise((r) => setTimeout(r, 10));
      expect(added().size).toBe(1);
      const other = await runProbe(one, ["exit", "0"], { boxLower: lower }); // another shape: that one goes
      expect(other.verdict, describeRun(other)).toBe("ok");
      expect(other.prepared).toBe(false);
    } finally {
      await Promise.all([one.close(), one.close()]); // once, however often called
    }
    expect([...runCgroups()].filter((d) => !before.has(d))).toEqual([]);
  });
});

describe("copying out collected files does not count against the program", () => {
  // Init copies the files out after the program and all its processes are
  // dead: that is the sandbox's work, not the program's.
  const big = 150 * MiB;
  const l = { scratchBytes: 200 * MiB, memoryBytes: 512 * MiB, fileSizeBytes: big };
  const collected = (r: SandboxResult) => r.collected.map((c) => ("content" in c ? c.content.length : c.error));

  itCalibrated("a program that ends within its wall limit is ok, however long the copy-out takes", async () => {
    // fill takes ~55 ms, so the program ends at ~860 ms of 1000; copying
    // 150 MiB out takes another ~150-200 ms.
    const r = await probe(["fill", "/box/big", "+", "sleep", "800"], {
      limits: { ...l, wallMs: 1000 },
      collect: ["big"],
      collectMaxBytes: 256 * MiB,
    });
    expect(r.verdict, describeRun(r)).toBe("ok");
    expect(r.usage.wallMs, describeRun(r)).toBeLessThan(1000);
    expect(collected(r)).toEqual([big]);
  });

  it("the copy-out's CPU time is not the program's", async () => {
    // Under emulation filling 150 MiB alone takes about 2 s of CPU: the
    // program gets room for it, and the margin is as many times wider.
    const r = await probe(["fill", "/box/big", "+", "burn", "200"], {
      limits: EMULATED ? { ...l, cpuMs: 20_000, wallMs: 60_000 } : l,
      collect: ["big"],
      collectMaxBytes: 256 * MiB,
    });
    expect(r.verdict, describeRun(r)).toBe("ok");
    expect(collected(r)).toEqual([big]);
    // The probe's own CPU clock (fill and burn) at its end, vs the run's.
    const own = Number(kv(r.stdout).burned);
    expect(own).toBeGreaterThanOrEqual(200);
    expect(r.usage.cpuMs - own, describeRun(r)).toBeLessThan(EMULATED ? 300 : 15);
  });
});

// ---- bad configuration ------------------------------------------------------------------

describe("bad configuration gives a clear error, never a hang or a run outside the sandbox", () => {
  /** A run whose program would leave a file on the host if it ran there. */
  async function badRun(spec: ProbeSpec, marker: string): Promise<SandboxResult> {
    const t0 = Date.now();
    const r = await sb.run({
      layers: baseLayers(),
      argv: ["/usr/bin/touch", marker],
      env: { PATH: "/usr/bin:/bin" },
      ...spec,
      limits: { ...limits, ...spec.limits },
    });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(existsSync(marker), "the program ran on the host").toBe(false);
    expect(r.verdict).toBe("internal_error");
    expect(r.stdout.length + r.stderr.length).toBe(0);
    return r;
  }

  it("a missing image layer, or one that is not a directory", async () => {
    const packageJson = fileURLToPath(new URL("../../package.json", import.meta.url));
    for (const layer of ["/nonexistent/ruse-layer", packageJson]) {
      const r = await badRun({ layers: [layer] }, join(scratch, "ran-missing-layer"));
      expect(r.error).toContain(layer);
      expect(r.error).toMatch(/not a directory/);
      const r2 = await badRun({ layers: [...baseLayers(), layer] }, join(scratch, "ran-missing-layer2"));
      expect(r2.error).toContain(layer);
    }
  });

  it("a zero, negative or non-numeric limit", async () => {
    const cases: [keyof SandboxLimits, number][] = [
      ["cpuMs", 0],
      ["wallMs", -1],
      ["memoryBytes", 0],
      ["processes", -5],
      ["outputBytes", Number.NaN],
      ["scratchBytes", Number.POSITIVE_INFINITY],
      ["stackBytes", 0],
    ];
    for (const [key, value] of cases) {
      const r = await badRun({ limits: { ...limits, [key]: value } }, join(scratch, "ran-bad-limit"));
      expect(r.error).toMatch(new RegExp(`\\b${key}\\b`));
    }
  });

  it("a memory limit too small to start anything", async () => {
    const r = await badRun({ limits: { ...limits, memoryBytes: 1 * MiB } }, join(scratch, "ran-tiny-memory"));
    expect(r.error).toMatch(/memory/);
  });

  it("an image without the /box mount point", async () => {
    const layer = mkdtempSync(join(scratch, "nobox-"));
    chmodSync(layer, 0o755);
    for (const d of ["tmp", "proc", "dev", "usr"]) mkdirSync(join(layer, d), { mode: 0o755 });
    const r = await badRun({ layers: [layer] }, join(scratch, "ran-nobox"));
    expect(r.error).toMatch(/\/box\b/);
  });

  it("no program, no layers, or a program that does not exist", async () => {
    expect((await badRun({ argv: [] }, join(scratch, "x"))).error).toMatch(/program/);
    expect((await badRun({ layers: [] }, join(scratch, "x"))).error).toMatch(/layer/);
    const r = await badRun({ argv: ["./no-such-program"] }, join(scratch, "x"));
    expect(r.error).toMatch(/no-such-program/);
  });

  it("a slot whose uid is outside the worker's subordinate range is refused, naming /etc/subuid", async () => {
    const t0 = Date.now();
    await expect(
      SlotPool.create(
        LAUNCHER,
        { ...sb.host, uids: { start: 5, count: 10 }, gids: { start: 5, count: 10 } },
        1,
        join(scratch, "slots"),
      ),
    ).rejects.toThrow(/\/etc\/subuid/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("two workers on one machine never get the same slot uid", async () => {
    const other = await openSandbox(2);
    try {
      const a = new Set(sb.slotUids());
      const b = other.slotUids();
      expect(b).toHaveLength(2);
      for (const u of b) expect(a.has(u)).toBe(false);
    } finally {
      await other.close();
    }
  });
});

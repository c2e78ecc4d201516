// Adversarial suite: a program that tries to get out of the sandbox, see or
// harm the host or another run, or keep running after its run. Each test
// runs test/fixtures/probe.c (or sh) inside a real sandbox and checks what
// the program could do; where it helps, the same probe runs on the host as a
// control, to show that the check would catch a sandbox that let it through.
// Checklist: /work/shared/reference/anchors-sandbox.md, sections (c) and (d).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  baseLayers,
  limits,
  openSandbox,
  probeBinary,
  runProbe,
  kv,
  lines,
  type ProbeSpec,
} from "../helpers/sandbox.js";
import type { Sandbox, SandboxResult } from "../../worker/sandbox/sandbox.js";
import type { CollectedFile } from "../../worker/sandbox/files-stream.js";
import { alive, descendants, processes, subuidRange, type Proc } from "../helpers/processes.js";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let sb: Sandbox;
let hostDir: string; // a world-readable directory of the test's own on the host
let hostProbePath: string;

beforeAll(async () => {
  sb = await openSandbox(2);
  hostDir = mkdtempSync(join(tmpdir(), "ruse-escape-"));
  chmodSync(hostDir, 0o755);
  hostProbePath = join(hostDir, "probe");
  writeFileSync(hostProbePath, probeBinary(), { mode: 0o755 });
});

afterAll(async () => {
  await sb?.close();
  if (hostDir) rmSync(hostDir, { recursive: true, force: true });
});

// ---- helpers ----------------------------------------------------------------

const probe = (args: string[], spec: ProbeSpec = {}): Promise<SandboxResult> => runProbe(sb, args, spec);

/** A shell script (sh, coreutils) in the base image. */
function shell(script: string, spec: ProbeSpec = {}): Promise<SandboxResult> {
  return sb.run({
    layers: baseLayers(),
    argv: ["/bin/sh", "-c", script],
    env: { PATH: "/usr/bin:/bin" },
    ...spec,
    limits: { ...limits, ...spec.limits },
  });
}

/** The probe run on the host, as the worker user: the control. */
async function hostProbe(args: string[]): Promise<string> {
  const { stdout } = await run(hostProbePath, args, { cwd: hostDir, env: {} });
  return stdout;
}

/** Every value of a repeated key. */
const values = (out: string | Buffer, key: string): string[] =>
  lines(out)
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));

/** A run that ended normally: the probe did all it meant to. */
function expectOk(r: SandboxResult): void {
  expect(r.error, r.stderr.toString()).toBeUndefined();
  expect(r.verdict, `${r.stdout}${r.stderr}`).toBe("ok");
}

/**
 * Host processes whose real, effective or saved uid is one of this sandbox's
 * slots (slots are machine-wide exclusive: another worker's runs never use
 * them): the uids that signals and ptrace go by. The fs uid is left out: the
 * init of a slot's prepared sandbox (our code, of the worker's uid, not
 * dumpable, alone in a PID namespace of its own) has the slot's fs uid, so
 * that the files it makes belong to runner.
 */
function processesOfSlots(): string[] {
  const mine = new Set(sb.slotUids());
  const found: string[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${d}/status`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    const m = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
    if (!m) continue;
    if (m.slice(1, 4).some((u) => mine.has(Number(u)))) {
      found.push(`${d} ${/^Name:\s+(.*)$/m.exec(status)?.[1]} uids ${m.slice(1).join(",")}`);
    }
  }
  return found;
}

/** The host uid the run's "runner" is, from /proc/self/uid_map ("1000 HOSTUID 1"). */
const hostUid = (uidMap: string | undefined): number => Number(uidMap?.trim().split(/\s+/)[1]);

// ---- the host's file system ---------------------------------------------------

describe("the host file system", () => {
  it("is unreachable: a world-readable host file cannot be read, by any path", async () => {
    const token = `ruse-secret-${process.pid}-${Date.now()}`;
    const secret = join(hostDir, "secret.txt");
    writeFileSync(secret, `${token}\n`, { mode: 0o644 });
    chmodSync(secret, 0o644);
    const packageJson = fileURLToPath(new URL("../../package.json", import.meta.url));
    const paths = [
      secret,
      packageJson,
      `/proc/1/root${secret}`,
      `/proc/self/root${secret}`,
      `/proc/1/cwd/${secret}`,
      `/dev/fd/../root${secret}`,
      `/proc/1/root${packageJson}`,
    ];

    // Control: on the host, the probe reads both files.
    const host = await hostProbe(["read", secret, packageJson]);
    expect(host).toContain(`read ${secret} OK`);
    expect(host).toContain(token);
    expect(host).toContain(`read ${packageJson} OK`);

    const r = await probe(["read", ...paths]);
    expectOk(r);
    const out = r.stdout.toString();
    for (const p of paths) {
      const line = lines(out).find((l) => l.startsWith(`read ${p} `));
      expect(line, `no result for ${p}:\n${out}`).toBeDefined();
      expect(line).not.toMatch(/ OK /);
    }
    expect(out).not.toContain(token);
    expect(out).not.toContain('"name": "ruse"');
  });
});

// ---- processes ------------------------------------------------------------------

describe("processes", () => {
  it("only the run's own processes are visible; pid 1 is not", async () => {
    const r = await probe(["procs"]);
    expectOk(r);
    const o = kv(r.stdout);
    const self = Number(o.self);
    expect(self).toBeGreaterThan(1);
    expect(o.pids?.split(",").map(Number)).toEqual([self]);
  });

  it("kill(-1) inside harms nothing outside: a host process and the other slot's run live on", async () => {
    // The worker user's own process, on the host.
    const sleeper: ChildProcess = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      await sleep(50);
      const other = probe(["sleep", "1200"]);
      await sleep(300); // the other run is under way
      let otherDone = false;
      other.then(
        () => (otherDone = true),
        () => (otherDone = true),
      );
      const killer = await probe(["killall"]);
      const otherWasRunning = !otherDone;
      const otherResult = await other;
      expect(otherWasRunning).toBe(true); // the two runs overlapped

      expectOk(killer);
      // Control: kill(-1) does work inside, on the run's own processes.
      expect(kv(killer.stdout)).toMatchObject({ kill: "OK", child: "killed" });

      expectOk(otherResult);
      expect(otherResult.exitCode).toBe(0);
      expect(otherResult.usage.wallMs).toBeGreaterThan(1200 - 20);

      await sleep(100); // a kill would have been delivered by now
      const state = readFileSync(`/proc/${sleeper.pid}/stat`, "utf8").split(") ")[1]?.[0];
      expect(sleeper.exitCode).toBeNull();
      expect(sleeper.signalCode).toBeNull();
      expect(state).not.toBe("Z");
    } finally {
      sleeper.kill("SIGKILL");
    }
  });

  it("/proc/1/exe (init) cannot be opened for writing, nor its environ, root or mem; pid 1 cannot be signalled", async () => {
    const r = await probe(["proc1"]);
    expectOk(r);
    const o = kv(r.stdout);
    for (const k of ["exe_wronly", "exe_rdonly", "environ", "root", "mem", "kill1_int", "kill1_kill"]) {
      expect(o[k], k).toBeDefined();
      expect(o[k], k).not.toBe("OK");
    }
    // Control: the probe's own exe is found, and refused for writing as busy.
    expect(o.self_exe_wronly).toBe("ETXTBSY");
  });

  it("a daemon that detaches cannot outlive its run", async () => {
    const r = await probe(["daemon", "5000"]);
    expectOk(r);
    expect(kv(r.stdout).daemon).toBe("started");
    expect(r.usage.wallMs).toBeLessThan(1000);
    expect(processesOfSlots()).toEqual([]);
  });

  it("a run whose launcher is killed ends at once, init and program, cold or prepared", async () => {
    const one = await openSandbox(1);
    const range = subuidRange();
    try {
      // The slot's first run builds its sandbox; the second finds it prepared.
      for (let run = 0; run < 2; run++) {
        const running = runProbe(one, ["sleep", "30000"], { limits: { wallMs: 60_000 } });
        let program: Proc | undefined;
        for (let i = 0; i < 200 && !program; i++, await sleep(20))
          program = descendants(process.pid).find(
            (p) => p.uid >= range.start && p.uid < range.end && p.comm === "probe",
          );
        expect(program, "the run's program").toBeDefined();
        const all = processes();
        const init = all.get(program!.ppid)!;
        const launcher = all.get(init.ppid)!;
        expect([init.comm, launcher.comm]).toEqual(["ruse-launch", "ruse-launch"]);
        process.kill(launcher.pid, "SIGKILL");
        const r = await running;
        expect(r.verdict).toBe("internal_error");
        // Init's parent-death signal survives its change of fs ids (mount.c).
        for (let i = 0; i < 100 && [init, program!].some(alive); i++) await sleep(20);
        expect([init, program!].filter(alive)).toEqual([]);
      }
    } finally {
      await one.close();
    }
  });

  it("a fork bomb is contained, the host stays responsive, and nothing of the run is left behind", async () => {
    // The process cap: the run cannot have more than `processes` (init counts).
    const cap = await probe(["forkmax"], { limits: { processes: 32 } });
    expectOk(cap);
    const forked = Number(kv(cap.stdout).forked);
    expect(kv(cap.stdout).error).toBe("EAGAIN");
    expect(forked).toBeGreaterThan(0);
    expect(forked).toBeLessThanOrEqual(32 - 1);

    let seenDuring: string[] = [];
    let maxLag = 0;
    let last = Date.now();
    const ticker = setInterval(() => {
      const now = Date.now();
      maxLag = Math.max(maxLag, now - last);
      last = now;
    }, 20);
    try {
      const t0 = Date.now();
      const bomb = probe(["bomb"], { limits: { processes: 32, wallMs: 2000 } });
      await sleep(400);
      // Control for the scan below: during the bomb it does see the run's processes.
      seenDuring = processesOfSlots();
      const h0 = Date.now();
      await run("/bin/true", [], { env: {} });
      const hostExecMs = Date.now() - h0;
      const r = await bomb;
      const elapsed = Date.now() - t0;

      expect(r.error).toBeUndefined();
      expect(r.verdict).toBe("time_limit_exceeded");
      expect(["cpu", "wall"]).toContain(r.limit);
      expect(r.usage.wallMs).toBeLessThanOrEqual(2000 + 100);
      expect(elapsed).toBeLessThan(5000);
      expect(hostExecMs).toBeLessThan(1000);
      expect(maxLag).toBeLessThan(500);
    } finally {
      clearInterval(ticker);
    }
    expect(seenDuring.length).toBeGreaterThan(1);
    expect(processesOfSlots()).toEqual([]);
  });
});

// ---- privileges and the syscall filter ---------------------------------------------

describe("privileges", () => {
  it("no_new_privs, seccomp filter, no capabilities, uid and gid 1000 (a slot's own host uid)", async () => {
    const r = await probe(["status"]);
    expectOk(r);
    const o = kv(r.stdout);
    expect(o.NoNewPrivs).toBe("1");
    expect(o.Seccomp).toBe("2");
    for (const k of ["CapEff", "CapBnd", "CapPrm", "CapInh", "CapAmb"]) expect(o[k], k).toBe("0000000000000000");
    expect(o.Uid).toBe("1000 1000 1000 1000");
    expect(o.Gid).toBe("1000 1000 1000 1000");
    expect(o.Groups).toBe("");
    expect(o).toMatchObject({ uid: "1000", euid: "1000", gid: "1000", egid: "1000" });
    const uid = hostUid(o.uid_map);
    const range = sb.host.uids!;
    expect(uid).not.toBe(process.getuid!());
    expect(uid).toBeGreaterThanOrEqual(range.start);
    expect(uid).toBeLessThan(range.start + range.count);
  });

  it("ptrace, mount, unshare, keyctl, bpf, io_uring, perf, userfaultfd, setns, namespaced clone, personality and exotic sockets are denied", async () => {
    const r = await probe(["syscalls"]);
    expectOk(r);
    const o = kv(r.stdout);
    const denied = [
      "ptrace",
      "mount",
      "umount",
      "unshare_user",
      "unshare_ns",
      "keyctl",
      "add_key",
      "bpf",
      "io_uring_setup",
      "perf_event_open",
      "userfaultfd",
      "setns",
      "clone_newuser",
      "clone_newnet",
      "personality",
      "chroot",
      "socket_netlink",
      "socket_packet",
      "socket_alg",
      "socket_vsock",
    ];
    for (const k of denied) expect(`${k}=${o[k]}`).toBe(`${k}=EPERM`);
    // Control: the filter is not deny-all; ordinary sockets work.
    expect(o.socket_unix).toBe("OK");
    expect(o.socket_inet).toBe("OK");
  });

  it("TIOCSTI and TIOCLINUX are denied, also with high bits set in the request", async () => {
    const r = await probe(["tiocsti"]);
    expectOk(r);
    const o = kv(r.stdout);
    expect(o.tiocsti).toBe("EPERM");
    expect(o.tiocsti_high).toBe("EPERM");
    expect(o.tioclinux).toBe("EPERM");
    // Control: other ioctls reach the kernel (FIONREAD works on the stdin pipe).
    expect(o.fionread).toBe("OK");
  });

  it("only descriptors 0, 1 and 2 are open, also with files, collect and network", async () => {
    const plain = await probe(["fds"]);
    expectOk(plain);
    expect(kv(plain.stdout).fds).toBe("0,1,2");
    const busy = await probe(["fds"], {
      files: [{ path: "in.txt", content: "x" }],
      collect: ["in.txt"],
      network: true,
      stdin: "input",
    });
    expectOk(busy);
    expect(kv(busy.stdout).fds).toBe("0,1,2");
  });

  it("the environment holds exactly what the run was given", async () => {
    const env = { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", SPACED: "a b=c", EMPTY: "" };
    const r = await probe(["env"], { env });
    expectOk(r);
    const want = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    expect(
      r.stdout
        .toString()
        .split("\n")
        .filter((l) => l !== "")
        .sort(),
    ).toEqual(want.sort());

    const none = await probe(["env"], { env: {} });
    expectOk(none);
    expect(none.stdout.toString()).toBe("");
  });
});

// ---- network --------------------------------------------------------------------

describe("network", () => {
  let server: Server;
  let port: number;
  let accepted = 0;

  beforeAll(async () => {
    server = createServer((s) => {
      accepted++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("the host's loopback services are out of reach, with network off and on", async () => {
    // Control: from the host, the probe does reach the server.
    expect(kv(await hostProbe(["connect", String(port)])).connect).toBe("OK");
    for (let i = 0; i < 50 && accepted === 0; i++) await sleep(10);
    expect(accepted).toBe(1);

    for (const network of [false, true]) {
      const r = await probe(["connect", String(port)], { network });
      expectOk(r);
      const c = kv(r.stdout).connect;
      expect(c, `network ${network}`).toBeDefined();
      expect(c, `network ${network}`).not.toBe("OK");
    }
    await sleep(100);
    expect(accepted).toBe(1);
  });

  it("the run has only a loopback interface and no route; loopback works only when asked for", async () => {
    for (const network of [false, true]) {
      const r = await probe(["net"], { network });
      expectOk(r);
      expect(values(r.stdout, "if")).toEqual(["lo"]);
      // Reject entries (flag 0x200) are the kernel's "unreachable" placeholders.
      const usable = (v: string) => (parseInt(v.split(":").at(-1)!, 16) & 0x200) === 0;
      const routes = [...values(r.stdout, "route4"), ...values(r.stdout, "route6")].filter(usable);
      if (!network) expect(routes).toEqual([]);
      // With loopback up, the only routes are loopback's own (::1 on lo).
      else for (const rt of routes) expect(rt).toMatch(/^lo:/);
      expect(values(r.stdout, "route4").filter(usable)).toEqual([]);

      const self = await probe(["selfconnect"], { network });
      expectOk(self);
      if (network) expect(kv(self.stdout).selfconnect).toBe("OK");
      else expect(kv(self.stdout).selfconnect).not.toBe("OK");
    }
  });

  // A run without loopback is in its slot's network namespace, which the
  // slot's runs share (sandbox-native/net.c): nothing of a run may reach the
  // next, nor a run in another slot, and no run may turn loopback on there.
  it("the slot's shared network namespace: nothing of a run reaches the next or another slot's; loopback stays down", async () => {
    const one = await openSandbox(1);
    try {
      // A socket held by a process that outlives its run's program: gone with the run.
      const a = await runProbe(one, ["unix", "listen", "ruse-left", "5000"]);
      expectOk(a);
      expect(kv(a.stdout)).toMatchObject({ listen: "OK", self: "OK" }); // control: it was there
      const b = await runProbe(one, ["unix", "connect", "ruse-left"]);
      expectOk(b);
      expect(kv(b.stdout).connect).toBe("ECONNREFUSED");
      // The program cannot bring loopback up (it has no capability), nor does
      // a run with loopback (a namespace of its own) leave it up for the next.
      const up = await runProbe(one, ["loup", "+", "selfconnect"]);
      expectOk(up);
      expect(kv(up.stdout).loup).toBe("EPERM");
      expect(kv(up.stdout).selfconnect).not.toBe("OK");
      const withLoopback = await runProbe(one, ["selfconnect"], { network: true });
      expect(kv(withLoopback.stdout).selfconnect).toBe("OK");
      const after = await runProbe(one, ["selfconnect"]);
      expect(kv(after.stdout).selfconnect).not.toBe("OK");
    } finally {
      await one.close();
    }
    // A socket kept alive by nothing but a reference to itself in flight
    // outlives its run until the kernel collects it: the launcher sees it,
    // and the slot's later runs get namespaces of their own. (Without that,
    // the next run saw the name about half the time.)
    const again = await openSandbox(1);
    try {
      for (let i = 0; i < 5; i++) {
        const left = await runProbe(again, ["unix", "scmself", `ruse-scm-${i}`]);
        expect(kv(left.stdout).scmself).toBe("OK");
        const next = await runProbe(again, ["unix", "bind", `ruse-scm-${i}`]);
        expect(kv(next.stdout).bind, `try ${i}`).toBe("OK");
      }
    } finally {
      await again.close();
    }
    // Two slots at once: each has its own namespace.
    const holding = probe(["unix", "listen", "ruse-other", "0", "+", "sleep", "1500"]);
    await sleep(500);
    const other = await probe(["unix", "connect", "ruse-other"]);
    const held = await holding;
    expectOk(held);
    expect(kv(held.stdout).self).toBe("OK");
    expectOk(other);
    expect(kv(other.stdout).connect).toBe("ECONNREFUSED");
  });
});

// ---- collecting output files --------------------------------------------------------

describe("collect", () => {
  const token = `ruse-collect-${process.pid}-${Date.now()}`;
  let hostSecret: string;
  let plant: string;
  const hostPasswdFirstLine = readFileSync("/etc/passwd", "utf8").split("\n")[0]!;

  beforeAll(() => {
    hostSecret = join(hostDir, "collect-secret.txt");
    writeFileSync(hostSecret, `${token}\n`, { mode: 0o644 });
    // What a hostile program leaves where output is collected.
    plant = [
      "set -e",
      "echo hello > ok.txt",
      "ln -s /etc/passwd out.txt",
      "ln -s / d",
      "mkfifo f",
      "ln -s /dev/urandom u",
      `ln -s ${hostSecret} leak`,
      "mkdir real && echo inner > real/a && ln -s real lnk",
      "mkdir -p dir sub/deep && echo deep > sub/deep/x",
      "head -c 1048577 /dev/zero > big",
    ].join("\n");
  });

  /** Nothing collected holds the host's files (or the image's /etc/passwd). */
  function expectNoLeak(r: SandboxResult): void {
    for (const c of r.collected) {
      if (!("content" in c)) continue;
      expect(c.content.toString(), c.path).not.toContain(token);
      expect(c.content.toString(), c.path).not.toContain(hostPasswdFirstLine);
      expect(c.content.toString(), c.path).not.toMatch(/^root:/m);
    }
  }

  const errorOf = (c: CollectedFile | undefined) =>
    c === undefined ? "missing" : "error" in c ? c.error : `collected ${c.content.length} bytes`;

  it("refuses symlinks (also as a parent), FIFOs, devices, directories, bad paths and oversize files; takes regular files", async () => {
    const refused: Record<string, RegExp> = {
      "out.txt": /symbolic link/,
      "d/etc/passwd": /symbolic link/,
      f: /not a regular file/,
      u: /symbolic link/,
      leak: /symbolic link/,
      "lnk/a": /symbolic link/,
      dir: /not a regular file/,
      big: /size cap/,
      "../etc/passwd": /bad path/,
      "/etc/passwd": /bad path/,
      "real//a": /bad path/,
      "ok.txt/": /not a directory/,
      missing: /no such file/,
    };
    const collect = ["ok.txt", ...Object.keys(refused), "real/a"];
    const r = await shell(plant, { collect, collectMaxBytes: 1 << 20 });
    expectOk(r);
    expect(r.collected.map((c) => c.path)).toEqual(collect);
    const byPath = new Map(r.collected.map((c) => [c.path, c]));
    expect(byPath.get("ok.txt")).toEqual({ path: "ok.txt", content: Buffer.from("hello\n") });
    expect(byPath.get("real/a")).toEqual({ path: "real/a", content: Buffer.from("inner\n") });
    for (const [path, why] of Object.entries(refused)) expect(errorOf(byPath.get(path)), path).toMatch(why);
    expectNoLeak(r);
  });

  it('a directory collected whole ("." or "dir/") yields its regular files and refuses, never follows, the rest', async () => {
    const r = await shell(plant, { collect: [".", "d/", "lnk/", "u/"], collectMaxBytes: 1 << 20 });
    expectOk(r);
    const byPath = new Map(r.collected.map((c) => [c.path, c]));
    expect(byPath.get("ok.txt")).toEqual({ path: "ok.txt", content: Buffer.from("hello\n") });
    expect(byPath.get("real/a")).toEqual({ path: "real/a", content: Buffer.from("inner\n") });
    expect(byPath.get("sub/deep/x")).toEqual({ path: "sub/deep/x", content: Buffer.from("deep\n") });
    for (const link of ["out.txt", "d", "u", "leak", "lnk"])
      expect(errorOf(byPath.get(link)), link).toMatch(/symbolic link/);
    expect(errorOf(byPath.get("f"))).toMatch(/not a regular file/);
    expect(errorOf(byPath.get("big"))).toMatch(/size cap/);
    // A symlinked directory, named with a trailing slash, is refused, not
    // walked (openat2 O_DIRECTORY|O_NOFOLLOW says ENOTDIR for a link).
    for (const dir of ["d/", "lnk/", "u/"])
      expect(errorOf(byPath.get(dir)), dir).toMatch(/symbolic link|not a directory/);
    // Nothing was collected through a link.
    const collectedPaths = r.collected.filter((c) => "content" in c).map((c) => c.path);
    expect(collectedPaths.sort()).toEqual(["ok.txt", "real/a", "sub/deep/x"]);
    expectNoLeak(r);
  });

  it("files copied in cannot be placed outside /box", async () => {
    for (const path of ["../escape.txt", "/tmp/escape.txt", "a/../../escape.txt", "a//b"]) {
      const r = await probe(["exit", "0"], { files: [{ path, content: "x" }] });
      expect(r.verdict, path).toBe("internal_error");
      expect(r.error, path).toMatch(/bad file path/);
    }
  });

  it("a process left running cannot swap a collected file for a symlink afterwards", async () => {
    const r = await shell("(sleep 0.3; ln -sf /etc/passwd ok.txt) & echo hi > ok.txt", { collect: ["ok.txt"] });
    expectOk(r);
    expect(r.usage.wallMs).toBeLessThan(300);
    expect(r.collected).toEqual([{ path: "ok.txt", content: Buffer.from("hi\n") }]);
  });
});

// ---- nothing shared between runs ---------------------------------------------------------

describe("runs are isolated from each other", () => {
  const kinds = ["shm", "msg", "sem", "mq", "devshm", "tmp", "box"];

  it("the probe sees its own IPC objects and scratch files (control)", async () => {
    const r = await probe(["ipc", "putget"]);
    expectOk(r);
    const got = r.stdout.toString().split("phase=get")[1]!;
    for (const k of kinds) expect(`${k}=${kv(got)[k]}`).toBe(`${k}=OK`);
  });

  it("cgroup counters start fresh: a small run after a big one reports its own usage", async () => {
    const big = await probe(["touch", "64"]);
    expectOk(big);
    expect(big.usage.memoryKb).toBeGreaterThan(64 * 1024);
    const small = await probe(["exit", "0"]);
    expectOk(small);
    expect(small.usage.memoryKb).toBeLessThan(16 * 1024);
    expect(small.usage.cpuMs).toBeLessThan(50);
  });

  it("sequential runs in the same slot see nothing of the previous run's /tmp, /dev/shm, /box or IPC", async () => {
    const put = await probe(["ipc", "put"]);
    const get = await probe(["ipc", "get"]);
    const again = await probe(["ipc", "put"]);
    for (const r of [put, get, again]) expectOk(r);
    // Same slot: runs that do not overlap take the slot the last one freed.
    expect(hostUid(kv(get.stdout).uid_map)).toBe(hostUid(kv(put.stdout).uid_map));
    for (const k of kinds) {
      expect(`${k}=${kv(put.stdout)[k]}`).toBe(`${k}=OK`);
      expect(`${k}=${kv(get.stdout)[k]}`).toBe(`${k}=ENOENT`);
      expect(`${k}=${kv(again.stdout)[k]}`).toBe(`${k}=OK`); // no EEXIST: nothing left over
    }
  });

  it("shared read-only files under /box (box-lower) stay as they were for the host and the next run; /tmp shows only the run's own", async () => {
    const lower = mkdtempSync(join(hostDir, "lower-"));
    chmodSync(lower, 0o755);
    writeFileSync(join(lower, "artifact"), "A\n", { mode: 0o644 });
    const sh = (script: string) =>
      sb.run({
        layers: baseLayers(),
        boxLower: lower,
        argv: ["/bin/sh", "-c", script],
        env: { PATH: "/usr/bin:/bin" },
        limits,
      });
    const script = "cat artifact; echo B > artifact; echo new > new; rm -f gone; ls -A /tmp /dev/shm; ls -A /box";
    // Sequential runs take the same slot; its shape changes here, so the
    // third run is the first to find its sandbox prepared (as a judge's tests).
    const runs = [await sh(script), await sh(script), await sh(script)];
    for (const r of runs) {
      expect(r.verdict, r.error ?? r.stderr.toString()).toBe("ok");
      // The artifact as shipped; the scratch's root (box, tmp, shm) out of sight: /tmp and /dev/shm empty.
      expect(r.stdout.toString()).toBe("A\n/dev/shm:\n\n/tmp:\nartifact\nnew\n");
    }
    expect(runs.map((r) => r.prepared)).toEqual([false, false, true]);
    expect(readFileSync(join(lower, "artifact"), "utf8")).toBe("A\n");
    expect(readdirSync(lower)).toEqual(["artifact"]);
  });

  it("concurrent runs see nothing of each other's /tmp, /dev/shm, /box or IPC", async () => {
    const done: string[] = [];
    const track = (name: string, p: Promise<SandboxResult>) => p.finally(() => done.push(name));
    const holder = track("holder", probe(["ipc", "put", "1500"]));
    await sleep(300);
    const [peek, twin] = await Promise.all([
      track("peek", probe(["ipc", "get", "200"])),
      sleep(600).then(() => track("twin", probe(["ipc", "put"]))),
    ]);
    const put = await holder;
    for (const r of [put, peek, twin]) expectOk(r);
    // The holder still held its objects, in the other slot, when the others looked.
    expect(done).toEqual(["peek", "twin", "holder"]);
    expect(hostUid(kv(peek.stdout).uid_map)).not.toBe(hostUid(kv(put.stdout).uid_map));
    for (const k of kinds) {
      expect(`${k}=${kv(put.stdout)[k]}`).toBe(`${k}=OK`);
      expect(`${k}=${kv(peek.stdout)[k]}`).toBe(`${k}=ENOENT`);
      expect(`${k}=${kv(twin.stdout)[k]}`).toBe(`${k}=OK`);
    }
  });
});

// Channels between runs, and what a run can do to its neighbours or learn of
// the host: each tried as an attacker would, with the decision it holds.
// Timing through the shared page cache (a run reading an image file fast
// because another just read it) is out of scope: every run shares the
// images' pages by design (load once, run many), and the channel it leaves is
// as noisy as any timing channel on a shared machine.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../../worker/sandbox/sandbox.js";
import { baseLayers, kv, limits, openSandbox, runProbe } from "../helpers/sandbox.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("channels between runs at once", () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await openSandbox(2);
  });
  afterAll(async () => {
    await sb?.close();
  });

  it("a lock one run holds on a shared image file or /dev/null, the other never sees", async () => {
    for (const path of ["/bin/bash", "/dev/null"]) {
      // A takes every kind of lock and holds them 4 s; B, started 1 s later, tries the same.
      const a = runProbe(sb, ["lock", path, "4000"], { limits: { wallMs: 10_000 } });
      await sleep(1000);
      const { at: tried, until: _, ...b } = kv((await runProbe(sb, ["lock", path, "0"])).stdout);
      const { at: locked, until: released, ...held } = kv((await a).stdout);
      // B tried while A held its locks, else this would prove nothing.
      expect(Number(locked) < Number(tried) && Number(tried) < Number(released)).toBe(true);
      // Without the filter's grant, B's flock is EWOULDBLOCK and its F_GETLK sees A's read lock.
      expect({ path, a: held, b }).toEqual({
        path,
        a: { flock: "OK", setlk: "OK", getlk: "UNLCK" },
        b: { flock: "OK", setlk: "OK", getlk: "UNLCK" },
      });
    }
  });

  it("no run can watch the image files another opens (inotify, fanotify, dnotify)", async () => {
    // Each kind of watch is refused outright: no watch exists for another run's open to reach.
    const r = await runProbe(sb, ["watch", "/bin/bash", "0"]);
    expect(kv(r.stdout)).toEqual({ inotify: "ENOSYS", fanotify: "ENOSYS", dnotify: "ENOSYS" });
  });
});

describe("the slot's network namespace, from one run to the next", () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await openSandbox(1); // one slot: every run here is the previous one's next
  });
  afterAll(async () => {
    await sb?.close();
  });

  it("a run that moves its counters leaves the next run a namespace of its own, counting from 0", async () => {
    const count = async (n: number) => kv((await runProbe(sb, ["noroute", String(n)])).stdout);
    const first = await count(0);
    const second = await count(0);
    // Runs that count nothing share the slot's namespace: the design's speed is kept.
    expect(second).toEqual(first);
    expect(first.outnoroutes).toBe("0");
    // 5 connects without a route count 5 in the slot's namespace...
    const sender = await count(5);
    expect(sender).toEqual({ outnoroutes: "5", netns: first.netns });
    // ...which the next run must not read: before the fix, it saw 5 here.
    const receiver = await count(0);
    expect(receiver.outnoroutes).toBe("0");
    expect(receiver.netns).not.toBe(first.netns);
  });
});

describe("what a run can do to its neighbours or learn of the host", () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await openSandbox(2);
  });
  afterAll(async () => {
    await sb?.close();
  });

  // Allowed, and why: the run's uid is its slot's alone and its PID namespace
  // shows no other process, so PRIO_USER and PRIO_PROCESS reach its own
  // processes only; raising a priority or taking the real-time I/O class
  // needs a capability of the host's user namespace; and the run's CPU share
  // is its cgroup's, whatever nice its processes have.
  it("setpriority and ioprio_set lower its own processes only; it cannot raise them", async () => {
    const r = kv((await runProbe(sb, ["prio"])).stdout);
    // Tests may run niced already: raising is tried below the nice they have, lowering above it.
    expect({ ...r, nice_raise: r.nice_raise ?? "EACCES", nice_lower: r.nice_lower ?? "OK" }).toEqual({
      nice_raise: "EACCES",
      nice_lower: "OK",
      nice_user: "OK",
      ioprio_rt: "EPERM",
      ioprio_be0: "OK",
      ioprio_user_rt: "EPERM",
    });
  });

  // Allowed: a memfd's pages are shmem charged to the run's memory cgroup,
  // like its tmpfs; a program run from one (execveat) is in the same sandbox.
  it("a memfd's memory counts against the run's cgroup; a program run from one stays sandboxed", async () => {
    const some = await runProbe(sb, ["memfd", "48", "0"], { limits: { memoryBytes: 128 << 20 } });
    expect(some.verdict).toBe("ok");
    expect(some.usage.memoryKb).toBeGreaterThanOrEqual(48 * 1024);
    // Past the limit the run is killed as any run out of memory. (A memfd is a file:
    // RLIMIT_FSIZE bounds it too, with SIGXFSZ; raised here to reach the memory limit.)
    const over = await runProbe(sb, ["memfd", "200", "0"], {
      limits: { memoryBytes: 128 << 20, fileSizeBytes: 1 << 30 },
    });
    expect(over.verdict).toBe("memory_limit_exceeded");
    expect(over.usage.memoryKb).toBeGreaterThan(100 * 1024);
    const exec = await runProbe(sb, ["memfdexec"]);
    expect(kv(exec.stdout)).toEqual({ uid: "1000", euid: "1000" });
  });

  // Accepted, and why: mountinfo shows only the run's own mounts, with no
  // host path (image layers appear as a loop device or /proc/self/fd/N). It shows the slot's
  // host uid (tmpfs uid=), which /proc/self/uid_map shows by design, and the
  // host's devtmpfs size (half its memory), which /proc/meminfo shows too:
  // hiding either there would hide nothing.
  it("/proc/self/mountinfo shows the run's own mounts and no host path", async () => {
    const r = await sb.run({
      layers: baseLayers(),
      argv: [
        "/bin/sh",
        "-c",
        "cat /proc/self/mountinfo; echo ---; cat /proc/self/uid_map; grep MemTotal /proc/meminfo",
      ],
      env: { PATH: "/usr/bin:/bin" },
      limits,
    });
    const [mountinfo, rest] = r.stdout.toString().split("---\n") as [string, string];
    const points = mountinfo
      .trim()
      .split("\n")
      .map((l) => l.split(" ")[4]);
    expect(new Set(points)).toEqual(
      new Set([
        "/",
        "/dev",
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/proc",
        "/tmp",
        "/box",
        "/dev/shm",
      ]),
    );
    expect(mountinfo).not.toMatch(/\/(run|var|home|srv|work)\//);
    const hostUid = rest.trim().split(/\s+/)[1];
    expect(mountinfo).toContain(`uid=${hostUid},`);
    expect(rest).toMatch(/MemTotal:\s+\d+ kB/);
  });
});

// Host detection against fake /sys/fs/cgroup trees and /etc/subuid texts.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  describeHost,
  detectCgroups,
  NO_CPU_CONTROLLER,
  ownCgroupV2,
  parseSubIds,
  removeStaleRuns,
} from "../../worker/sandbox/host.js";

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "ruse-cg-"));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, ".."), { recursive: true });
    if (p.endsWith("/")) mkdirSync(join(root, p), { recursive: true });
    else writeFileSync(join(root, p), text);
  }
  return root;
}

describe("parseSubIds", () => {
  const text = "alice:100000:65536\n# comment\nruse:200000:1000\n1234:300000:10\nbad:x:y\n";
  it("finds the range by user name", () =>
    expect(parseSubIds(text, "ruse", 999)).toEqual({ start: 200000, count: 1000 }));
  it("finds the range by uid", () => expect(parseSubIds(text, "nobody", 1234)).toEqual({ start: 300000, count: 10 }));
  it("returns null for a user without a range or a malformed line", () => {
    expect(parseSubIds(text, "bob", 1)).toBeNull();
    expect(parseSubIds(text, "bad", 1)).toBeNull();
  });
});

describe("detectCgroups v2", () => {
  // A delegated cgroup as systemd hands it to a unit with Delegate=yes (or
  // the set-up makes /sys/fs/cgroup/ruse): the worker is in its leaf.
  const delegated = (controllers: string, enabled = controllers) =>
    tree({
      "cgroup.controllers": "cpu memory pids io",
      "system.slice/w.service/cgroup.controllers": controllers,
      "system.slice/w.service/cgroup.subtree_control": enabled,
      "system.slice/w.service/cgroup.procs": "",
      "system.slice/w.service/worker/cgroup.procs": "",
    });
  const opts = (systemd = true) => ({ self: "/system.slice/w.service/worker", systemd, apply: false });

  it("accepts a delegated parent with memory, pids and cpu for its children; runs beside the worker's leaf", () => {
    const root = delegated("cpu memory pids");
    const cg = detectCgroups(root, "ruse", opts());
    const parent = join(root, "system.slice/w.service");
    expect(cg).toEqual({
      version: 2,
      parent,
      leaf: join(parent, "worker"),
      controllers: ["memory", "pids", "cpu"],
      delegation: "systemd",
    });
    const line = describeHost({
      cgroups: cg,
      uids: { start: 5, count: 2 },
      gids: { start: 5, count: 2 },
      images: "kernel squashfs at /x",
    });
    expect(line).toMatch(
      /^cgroup v2 \(memory, pids, cpu; delegated by systemd: runs in .*w\.service\/run-\*, the worker in .*w\.service\/worker\)/,
    );
    expect(line).toMatch(/per-slot uids 5-6; images: kernel squashfs at \/x$/);
  });

  it("without a delegated cpu controller says in one line what it still does", () => {
    const cg = detectCgroups(delegated("memory pids"), "ruse", opts());
    expect(cg.controllers).toEqual(["memory", "pids"]);
    const line = describeHost({ cgroups: cg, uids: null, gids: null });
    expect(line).toContain(NO_CPU_CONTROLLER);
    expect(NO_CPU_CONTROLLER).toMatch(
      /CPU time is still measured from cpu\.stat and enforced by the launcher; only cpu\.max throttling/,
    );
    expect(line.split("\n")).toHaveLength(1);
  });

  it("refuses without the memory controller, naming the fix (systemd: Delegate=)", () => {
    const root = delegated("cpu pids");
    expect(() => detectCgroups(root, "ruse", opts())).toThrow(
      /memory controller is not available in .*w\.service.*Delegate=yes/,
    );
  });

  it("refuses without the pids controller, naming the fix (no systemd: the set-up's directory)", () => {
    const root = tree({
      "cgroup.controllers": "memory pids",
      "ruse/cgroup.controllers": "memory",
      "ruse/cgroup.subtree_control": "memory",
      "ruse/cgroup.procs": "",
      "ruse/worker/cgroup.procs": "",
    });
    expect(() => detectCgroups(root, "ruse", { self: "/ruse/worker", systemd: false, apply: false })).toThrow(
      /pids controller is not available in .*ruse.*echo \+pids > .*cgroup\.subtree_control.*scripts\/setup\.sh/,
    );
  });

  it("refuses a controller that is available but not enabled for the runs when it may not enable it", () => {
    const root = delegated("memory pids", "pids");
    expect(() => detectCgroups(root, "ruse", opts())).toThrow(/memory controller is not enabled for the children of/);
  });

  it("refuses a cgroup that is not delegated to this user, naming how to start the worker", () => {
    const root = tree({ "cgroup.controllers": "memory pids", "user.slice/cgroup.controllers": "memory pids" });
    // As root every file is writable: only an unprivileged user is refused.
    if (process.getuid?.() === 0) return;
    chmodSync(join(root, "user.slice"), 0o555);
    expect(() => detectCgroups(root, "ruse", { self: "/user.slice", systemd: true, apply: false })).toThrow(
      /not delegated to .*systemd-run --uid=.* -p Delegate=yes/,
    );
  });

  it("removes the cgroups of runs whose launcher is dead, and only those", () => {
    const root = tree({ "run-1/": "", [`run-${process.pid}/`]: "", "worker/": "", "run-x/": "" });
    const dead = spawnSync("/bin/true").pid!;
    mkdirSync(join(root, `run-${dead}`));
    expect(removeStaleRuns(root)).toEqual([`run-${dead}`]);
    expect(readdirSync(root).sort()).toEqual(["run-1", `run-${process.pid}`, "run-x", "worker"].sort());
  });

  it("reads its own cgroup from /proc/self/cgroup", () => {
    expect(ownCgroupV2("0::/system.slice/x.service\n")).toBe("/system.slice/x.service");
    expect(ownCgroupV2("12:pids:/a\n1:name=systemd:/b\n0::/\n")).toBe("/");
    expect(ownCgroupV2("12:pids:/a\n")).toBeNull();
  });
});

describe("detectCgroups v1", () => {
  it("finds one delegated directory per controller, cpu optional", () => {
    const root = tree({ "memory/ruse/": "", "pids/ruse/": "", "cpuacct/ruse/": "" });
    expect(detectCgroups(root, "ruse")).toEqual({
      version: 1,
      parents: ["memory", "pids", "cpuacct"].map((c) => join(root, c, "ruse")),
      controllers: ["memory", "pids", "cpuacct"],
    });
  });
  it("removes the run cgroups a killed worker left in every hierarchy", () => {
    const root = tree({ "memory/ruse/": "", "pids/ruse/": "", "cpuacct/ruse/": "" });
    const dead = spawnSync("/bin/true").pid!;
    for (const c of ["memory", "pids", "cpuacct"]) {
      mkdirSync(join(root, c, "ruse", `run-${dead}`));
      mkdirSync(join(root, c, "ruse", `run-${process.pid}`));
    }
    detectCgroups(root, "ruse");
    for (const c of ["memory", "pids", "cpuacct"])
      expect(readdirSync(join(root, c, "ruse"))).toEqual([`run-${process.pid}`]);
  });
  it("refuses without pids, naming the fix", () => {
    const root = tree({ "memory/ruse/": "", "cpuacct/ruse/": "" });
    expect(() => detectCgroups(root, "ruse")).toThrow(/pids controller has no delegated .*scripts\/setup\.sh/);
  });
});

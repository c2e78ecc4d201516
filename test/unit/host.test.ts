// Host detection against fake /sys/fs/cgroup trees and /etc/subuid texts.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeHost, detectCgroups, parseSubIds } from "../../worker/sandbox/host.js";

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
  it("finds the range by user name", () => expect(parseSubIds(text, "ruse", 999)).toEqual({ start: 200000, count: 1000 }));
  it("finds the range by uid", () => expect(parseSubIds(text, "nobody", 1234)).toEqual({ start: 300000, count: 10 }));
  it("returns null for a user without a range or a malformed line", () => {
    expect(parseSubIds(text, "bob", 1)).toBeNull();
    expect(parseSubIds(text, "bad", 1)).toBeNull();
  });
});

describe("detectCgroups v2", () => {
  it("accepts a delegated parent with memory and pids for its children", () => {
    const root = tree({ "cgroup.controllers": "cpu memory pids", "ruse/cgroup.subtree_control": "memory pids" });
    const cg = detectCgroups(root, "ruse");
    expect(cg).toEqual({ version: 2, parent: join(root, "ruse"), controllers: ["memory", "pids"] });
    expect(describeHost({ cgroups: cg, uids: { start: 5, count: 2 }, gids: { start: 5, count: 2 } })).toMatch(
      /cgroup v2 .*no cpu controller: CPU time still measured/,
    );
  });
  it("refuses without the memory controller, naming the fix", () => {
    const root = tree({ "cgroup.controllers": "cpu pids", "ruse/cgroup.subtree_control": "pids cpu" });
    expect(() => detectCgroups(root, "ruse")).toThrow(/memory controller is not enabled.*scripts\/setup\.sh/);
  });
  it("refuses a missing parent", () => {
    const root = tree({ "cgroup.controllers": "memory pids" });
    expect(() => detectCgroups(root, "ruse")).toThrow(/does not exist/);
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
  it("refuses without pids, naming the fix", () => {
    const root = tree({ "memory/ruse/": "", "cpuacct/ruse/": "" });
    expect(() => detectCgroups(root, "ruse")).toThrow(/pids controller has no delegated .*scripts\/setup\.sh/);
  });
});

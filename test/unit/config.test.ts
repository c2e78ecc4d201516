// One configuration: every RUSE_* variable is read by core/config.ts alone,
// each is in the README's table, and each reaches the part it sets.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { imagePaths, loadConfig } from "../../core/config.js";

const REPO = new URL("../../", import.meta.url).pathname;
const read = (f: string) => readFileSync(join(REPO, f), "utf8");
const sources = (dir: string): string[] =>
  readdirSync(join(REPO, dir)).flatMap((f) => {
    const p = join(dir, f);
    return statSync(join(REPO, p)).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
const named = (text: string) => new Set([...text.matchAll(/\bRUSE_[A-Z0-9_]+/g)].map((m) => m[0]));

describe("loadConfig", () => {
  it("reads the variables once read elsewhere: job lock, weak mode, cgroup place, image paths", () => {
    const env = {
      RUSE_JOB_LOCK_MS: "1500",
      RUSE_WEAK_SAME_UID: "1",
      RUSE_CGROUP_ROOT: "/sys/fs/cgroup/unified",
      RUSE_CGROUP_NAME: "judge",
      RUSE_IMAGE_CACHE: "/srv/images",
      RUSE_IMAGE_MOUNTS: "/srv/mounts",
    };
    const cfg = loadConfig(env);
    expect(cfg.jobLockMs).toBe(1500);
    expect(cfg.weakSameUid).toBe(true);
    expect(cfg.cgroup).toEqual({ root: "/sys/fs/cgroup/unified", name: "judge" });
    // rootfs/ reads the image paths alone (it builds and mounts without a service config).
    expect(imagePaths(env)).toEqual({ cacheDir: "/srv/images", mountRoot: "/srv/mounts" });
    const dflt = loadConfig({}, 3);
    expect({ lock: dflt.jobLockMs, weak: dflt.weakSameUid, slots: dflt.concurrency }).toEqual({
      lock: 30_000,
      weak: false,
      slots: 3,
    });
    expect(dflt.cgroup).toEqual({ root: undefined, name: undefined });
  });

  it("refuses a number that is not a whole number, naming the variable", () => {
    expect(() => loadConfig({ RUSE_JOB_LOCK_MS: "soon" })).toThrow(
      /RUSE_JOB_LOCK_MS must be a whole number, got "soon"/,
    );
    expect(() => loadConfig({ RUSE_CONCURRENCY: "-1" })).toThrow(/RUSE_CONCURRENCY/);
  });

  it("is the only reader of RUSE_* in the service's code", () => {
    const code = ["api", "core", "worker", "rootfs", "bench"].flatMap(sources).filter((f) => f !== "core/config.ts");
    const readers = code.filter((f) => /env(\.|\[")RUSE_/.test(read(f)));
    expect(readers).toEqual([]);
  });

  it("reads exactly the variables the README's table lists, but the set-up's RUSE_USER", () => {
    const table = read("README.md").split("## Configuration")[1]!.split("\n\n")[1]!;
    const documented = named(table);
    documented.delete("RUSE_USER");
    expect(named(read("core/config.ts")).size).toBeGreaterThan(15);
    expect(named(read("core/config.ts"))).toEqual(documented);
  });
});

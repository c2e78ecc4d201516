// The launcher's command line as the worker declares it (launcher-args.ts)
// against the launcher itself: its usage text, its getopt table and run
// options (args.c), the descriptors it serves on (launcher.h) and the fork
// server's frame types (serve.c).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { limitCeilings, limitPolicies } from "../../core/limits.js";
import { languages } from "../../rootfs/languages.js";
import { sandboxLimits } from "../../worker/stage.js";
import { LauncherArgs, launcherBounds, launcherOptions } from "../../worker/sandbox/launcher-args.js";
import { FRAME, SERVED_FD } from "../../worker/sandbox/fork-server.js";
import { LAUNCHER } from "../../worker/sandbox/sandbox.js";

const source = (f: string) => readFileSync(new URL(`../../sandbox-native/${f}`, import.meta.url), "utf8");
const declared = Object.entries(launcherOptions);

/** The launcher's usage text, as it prints it for an unknown option. */
function usageText(): string {
  const r = spawnSync(LAUNCHER, ["--no-such-option"], { encoding: "utf8", env: {} });
  expect(r.stderr).toMatch(/unknown or incomplete option '--no-such-option'/);
  return r.stderr.slice(r.stderr.indexOf("usage:"));
}

/** args.c's getopt table: each option's name and whether it takes a value. */
function getoptTable(): Map<string, { takesValue: boolean; id: string }> {
  const table = source("args.c").match(/static const struct option opts\[\] = \{([\s\S]*?)\};/)![1]!;
  const rows = [...table.matchAll(/\{"([a-z0-9-]+)", ([01]), 0, (O_[A-Z0-9]+)\}/g)];
  return new Map(rows.map(([, name, arg, id]) => [name!, { takesValue: arg === "1", id: id! }]));
}

/** args.c's is_run_option: the ids a prepared sandbox takes when its run comes. */
function runOptionIds(): Set<string> {
  const body = source("args.c").match(/static bool is_run_option\(int o\) \{([\s\S]*?)return true;/)![1]!;
  return new Set([...body.matchAll(/case (O_[A-Z0-9]+):/g)].map((m) => m[1]!));
}

describe("the launcher's command line, declared once", () => {
  it("declares exactly the options the launcher parses, each taking a value iff getopt says so", () => {
    const table = getoptTable();
    expect(table.size).toBeGreaterThan(30);
    expect(new Set(declared.map(([name]) => name))).toEqual(new Set(table.keys()));
    for (const [name, o] of declared)
      expect({ name, takesValue: o.value !== "flag" }).toEqual({ name, takesValue: table.get(name)!.takesValue });
  });

  it("puts an option in the run part iff the launcher takes it from a prepared sandbox's run", () => {
    const table = getoptTable();
    const run = runOptionIds();
    expect(run.size).toBeGreaterThan(10);
    for (const [name, o] of declared)
      expect({ name, part: o.part }).toEqual({ name, part: run.has(table.get(name)!.id) ? "run" : "shape" });
  });

  it("matches the usage text: every option there is declared, every declared one is there with its value's place", () => {
    const usage = usageText();
    // Each line's synopsis (up to its description, after two spaces); options
    // named in descriptions are mentions, not entries.
    const synopses = usage.split("\n").flatMap((l) => (l.startsWith("  --") ? [l.trim().split(/ {2,}/)[0]!] : []));
    const entries = synopses.flatMap((l) => [...l.matchAll(/--([a-z0-9-]+)( [A-Z][A-Z0-9_.:[\]]*)?/g)]);
    const shown = new Map(entries.map((m) => [m[1]!, m[2] !== undefined]));
    for (const [name, o] of declared)
      expect({ name, shown: shown.get(name) }).toEqual({ name, shown: o.value !== "flag" });
    // --serve alone may be shown undeclared: a mode main() takes before the options are parsed.
    expect([...shown.keys()].filter((n) => !(n in launcherOptions) && n !== "serve")).toEqual([]);
  });

  it("serves runs on the descriptors the launcher reads them from", () => {
    const h = source("launcher.h");
    const fd = (name: string) => Number(h.match(new RegExp(`#define SERVE_FD_${name} (\\d+)`))![1]);
    expect({
      report: SERVED_FD.report,
      files: SERVED_FD.files,
      collect: SERVED_FD.collect,
      run: SERVED_FD.run,
    }).toEqual({
      report: fd("REPORT"),
      files: fd("FILES"),
      collect: fd("COLLECT"),
      run: fd("RUN"),
    });
  });

  it("frames runs as serve.c numbers its frame types", () => {
    const frames = source("serve.c").match(/enum \{([^}]*F_REQUEST[^}]*)\}/)![1]!;
    const c = Object.fromEntries(
      [...frames.matchAll(/F_([A-Z]+) = (\d+)/g)].map(([, k, v]) => [k!.toLowerCase(), Number(v)]),
    );
    expect(Object.keys(c).length).toBeGreaterThan(5);
    expect({ ...FRAME }).toEqual(c);
  });

  it("builds each option with its value, whole numbers rounded up", () => {
    const a = new LauncherArgs<"run">().add("memory", 1.5).add("env", "A=b").add("net-loopback");
    expect(a.argv).toEqual(["--memory", "2", "--env", "A=b", "--net-loopback"]);
  });

  it("bounds a request as launcher.h does: strings and bytes", () => {
    const h = source("launcher.h");
    const maxArgs = Number(h.match(/#define MAX_ARGS (\d+)/)![1]);
    const [, a, b] = h.match(/#define MAX_REQUEST \((\d+) \* (\d+)\)/)!;
    // argv ends with a NULL: MAX_ARGS - 1 strings.
    expect(launcherBounds).toEqual({ strings: maxArgs - 1, requestBytes: Number(a) * Number(b) });
  });

  it("takes every limit the server may allow (RUSE_LIMITS' ceilings), in every language", () => {
    // args.c's num() maxima, by option: `num("memory", a, 1ull << 44)`.
    const maxima = new Map(
      [...source("args.c").matchAll(/num\("([a-z-]+)", a, (\d+)(?:ull|u)?(?: << (\d+))?\)/g)].map(
        ([, name, n, shift]) => [name!, BigInt(n!) << BigInt(shift ?? 0)],
      ),
    );
    expect(maxima.size).toBeGreaterThan(8);
    // The server refuses to start with a maximum above its ceiling.
    expect(() => limitPolicies(JSON.stringify({ run: { max: { wallMs: limitCeilings.wallMs + 1 } } }))).toThrow(
      /max wallMs is above 3600000/,
    );
    const option = {
      memoryBytes: "memory",
      processes: "pids",
      cpuMs: "cpu-ms",
      wallMs: "wall-ms",
      outputBytes: "output-bytes",
      scratchBytes: "scratch-bytes",
      fileSizeBytes: "fsize",
      openFiles: "nofile",
      stackBytes: "stack",
    } as const;
    for (const lang of languages)
      for (const compile of [false, true]) {
        const l = sandboxLimits(limitCeilings, lang, compile);
        for (const [k, name] of Object.entries(option)) {
          const v = BigInt(Math.ceil(l[k as keyof typeof option]));
          expect({ lang: lang.id, name, fits: v <= maxima.get(name)! }).toEqual({ lang: lang.id, name, fits: true });
        }
      }
  });
});

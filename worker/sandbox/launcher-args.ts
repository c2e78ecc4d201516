// The launcher's command line, declared once: every option ruse-launch parses
// (sandbox-native/args.c), whether it is part of a prepared sandbox's shape or
// of one run (is_run_option there: a prepared sandbox takes only run options
// when its run comes), and what its value is. sandbox.ts and slots.ts build
// their arguments through it; test/unit/launcher-args.test.ts holds it against
// the launcher's usage text and its option table.

/**
 * What one launcher request holds (MAX_ARGS and MAX_REQUEST in
 * sandbox-native/launcher.h; the unit test reads them there): strings, and
 * bytes with their NUL separators. More is refused by the launcher, and
 * before it here (fork-server.ts), never cut.
 */
export const launcherBounds = { strings: 1023, requestBytes: 256 * 1024 };

type Part = "shape" | "run";
/** flag: no value; count, fd: a whole number; path, text: a string */
type Value = "flag" | "count" | "fd" | "path" | "text";

export const launcherOptions = {
  // The root, the ids and the slot (also the holder's: --hold-userns).
  layer: { part: "shape", value: "path" },
  "box-lower": { part: "shape", value: "path" },
  "uid-host": { part: "shape", value: "count" },
  "gid-host": { part: "shape", value: "count" },
  "weak-same-uid": { part: "shape", value: "flag" },
  "userns-fd": { part: "shape", value: "fd" },
  "netns-fd": { part: "shape", value: "fd" },
  "image-ns-fd": { part: "shape", value: "fd" },
  image: { part: "shape", value: "text" },
  "hold-userns": { part: "shape", value: "flag" },
  "slot-lock": { part: "shape", value: "path" },
  prepare: { part: "shape", value: "fd" },
  "cgroup-v2": { part: "shape", value: "path" },
  "cgroup-v1": { part: "shape", value: "path" },
  hostname: { part: "shape", value: "text" },
  "report-fd": { part: "shape", value: "fd" },
  "seccomp-fd": { part: "shape", value: "fd" },
  // The run: its limits, environment, network and files.
  memory: { part: "run", value: "count" },
  pids: { part: "run", value: "count" },
  "cpu-ms": { part: "run", value: "count" },
  "wall-ms": { part: "run", value: "count" },
  cpus: { part: "run", value: "count" },
  "output-bytes": { part: "run", value: "count" },
  "scratch-bytes": { part: "run", value: "count" },
  "scratch-inodes": { part: "run", value: "count" },
  fsize: { part: "run", value: "count" },
  nofile: { part: "run", value: "count" },
  stack: { part: "run", value: "count" },
  env: { part: "run", value: "text" },
  "net-loopback": { part: "run", value: "flag" },
  "files-fd": { part: "run", value: "fd" },
  "collect-fd": { part: "run", value: "fd" },
  collect: { part: "run", value: "path" },
  "collect-max": { part: "run", value: "count" },
} as const satisfies Record<string, { part: Part; value: Value }>;

type Options = typeof launcherOptions;
type OptionOf<P extends Part> = { [K in keyof Options]: Options[K]["part"] extends P ? K : never }[keyof Options];
type ValueOf<K extends keyof Options> = Options[K]["value"] extends "flag"
  ? []
  : Options[K]["value"] extends "count" | "fd"
    ? [number]
    : [string];

/** Arguments of one part, only of its declared options, each with a value of its type. */
export class LauncherArgs<P extends Part> {
  readonly argv: string[] = [];

  add<K extends OptionOf<P>>(name: K, ...value: ValueOf<K>): this {
    this.argv.push(`--${name}`);
    // The launcher takes whole numbers; a limit computed in fractions rounds up.
    for (const v of value) this.argv.push(typeof v === "number" ? String(Math.ceil(v)) : v);
    return this;
  }
}

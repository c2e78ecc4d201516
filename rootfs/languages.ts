// The language catalogue: the single source of truth for which languages exist,
// which image layers hold them (and which Debian packages each layer adds),
// how code is compiled and run, and the sample programs that prove a built
// layer works. Read by rootfs/recipe.ts (images), rootfs/check.ts (the build
// check), the worker (argv, env, limits) and the API (GET /v1/languages).
// Changing a layer's packages or a language's `versionCommand` changes the
// image hash (rootfs/recipe.ts) and so rebuilds that image; changing
// compile/run/env/limits/examples does not (they are not baked into it).
// The entries are in rootfs/catalogue/, one file per kind of toolchain.

import { managed } from "./catalogue/managed.js";
import { native } from "./catalogue/native.js";
import { scripted } from "./catalogue/scripted.js";

export interface LanguageLimits {
  /** Minimum number of processes/threads (pids limit) the toolchain or runtime needs. */
  processes?: number;
  /** Memory added on top of the request's memory limit, for runtime overhead (MiB). */
  memoryMbExtra?: number;
  /** CPU (and wall) time added on top of a run's limits for the runtime's own start-up (ms). */
  startupMs?: number;
  /** Wall-time limit of the compile step in seconds, when the default is too short. */
  compileSeconds?: number;
}

/**
 * The programs every language must run correctly, at build time
 * (rootfs/check.ts) and in test/integration/languages.test.ts.
 */
export interface Examples {
  /** Prints exactly "hello, world\n"; also the playground's starting program. */
  hello: string;
  /** Reads two integers (64-bit) from stdin and prints their sum. */
  sum: string;
  /** Does not compile (compiled languages only), and a piece of the compiler's message. */
  broken?: { source: string; message: RegExp };
  /** Fails at run time: its exit code (or the signal that kills it) and a piece of its stderr. */
  crash: { source: string; exitCode?: number; signal?: string; message?: RegExp };
  /** Spins on the CPU forever. */
  spin: string;
  /** Holds at least EXAMPLE_MEMORY_MIB of touched memory, then prints "ok\n". */
  memory: string;
}

/** What the `memory` example holds: enough to show in the run's accounting. */
export const EXAMPLE_MEMORY_MIB = 32;

export interface Language {
  /** Stable identifier used in the API. */
  id: string;
  /** Display name. */
  name: string;
  /** The top image layer of this language (a key of `layers`); absent: base only. */
  layer?: string;
  /** File name the submitted source is written to, in /box. */
  sourceFile: string;
  /** Compile argv, run inside the sandbox with cwd /box (absent: interpreted). */
  compile?: readonly string[];
  /** Run argv, run inside the sandbox with cwd /box. */
  run: readonly string[];
  /**
   * Inserted after run[0], "{mb}" replaced by the run's memory limit in MiB:
   * for runtimes that size their heap from the host's RAM, not the cgroup.
   */
  runMemoryArg?: string;
  /** Extra environment for compile and run, merged over `commonEnv`. */
  env: Readonly<Record<string, string>>;
  /** Prints the toolchain version (stdout or stderr) when run inside the image. */
  versionCommand: readonly string[];
  /** Per-language adjustments of the sandbox limits. */
  limits?: LanguageLimits;
  examples: Examples;
}

export interface Layer {
  /** Debian bookworm packages this layer adds over the layer below it. */
  packages: readonly string[];
  /** The layer below (its files come from it at run time, never copied); absent: base. */
  over?: string;
}

/**
 * The image layers over base. A layer holds only what its packages add to
 * the layers below it, so a toolchain several languages need (gcc, the JDK,
 * Node, Erlang) is stored once, and a library pack (numpy, JUnit) is a thin
 * layer over its language rather than a copy of it.
 */
export const layers: Readonly<Record<string, Layer>> = {
  gcc: { packages: ["gcc", "g++", "libc6-dev"] }, // c and cpp; the linker and libc headers of every native layer over it
  python: { packages: ["python3"] },
  "python-libs": { packages: ["python3-numpy", "python3-pytest"], over: "python" },
  javascript: { packages: ["nodejs"] },
  typescript: { packages: ["node-typescript"], over: "javascript" },
  java: { packages: ["openjdk-17-jdk-headless"] },
  junit: { packages: ["junit4", "junit5"], over: "java" },
  kotlin: { packages: ["kotlin"], over: "java" },
  scala: { packages: ["scala"], over: "java" },
  clojure: { packages: ["clojure"], over: "java" },
  groovy: { packages: ["groovy"], over: "java" },
  go: { packages: ["golang-go"] },
  rust: { packages: ["rustc"] }, // rustc brings its own gcc for linking: not worth a layer of its own over gcc
  csharp: { packages: ["mono-mcs"] },
  haskell: { packages: ["ghc"], over: "gcc" },
  ocaml: { packages: ["ocaml-nox"], over: "gcc" },
  fortran: { packages: ["gfortran"], over: "gcc" },
  d: { packages: ["gdc"], over: "gcc" },
  ada: { packages: ["gnat"], over: "gcc" },
  pascal: { packages: ["fp-compiler"], over: "gcc" },
  nim: { packages: ["nim"], over: "gcc" },
  cobol: { packages: ["gnucobol3"], over: "gcc" },
  assembly: { packages: ["nasm"], over: "gcc" }, // links with gcc's ld
  ruby: { packages: ["ruby"] },
  php: { packages: ["php-cli"] },
  perl: { packages: ["perl"] },
  lua: { packages: ["lua5.4"] },
  tcl: { packages: ["tcl"] },
  r: { packages: ["r-base-core"] },
  octave: { packages: ["octave"] },
  erlang: { packages: ["erlang-base"] },
  elixir: { packages: ["elixir"], over: "erlang" },
  racket: { packages: ["racket"] },
  scheme: { packages: ["guile-3.0"] },
  commonlisp: { packages: ["sbcl"] },
  prolog: { packages: ["swi-prolog-core"] },
  sqlite: { packages: ["sqlite3"] },
  awk: { packages: ["gawk"] },
};

/**
 * Environment every sandboxed process gets.  /box (the working dir) and /tmp
 * are tmpfs mounts; everything else is the read-only image, so every cache or
 * temp directory a tool wants must point into one of those two.
 */
export const commonEnv: Readonly<Record<string, string>> = {
  PATH: "/usr/local/bin:/usr/bin:/bin",
  LANG: "C.UTF-8", // built into Debian's libc: no locales package needed
  HOME: "/box",
  USER: "runner",
  TMPDIR: "/tmp",
};

/** The sandboxed user inside the images (see the base image's /etc/passwd). */
export const RUNNER = { name: "runner", uid: 1000, gid: 1000, home: "/box", shell: "/bin/bash" } as const;

export const languages: readonly Language[] = [...native, ...managed, ...scripted];

const byId = new Map(languages.map((l) => [l.id, l]));

/** The catalogue entry for `id`, or undefined. */
export function getLanguage(id: string): Language | undefined {
  return byId.get(id);
}

/** Language ids from a list such as RUSE_LANGUAGES: ids, or "all"; throws naming an unknown one. */
export function expandLanguages(names: readonly string[]): string[] {
  if (names.includes("all")) return languages.map((l) => l.id);
  for (const n of names)
    if (!byId.has(n)) throw new Error(`unknown language "${n}" (known: ${languages.map((l) => l.id).join(", ")}, all)`);
  return [...new Set(names)];
}

/** Name of the top image layer a language needs over base, or null (base only). */
export function layerName(lang: Language): string | null {
  return lang.layer ?? null;
}

/**
 * A layer and the layers below it, top first, base excluded; throws for an
 * unknown layer or a loop.
 */
export function layerChain(name: string, table: Readonly<Record<string, Layer>> = layers): string[] {
  const chain: string[] = [];
  for (let n: string | undefined = name; n !== undefined; n = table[n]?.over) {
    if (!table[n]) throw new Error(`unknown image layer "${n}"${chain.length ? ` (under ${chain[0]})` : ""}`);
    if (chain.includes(n)) throw new Error(`image layers loop: ${[...chain, n].join(" over ")}`);
    chain.push(n);
  }
  return chain;
}

/** The full environment for a language: `commonEnv` plus its extras. */
export function languageEnv(lang: Language): Record<string, string> {
  return { ...commonEnv, ...lang.env };
}

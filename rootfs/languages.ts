// The language catalogue: the single source of truth for which languages exist,
// which Debian packages their image layer holds, and how code is compiled and run.
// Read by rootfs/build.ts (images), the worker (argv, env, limits) and the API
// (GET /v1/languages).  Changing `debianPackages` or `versionCommand` changes the
// image hash (see rootfs/manifest.ts) and so requires `npx tsx rootfs/build.ts`;
// changing compile/run/env/limits does not (they are not baked into the image).

export interface LanguageLimits {
  /** Minimum number of processes/threads (pids limit) the toolchain or runtime needs. */
  processes?: number;
  /** Memory added on top of the request's memory limit, for runtime overhead (MiB). */
  memoryMbExtra?: number;
  /** The runtime reserves large virtual address ranges up front: do not set RLIMIT_AS. */
  unlimitedAddressSpace?: boolean;
  /** Wall-time limit of the compile step in seconds, when the default is too short. */
  compileSeconds?: number;
}

export interface Language {
  /** Stable identifier used in the API. */
  id: string;
  /** Display name. */
  name: string;
  /**
   * Debian packages added over the base image.  Empty means "no layer": the
   * language runs on the base image alone.
   */
  debianPackages: readonly string[];
  /**
   * Name of the image layer holding `debianPackages`; defaults to `id`.
   * Languages that share a layer must list the same packages.
   */
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
}

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

const GCC_PACKAGES = ["gcc", "g++", "libc6-dev"] as const;

export const languages: readonly Language[] = [
  {
    id: "bash",
    name: "Bash",
    debianPackages: [],
    sourceFile: "main.sh",
    run: ["bash", "main.sh"],
    env: {},
    versionCommand: ["bash", "--version"],
  },
  {
    id: "c",
    name: "C (GCC)",
    // c and cpp share one layer: g++ pulls in all of gcc, so two layers would
    // store the C toolchain twice for ~15 MB of C++ headers and cc1plus.
    debianPackages: GCC_PACKAGES,
    layer: "gcc",
    sourceFile: "main.c",
    compile: ["gcc", "-O2", "-std=gnu17", "-pipe", "-o", "main", "main.c", "-lm"],
    run: ["./main"],
    env: {},
    versionCommand: ["gcc", "--version"],
    limits: {
      processes: 16, // the gcc driver runs cc1, as and collect2/ld as child processes
    },
  },
  {
    id: "cpp",
    name: "C++ (G++)",
    debianPackages: GCC_PACKAGES,
    layer: "gcc",
    sourceFile: "main.cpp",
    compile: ["g++", "-O2", "-std=gnu++17", "-pipe", "-o", "main", "main.cpp"],
    run: ["./main"],
    env: {},
    versionCommand: ["g++", "--version"],
    limits: {
      processes: 16, // the g++ driver runs cc1plus, as and collect2/ld as child processes
      compileSeconds: 30, // heavy template code (<bits/stdc++.h>) takes seconds to compile
    },
  },
  {
    id: "python",
    name: "Python 3",
    debianPackages: ["python3", "python3-pytest"],
    sourceFile: "main.py",
    run: ["python3", "main.py"],
    // The image is read-only and its modules are byte-compiled at build time;
    // do not litter /box with __pycache__ for the user's own modules either.
    env: { PYTHONDONTWRITEBYTECODE: "1" },
    versionCommand: ["python3", "--version"],
  },
  {
    id: "javascript",
    name: "JavaScript (Node.js)",
    debianPackages: ["nodejs"],
    sourceFile: "main.js",
    run: ["node", "main.js"],
    env: {},
    versionCommand: ["node", "--version"],
    limits: {
      processes: 32, // node starts libuv's thread pool (4) plus V8 platform/GC threads
      unlimitedAddressSpace: true, // V8 reserves gigabytes of virtual memory for its heap cage
      memoryMbExtra: 64, // V8 and libuv baseline resident memory over the program's own
    },
  },
  {
    id: "java",
    name: "Java (OpenJDK 17)",
    debianPackages: ["openjdk-17-jdk-headless"],
    sourceFile: "Main.java",
    // -J flags go to the JVM running javac: C1-only JIT and serial GC make this
    // short-lived compiler start faster and use fewer threads; no perf-data mmap in /tmp.
    compile: [
      "javac",
      "-J-XX:+UseSerialGC",
      "-J-XX:TieredStopAtLevel=1",
      "-J-XX:-UsePerfData",
      "-encoding",
      "UTF-8",
      "Main.java",
    ],
    // Serial GC: one GC thread, predictable memory.  -Xss64m: deep recursion.
    run: ["java", "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xss64m", "-cp", "/box", "Main"],
    // The JVM cannot see the sandbox's cgroup limit and would size its heap
    // from the host's RAM: the heap gets the run's memory limit.
    runMemoryArg: "-Xmx{mb}m",
    env: {},
    versionCommand: ["javac", "-version"],
    limits: {
      processes: 64, // the JVM starts compiler, GC, signal and finalizer threads even for hello world
      unlimitedAddressSpace: true, // the JVM reserves heap, metaspace and code cache address space up front
      memoryMbExtra: 192, // metaspace, code cache and thread stacks over the Java heap
      compileSeconds: 30, // javac is a JVM program: ~1 s of start-up before it compiles anything
    },
  },
  {
    id: "go",
    name: "Go",
    debianPackages: ["golang-go"],
    sourceFile: "main.go",
    compile: ["go", "build", "-o", "main", "main.go"],
    run: ["./main"],
    env: {
      GOCACHE: "/tmp/gocache", // the build cache must be writable: it lives on the tmpfs
      GOPATH: "/tmp/go",
      GOPROXY: "off", // no network in the sandbox: fail fast instead of timing out
      CGO_ENABLED: "0", // no C compiler in the go layer; static pure-Go binaries
    },
    versionCommand: ["go", "version"],
    limits: {
      processes: 64, // the go tool runs compile/asm/link in parallel, each with GOMAXPROCS threads
      unlimitedAddressSpace: true, // the Go runtime reserves large heap arenas up front
      memoryMbExtra: 128, // compiling even hello world without a warm cache builds runtime packages
      compileSeconds: 60, // a cold GOCACHE (fresh tmpfs each run) means the std packages get compiled
    },
  },
  {
    id: "rust",
    name: "Rust",
    debianPackages: ["rustc"],
    sourceFile: "main.rs",
    compile: ["rustc", "-O", "--edition", "2021", "-C", "debuginfo=0", "-o", "main", "main.rs"],
    run: ["./main"],
    env: { CARGO_HOME: "/tmp/cargo" },
    versionCommand: ["rustc", "--version"],
    limits: {
      processes: 32, // rustc uses codegen threads and runs cc/ld for linking
      unlimitedAddressSpace: true, // rustc (LLVM) maps large address ranges
      memoryMbExtra: 256, // LLVM optimisation at -O needs a few hundred MB
      compileSeconds: 30, // rustc -O is slow even on small programs
    },
  },
];

const byId = new Map(languages.map((l) => [l.id, l]));

/** The catalogue entry for `id`, or undefined. */
export function getLanguage(id: string): Language | undefined {
  return byId.get(id);
}

/** Name of the image layer a language needs over base, or null (base only). */
export function layerName(lang: Language): string | null {
  return lang.debianPackages.length === 0 ? null : (lang.layer ?? lang.id);
}

/** The full environment for a language: `commonEnv` plus its extras. */
export function languageEnv(lang: Language): Record<string, string> {
  return { ...commonEnv, ...lang.env };
}

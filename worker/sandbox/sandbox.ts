// The typed driver of sandbox-native: runInSandbox(spec) -> result.
// One Sandbox per worker: it detects the host, compiles the seccomp policy
// once, and owns the slots (one per concurrent run).
import { PassThrough, type Readable, type Writable } from "node:stream";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compileSeccompPolicy } from "./seccomp.js";
import { describeHost, detectHost, type Host } from "./host.js";
import { LauncherArgs } from "./launcher-args.js";
import { SlotPool, type Slot } from "./slots.js";
import { decodeCollected, encodeFiles, type CollectedFile, type SandboxFile } from "./files-stream.js";
import { launcherReport, verdictOf } from "./report.js";
import type { CgroupPlace } from "../../core/config.js";
import type { SandboxVerdict } from "../../core/verdicts.js";
import { ForkServer, SERVED_FD, type Launch } from "./fork-server.js";

let servers = 0;

export const LAUNCHER = fileURLToPath(new URL("../../sandbox-native/build/ruse-launch", import.meta.url));

export interface SandboxLimits {
  cpuMs: number;
  wallMs: number;
  memoryBytes: number;
  processes: number;
  /** per stream: stdout and stderr each */
  outputBytes: number;
  /** tmpfs shared by /box, /tmp and /dev/shm; its pages count as memory too */
  scratchBytes: number;
  fileSizeBytes: number;
  openFiles: number;
  stackBytes: number;
  /** CPU bandwidth cap in CPUs (cgroup cpu controller); absent: none */
  cpus?: number;
}

export interface SandboxSpec {
  /** read-only image layers, top first */
  layers: string[];
  /**
   * A host directory (of the worker's, world-readable, never written by a
   * sandbox) shown read-only in /box under the run's writable scratch:
   * compiled artifacts shared by every test instead of copied into each.
   */
  boxLower?: string;
  argv: string[];
  /** the program's whole environment */
  env?: Record<string, string>;
  /** a buffer, or a stream fed as it flows (interactive problems) */
  stdin?: Buffer | string | Readable;
  /** also receive the program's stdout (interactive problems, streamed runs) and stderr (streamed runs) as they come */
  stdoutTo?: Writable;
  stderrTo?: Writable;
  files?: SandboxFile[];
  /** paths under /box copied out after the run */
  collect?: string[];
  collectMaxBytes?: number;
  limits: SandboxLimits;
  /** loopback only; there is never a route out */
  network?: boolean;
}

export interface SandboxUsage {
  cpuMs: number;
  userMs: number;
  sysMs: number;
  wallMs: number;
  memoryKb: number;
}

export interface SandboxResult {
  verdict: SandboxVerdict;
  exitCode: number | null;
  signal: number | null;
  stdout: Buffer;
  stderr: Buffer;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  usage: SandboxUsage;
  /** which limit ended the run, if one did */
  limit: "cpu" | "wall" | "memory" | "output" | null;
  oomKilled: boolean;
  /** set-up time: from the launcher's start, or for a prepared sandbox from the moment the run was handed to it */
  setupMs: number;
  /** the run found its sandbox prepared (built up to the image's root before it came) */
  prepared: boolean;
  collected: CollectedFile[];
  /** why the sandbox failed (verdict internal_error) */
  error?: string;
}

// If the launcher itself ever hangs past the run's wall limit, it is killed
// (and with it, through PDEATHSIG, the whole run).
const LAUNCHER_GRACE_MS = 30_000;

function internalError(
  error: string,
  stdout: Buffer = Buffer.alloc(0),
  stderr: Buffer = Buffer.alloc(0),
): SandboxResult {
  return {
    verdict: "internal_error",
    exitCode: null,
    signal: null,
    stdout,
    stderr,
    stdoutTruncated: false,
    stderrTruncated: false,
    usage: { cpuMs: 0, userMs: 0, sysMs: 0, wallMs: 0, memoryKb: 0 },
    limit: null,
    oomKilled: false,
    setupMs: 0,
    prepared: false,
    collected: [],
    error,
  };
}

function checkLimits(l: SandboxLimits): string | null {
  for (const [k, v] of Object.entries(l)) {
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) return `limit ${k} must be a positive number, got ${v}`;
  }
  return null;
}

/** The sandbox's shape: what a prepared sandbox is built with. */
function shapeArgs(spec: SandboxSpec, host: Host, slot: Slot, slots: SlotPool, sharedNet: boolean): string[] {
  const a = new LauncherArgs<"shape">();
  const ns = slots.served(slot, SERVED_FD.firstSlot, spec.layers);
  // The slot's namespace of the image, if it holds one; box-lower is bound
  // from the host's mount table, which only a run that builds its root has.
  if (ns.image !== undefined && !spec.boxLower) a.add("image-ns-fd", ns.image);
  else for (const layer of spec.layers) a.add("layer", layer);
  if (spec.boxLower) a.add("box-lower", spec.boxLower);
  if (slot.uidHost === null || slot.gidHost === null) a.add("weak-same-uid");
  else a.add("uid-host", slot.uidHost).add("gid-host", slot.gidHost);
  a.add("userns-fd", ns.userns);
  // Loopback needs a namespace of its own; else the slot's (sandbox-native/net.c).
  if (!spec.network && sharedNet) a.add("netns-fd", ns.netns);
  if (host.cgroups.version === 2) a.add("cgroup-v2", host.cgroups.parent);
  else for (const p of host.cgroups.parents) a.add("cgroup-v1", p);
  a.add("report-fd", SERVED_FD.report).add("seccomp-fd", SERVED_FD.seccomp);
  return ["ruse-launch", ...a.argv];
}

/** A prepared sandbox waits for its run's options on the served descriptor. */
const PREPARE = new LauncherArgs<"shape">().add("prepare", SERVED_FD.run).argv;

/** The run's own options, then the program. */
function runArgs(spec: SandboxSpec): string[] {
  const l = spec.limits;
  const a = new LauncherArgs<"run">();
  a.add("memory", l.memoryBytes).add("pids", l.processes).add("cpu-ms", l.cpuMs).add("wall-ms", l.wallMs);
  a.add("output-bytes", l.outputBytes).add("scratch-bytes", l.scratchBytes).add("fsize", l.fileSizeBytes);
  a.add("nofile", l.openFiles).add("stack", l.stackBytes);
  if (l.cpus) a.add("cpus", l.cpus * 1000);
  for (const [k, v] of Object.entries(spec.env ?? {})) a.add("env", `${k}=${v}`);
  if (spec.network) a.add("net-loopback");
  // Both streams always: unnamed, the launcher and init would hold the mux's
  // pipes open, and the run's streams would end only when they exit.
  a.add("files-fd", SERVED_FD.files).add("collect-fd", SERVED_FD.collect);
  if (spec.collect?.length) {
    a.add("collect-max", spec.collectMaxBytes ?? 16 << 20);
    for (const c of spec.collect) a.add("collect", c);
  }
  return [...a.argv, "--", ...spec.argv];
}

/** The program in a private file, opened read-only and unlinked at once. */
function seccompFile(bpf: Buffer): number {
  const dir = mkdtempSync(join(tmpdir(), "ruse-seccomp-"));
  const path = join(dir, "filter.bpf");
  writeFileSync(path, bpf, { mode: 0o400 });
  const fd = openSync(path, "r");
  rmSync(dir, { recursive: true });
  return fd;
}

export class Sandbox {
  /**
   * Per slot, a sandbox prepared for the next run: built, while the slot's
   * run goes on, with the shape of that run (the same image, most often),
   * up to its image's root. A run of that shape only adds its
   * scratch, files and program; one of another shape removes it and starts
   * afresh. It holds no process of the slot's uid, nothing of any run.
   */
  private readonly prepared = new Map<number, { shape: string; launch: Launch }>();
  /** per slot, the shape of its last run */
  private readonly lastShape = new Map<number, string>();
  /**
   * Slots whose network namespace a run left something in, a socket or a
   * moved counter (sandbox-native/net.c): their runs get namespaces of
   * their own from then on.
   */
  private readonly netLeftovers = new Set<number>();
  private closing?: Promise<void>;

  private constructor(
    readonly host: Host,
    /** the compiled seccomp program, as an open unlinked file every run reads */
    private readonly seccompFd: number,
    private readonly slots: SlotPool,
    private readonly server: ForkServer,
  ) {}

  /**
   * Detects the host, compiles the seccomp policy and takes `concurrency`
   * slots, each holding the root of every image in `images` (layers, top
   * first) built, for runs of those images to copy. Slot locks live under
   * the user's home from the password database (not $HOME, not the state
   * directory), so that every worker of the user on this machine sees the
   * same ones.
   */
  static async create(opts: {
    concurrency: number;
    allowWeakSameUid?: boolean;
    cgroup?: CgroupPlace;
    stateDir?: string;
    images?: string[][];
  }): Promise<Sandbox> {
    if (!existsSync(LAUNCHER)) throw new Error(`the launcher ${LAUNCHER} is not built; run \`bash scripts/setup.sh\``);
    const host = detectHost({ allowWeakSameUid: opts.allowWeakSameUid, cgroup: opts.cgroup });
    const stateDir = opts.stateDir ?? join(homedir(), ".local/state/ruse");
    const slots = await SlotPool.create(
      LAUNCHER,
      host,
      opts.concurrency,
      join(userInfo().homedir, ".local/state/ruse/slots"),
      opts.images,
    );
    const seccompFd = seccompFile(compileSeccompPolicy());
    // A private directory: only the worker user can reach the server's socket.
    mkdirSync(join(stateDir, "run"), { recursive: true, mode: 0o700 });
    const socket = join(stateDir, "run", `launcher-${process.pid}-${++servers}.sock`);
    const server = await ForkServer.start(LAUNCHER, socket, [seccompFd, ...slots.namespaceFds()]);
    return new Sandbox(host, seccompFd, slots, server);
  }

  /** Slots no run holds right now. */
  idleSlots(): number {
    return this.slots.idle;
  }

  /** The host uids of this sandbox's slots (empty in weak mode). */
  slotUids(): number[] {
    return this.slots.uids();
  }

  describe(): string {
    return `${describeHost(this.host)}; ${this.slots.size} slots`;
  }

  /** Resolves when every launcher has finished tearing its run down (once, however often called). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const { launch } of this.prepared.values()) launch.abort(LAUNCHER_GRACE_MS);
      this.prepared.clear();
      await this.server.close();
      this.slots.close();
      closeSync(this.seccompFd);
    })();
    return this.closing;
  }

  async run(spec: SandboxSpec): Promise<SandboxResult> {
    const bad = checkLimits(spec.limits);
    if (bad) return internalError(bad);
    if (!spec.argv.length) return internalError("no program to run");
    if (!spec.layers.length) return internalError("no image layers given");
    const [slot] = await this.slots.acquire(1);
    try {
      return await this.launch(spec, slot!);
    } finally {
      this.slots.release(slot!);
    }
  }

  /**
   * Two runs at once whose output feeds each other's input (an interactive
   * problem: the program and its interactor). Both slots are taken together,
   * so that two pairs can never each hold one slot and wait for the other.
   */
  async runPair(a: SandboxSpec, b: SandboxSpec): Promise<[SandboxResult, SandboxResult]> {
    if (this.slots.size < 2)
      return [
        internalError("an interactive run needs two sandbox slots"),
        internalError("an interactive run needs two sandbox slots"),
      ];
    const aToB = new PassThrough();
    const bToA = new PassThrough();
    const slots = await this.slots.acquire(2);
    try {
      return await Promise.all([
        this.launch({ ...a, stdin: bToA, stdoutTo: aToB }, slots[0]!),
        this.launch({ ...b, stdin: aToB, stdoutTo: bToA }, slots[1]!),
      ]);
    } finally {
      for (const s of slots) this.slots.release(s);
    }
  }

  private async launch(spec: SandboxSpec, slot: Slot): Promise<SandboxResult> {
    const files = encodeFiles(spec.files ?? []);
    const stdin = typeof spec.stdin === "string" ? Buffer.from(spec.stdin) : (spec.stdin ?? Buffer.alloc(0));
    const input = {
      files,
      stdin,
      timeoutMs: spec.limits.wallMs + LAUNCHER_GRACE_MS,
      stdoutTo: spec.stdoutTo,
      stderrTo: spec.stderrTo,
    };
    const shape = shapeArgs(spec, this.host, slot, this.slots, !this.netLeftovers.has(slot.index));
    const key = shape.join("\0");
    const ready = this.prepared.get(slot.index);
    this.prepared.delete(slot.index);
    const prepared = !!ready && ready.shape === key && !ready.launch.over;
    if (!prepared) ready?.launch.abort(LAUNCHER_GRACE_MS);
    const running = prepared
      ? ready.launch.start(runArgs(spec), input)
      : this.server.launch([...shape, ...runArgs(spec)]).start(null, input);
    // The slot's next run most likely has the same shape: its sandbox is
    // built now, while this one runs, so that under load (the next run
    // already waiting) it is ready too. Not when the slot's shapes change
    // run by run (a compile and its tests, a program and its checker): each
    // would be built for nothing.
    const previous = this.lastShape.get(slot.index);
    this.lastShape.set(slot.index, key);
    if (!this.closing && (previous === undefined || previous === key))
      this.prepared.set(slot.index, { shape: key, launch: this.server.launch([...shape, ...PREPARE]) });
    const served = await running;
    const { stdout, stderr } = served;
    const text = served.report.toString();
    const code = served.status === null ? "no exit status" : `wait status ${served.status}`;
    let parsed: ReturnType<typeof launcherReport.safeParse>;
    try {
      parsed = launcherReport.safeParse(JSON.parse(text));
    } catch {
      return internalError(`the launcher gave no report (${code}): ${text.slice(0, 200)}`, stdout, stderr);
    }
    if (!parsed.success)
      return internalError(`the launcher's report is malformed: ${text.slice(0, 200)}`, stdout, stderr);
    const r = parsed.data;
    if (!r.ok) return internalError(r.error, stdout, stderr);
    if (r.netLeftover) this.netLeftovers.add(slot.index); // the next run's shape changes: its prepared sandbox goes
    let collected: CollectedFile[] = [];
    if (spec.collect?.length && r.limit === null) {
      try {
        collected = decodeCollected(served.collect);
      } catch (e) {
        return internalError(`collect: ${(e as Error).message}`, stdout, stderr);
      }
    }
    const ms = (us: number) => Math.round(us / 100) / 10;
    return {
      verdict: verdictOf(r),
      exitCode: r.exitCode,
      signal: r.signal,
      stdout,
      stderr,
      stdoutTruncated: r.stdoutTruncated,
      stderrTruncated: r.stderrTruncated,
      usage: {
        cpuMs: ms(r.cpuUs),
        userMs: ms(r.userUs),
        sysMs: ms(r.sysUs),
        wallMs: ms(r.wallUs),
        memoryKb: Math.round(r.memoryPeakBytes / 1024),
      },
      limit: r.limit === "setup" ? null : r.limit,
      oomKilled: r.oomKilled,
      setupMs: ms(r.setupUs),
      prepared,
      collected,
    };
  }
}

// The typed driver of sandbox-native: runInSandbox(spec) -> result.
// One Sandbox per worker: it detects the host, compiles the seccomp policy
// once, and owns the slots (one per concurrent run).
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Writable } from "node:stream";
import { compileSeccompPolicy } from "./seccomp.js";
import { describeHost, detectHost, type Host } from "./host.js";
import { SlotPool, type Slot } from "./slots.js";
import { decodeCollected, encodeFiles, type CollectedFile, type SandboxFile } from "./files-stream.js";
import { launcherReport, verdictOf, type SandboxVerdict } from "./report.js";

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
  argv: string[];
  /** the program's whole environment */
  env?: Record<string, string>;
  stdin?: Buffer | string;
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
  setupMs: number;
  collected: CollectedFile[];
  /** why the sandbox failed (verdict internal_error) */
  error?: string;
}

// Descriptors of the launcher, fixed by this driver.
const FD = { report: 3, seccomp: 4, files: 5, collect: 6, userns: 7 } as const;
// If the launcher itself ever hangs past the run's wall limit, it is killed
// (and with it, through PDEATHSIG, the whole run).
const LAUNCHER_GRACE_MS = 30_000;

function internalError(error: string, stdout = Buffer.alloc(0), stderr = Buffer.alloc(0)): SandboxResult {
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

function launcherArgs(spec: SandboxSpec, host: Host, slot: Slot): string[] {
  const l = spec.limits;
  const a: string[] = [];
  for (const layer of spec.layers) a.push("--layer", layer);
  if (slot.uidHost === null || slot.gidHost === null) a.push("--weak-same-uid");
  else a.push("--uid-host", String(slot.uidHost), "--gid-host", String(slot.gidHost));
  a.push("--userns-fd", String(FD.userns));
  if (host.cgroups.version === 2) a.push("--cgroup-v2", host.cgroups.parent);
  else for (const p of host.cgroups.parents) a.push("--cgroup-v1", p);
  const n = (x: number) => String(Math.ceil(x));
  a.push("--memory", n(l.memoryBytes), "--pids", n(l.processes), "--cpu-ms", n(l.cpuMs), "--wall-ms", n(l.wallMs));
  a.push("--output-bytes", n(l.outputBytes), "--scratch-bytes", n(l.scratchBytes), "--fsize", n(l.fileSizeBytes));
  a.push("--nofile", n(l.openFiles), "--stack", n(l.stackBytes));
  if (l.cpus) a.push("--cpus", n(l.cpus * 1000));
  for (const [k, v] of Object.entries(spec.env ?? {})) a.push("--env", `${k}=${v}`);
  if (spec.network) a.push("--net-loopback");
  a.push("--report-fd", String(FD.report), "--seccomp-fd", String(FD.seccomp));
  if (spec.files?.length) a.push("--files-fd", String(FD.files));
  if (spec.collect?.length) {
    a.push("--collect-fd", String(FD.collect), "--collect-max", n(spec.collectMaxBytes ?? 16 << 20));
    for (const c of spec.collect) a.push("--collect", c);
  }
  a.push("--", ...spec.argv);
  return a;
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

/** Feeds a buffer to a child's pipe; a program that never reads it is not an error. */
function feed(stream: Writable | null | undefined, data: Buffer | string | undefined): void {
  if (!stream) return;
  stream.on("error", () => {});
  stream.end(data ?? "");
}

export class Sandbox {
  private constructor(
    readonly host: Host,
    /** the compiled seccomp program, as an open unlinked file every run reads */
    private readonly seccompFd: number,
    private readonly slots: SlotPool,
  ) {}

  /**
   * Detects the host, compiles the seccomp policy and takes `concurrency`
   * slots; slot locks live in `stateDir` (shared by the user's workers).
   */
  static async create(opts: { concurrency: number; allowWeakSameUid?: boolean; stateDir?: string }): Promise<Sandbox> {
    if (!existsSync(LAUNCHER)) throw new Error(`the launcher ${LAUNCHER} is not built; run \`bash scripts/setup.sh\``);
    const host = detectHost({ allowWeakSameUid: opts.allowWeakSameUid });
    const stateDir = opts.stateDir ?? join(homedir(), ".local/state/ruse");
    const slots = await SlotPool.create(LAUNCHER, host, opts.concurrency, join(stateDir, "slots"));
    return new Sandbox(host, seccompFile(compileSeccompPolicy()), slots);
  }

  /** The host uids of this sandbox's slots (empty in weak mode). */
  slotUids(): number[] {
    return this.slots.uids();
  }

  describe(): string {
    return `${describeHost(this.host)}; ${this.slots.size} slots`;
  }

  close(): void {
    this.slots.close();
    closeSync(this.seccompFd);
  }

  async run(spec: SandboxSpec): Promise<SandboxResult> {
    const bad = checkLimits(spec.limits);
    if (bad) return internalError(bad);
    if (!spec.argv.length) return internalError("no program to run");
    if (!spec.layers.length) return internalError("no image layers given");
    const slot = await this.slots.acquire();
    try {
      return await this.launch(spec, slot);
    } finally {
      this.slots.release(slot);
    }
  }

  private async launch(spec: SandboxSpec, slot: Slot): Promise<SandboxResult> {
    const child = spawn(LAUNCHER, launcherArgs(spec, this.host, slot), {
      env: {},
      stdio: ["pipe", "pipe", "pipe", "pipe", this.seccompFd, spec.files?.length ? "pipe" : "ignore", spec.collect?.length ? "pipe" : "ignore", slot.usernsFd],
    });
    const chunks = { out: [] as Buffer[], err: [] as Buffer[], report: [] as Buffer[], collect: [] as Buffer[] };
    child.stdout!.on("data", (d: Buffer) => chunks.out.push(d));
    child.stderr!.on("data", (d: Buffer) => chunks.err.push(d));
    const io = child.stdio as unknown as (NodeJS.ReadableStream & Writable | null)[];
    io[FD.report]!.on("data", (d: Buffer) => chunks.report.push(d));
    if (spec.collect?.length) io[FD.collect]!.on("data", (d: Buffer) => chunks.collect.push(d));
    if (spec.files?.length) feed(io[FD.files], encodeFiles(spec.files));
    feed(child.stdin, spec.stdin);

    const guard = setTimeout(() => child.kill("SIGKILL"), spec.limits.wallMs + LAUNCHER_GRACE_MS);
    const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (c, s) => resolve([c, s]));
    }).finally(() => clearTimeout(guard));

    const stdout = Buffer.concat(chunks.out);
    const stderr = Buffer.concat(chunks.err);
    const text = Buffer.concat(chunks.report).toString();
    let parsed;
    try {
      parsed = launcherReport.safeParse(JSON.parse(text));
    } catch {
      return internalError(`the launcher gave no report (exit ${code ?? sig}): ${text.slice(0, 200)}`, stdout, stderr);
    }
    if (!parsed.success) return internalError(`the launcher's report is malformed: ${text.slice(0, 200)}`, stdout, stderr);
    const r = parsed.data;
    if (!r.ok) return internalError(r.error, stdout, stderr);
    let collected: CollectedFile[] = [];
    if (spec.collect?.length && r.limit === null) {
      try {
        collected = decodeCollected(Buffer.concat(chunks.collect));
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
      usage: { cpuMs: ms(r.cpuUs), userMs: ms(r.userUs), sysMs: ms(r.sysUs), wallMs: ms(r.wallUs), memoryKb: Math.round(r.memoryPeakBytes / 1024) },
      limit: r.limit === "setup" ? null : r.limit,
      oomKilled: r.oomKilled,
      setupMs: ms(r.setupUs),
      collected,
    };
  }
}

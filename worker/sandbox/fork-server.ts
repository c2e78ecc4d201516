// The worker's side of the launcher's fork server (sandbox-native/serve.c):
// one small process started once, which forks a launcher per run, so that the
// worker's event loop never pays for forking its own large process. A run is
// one Unix-socket connection carrying frames: u8 type, u32 length (LE), data.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import type { Readable, Writable } from "node:stream";
import { launcherBounds } from "./launcher-args.js";

/** Frame types, as serve.c numbers them (F_*). */
export const FRAME = {
  request: 0,
  stdin: 1,
  files: 2,
  run: 3,
  stdout: 11,
  stderr: 12,
  report: 13,
  collect: 14,
  exit: 20,
} as const;
const CHUNK = 65536;

/** The descriptors a served launcher has: fixed by serve.c, and by the order of `ForkServer.start`'s fds (the slots' namespaces from `firstSlot` on). */
export const SERVED_FD = { seccomp: 3, firstSlot: 4, report: 1000, files: 1001, collect: 1002, run: 1003 } as const;

export interface ServedRun {
  stdout: Buffer;
  stderr: Buffer;
  report: Buffer;
  collect: Buffer;
  /** the launcher's wait status; null if it had not exited yet, or the connection broke */
  status: number | null;
}

/** What a run gives its launcher once it starts. */
export interface RunInput {
  files: Buffer;
  /** a buffer, or a stream carried as it flows (an interactor's output) */
  stdin: Buffer | Readable;
  timeoutMs: number;
  /** also receive the program's stdout and stderr as they come */
  stdoutTo?: Writable;
  stderrTo?: Writable;
}

function frame(type: number, data?: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt8(type, 0);
  h.writeUInt32LE(data?.length ?? 0, 1);
  return data?.length ? Buffer.concat([h, data]) : h;
}

/** Each string ended by a NUL, so that an empty last one is not lost. */
/** A request as the launcher reads it, NUL-separated: refused, never cut, when it cannot be carried whole. */
function nulTerminated(strings: string[]): Buffer {
  if (strings.some((x) => x.includes("\0"))) throw new Error("a launcher argument contains NUL");
  const blob = Buffer.from(strings.map((x) => `${x}\0`).join(""));
  const { strings: most, requestBytes } = launcherBounds;
  if (strings.length > most || blob.length >= requestBytes)
    throw new Error(
      `the launch has ${strings.length} arguments in ${blob.length} bytes; the launcher takes ${most} in under ${requestBytes}`,
    );
  return blob;
}

function* chunks(type: number, data: Buffer): Generator<Buffer> {
  for (let o = 0; o < data.length; o += CHUNK) yield frame(type, data.subarray(o, o + CHUNK));
  yield frame(type);
}

/**
 * One launcher, on one connection. Started at once (`start`), or prepared:
 * the sandbox is built up to its image's root while nothing waits on it, and
 * `start` later hands it the run's own options (then `runArgv`), or `abort`
 * has it removed.
 */
export class Launch {
  private readonly sock: Socket;
  private readonly out = {
    stdout: [] as Buffer[],
    stderr: [] as Buffer[],
    report: [] as Buffer[],
    collect: [] as Buffer[],
  };
  private buf: Buffer = Buffer.alloc(0);
  private status: number | null = null;
  private ended = 0;
  private closed = false;
  private guard?: NodeJS.Timeout;
  private input?: RunInput;
  private resolve?: (r: ServedRun) => void;

  constructor(path: string, argv: string[], onClose: (l: Launch) => void) {
    const request = nulTerminated(argv); // refused before a connection is opened
    this.sock = connect(path);
    this.sock.on("error", () => {});
    this.sock.on("close", () => {
      clearTimeout(this.guard);
      this.closed = true;
      onClose(this);
      this.done();
    });
    this.sock.on("data", (d: Buffer) => this.onData(d));
    this.sock.write(frame(FRAME.request, request));
  }

  /** The launcher is gone or going: a prepared one that failed is of no use. */
  get over(): boolean {
    return this.closed || this.status !== null || this.ended > 0;
  }

  /**
   * Runs: `runArgv` are the run's options for a prepared launcher (null for
   * one whose argv held them). Resolves when all four streams have ended
   * with a report: the launcher writes it before it tears the run down
   * (status is then null), and the connection stays open until it exits.
   */
  start(runArgv: string[] | null, input: RunInput): Promise<ServedRun> {
    const options = runArgv ? nulTerminated(["ruse-launch", ...runArgv]) : Buffer.alloc(0);
    this.input = input;
    const result = new Promise<ServedRun>((r) => (this.resolve = r));
    this.guard = setTimeout(() => this.sock.destroy(), input.timeoutMs); // the mux, then the run, die with it
    const { sock } = this;
    sock.cork(); // the options, files and a buffered stdin go in one writev
    for (const f of chunks(FRAME.run, options)) sock.write(f);
    for (const f of chunks(FRAME.files, input.files)) sock.write(f);
    if (Buffer.isBuffer(input.stdin)) for (const f of chunks(FRAME.stdin, input.stdin)) sock.write(f);
    sock.uncork();
    if (!Buffer.isBuffer(input.stdin)) {
      input.stdin.on("data", (d: Buffer) => {
        for (let o = 0; o < d.length; o += CHUNK) sock.write(frame(FRAME.stdin, d.subarray(o, o + CHUNK)));
      });
      input.stdin.on("end", () => sock.write(frame(FRAME.stdin)));
    }
    if (this.closed) this.done();
    return result;
  }

  /**
   * A prepared launcher no run will use: it removes its sandbox and exits,
   * or is killed after `graceMs` (closing the connection has the mux kill
   * it), so that nothing waits on a teardown that hangs.
   */
  abort(graceMs: number): void {
    if (this.closed) return;
    this.sock.write(frame(FRAME.run));
    this.guard ??= setTimeout(() => this.sock.destroy(), graceMs);
  }

  private done(): void {
    const input = this.input;
    if (!this.resolve || !input) return;
    for (const to of [input.stdoutTo, input.stderrTo]) if (to && !to.writableEnded) to.end();
    const cat = (b: Buffer[]) => Buffer.concat(b);
    const { out } = this;
    this.resolve({
      stdout: cat(out.stdout),
      stderr: cat(out.stderr),
      report: cat(out.report),
      collect: cat(out.collect),
      status: this.status,
    });
    this.resolve = undefined;
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    const { out, input } = this;
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32LE(1);
      if (this.buf.length < 5 + len) break;
      const type = this.buf[0]!;
      const data = this.buf.subarray(5, 5 + len);
      this.buf = this.buf.subarray(5 + len);
      const to = type === FRAME.stdout ? input?.stdoutTo : type === FRAME.stderr ? input?.stderrTo : undefined;
      if (to && !to.writableEnded) data.length ? to.write(data) : to.end();
      if (type === FRAME.stdout) {
        if (data.length) out.stdout.push(data);
      } else if (type === FRAME.stderr) out.stderr.push(data);
      else if (type === FRAME.report) out.report.push(data);
      else if (type === FRAME.collect) out.collect.push(data);
      else if (type === FRAME.exit) {
        this.status = data.readUInt32LE(0);
        if (input && !Buffer.isBuffer(input.stdin))
          input.stdin.removeAllListeners("data").removeAllListeners("end").resume();
        this.sock.end(); // the mux waits for this before it goes
      }
      if (!len && type >= FRAME.stdout && type <= FRAME.collect && ++this.ended === 4 && out.report.length) this.done();
    }
  }
}

export class ForkServer {
  /** launches whose launcher has not exited yet */
  private readonly open = new Set<Launch>();
  private idle?: () => void;
  private closing?: Promise<void>;

  private constructor(
    private readonly proc: ChildProcess,
    private readonly path: string,
  ) {}

  /** Starts the server with `fds` on its descriptors 3, 4, ... (inherited by every run). */
  static async start(launcher: string, path: string, fds: number[]): Promise<ForkServer> {
    // The server and its muxes open some 20 more of their own (socket, pipes) below the fixed ones.
    if (3 + fds.length + 32 > SERVED_FD.report)
      throw new Error(`${fds.length} descriptors to hand the fork server: more than fit below ${SERVED_FD.report}`);
    const proc = spawn(launcher, ["--serve", path], { stdio: ["pipe", "pipe", "inherit", ...fds], env: {} });
    const ready = once(proc.stdout!, "data");
    const exited = once(proc, "exit").then(() => {
      throw new Error(`the launcher's fork server did not start on ${path}`);
    });
    await Promise.race([ready, exited]);
    proc.unref();
    (proc.stdout as unknown as { unref?: () => void }).unref?.();
    return new ForkServer(proc, path);
  }

  /** A launcher for `argv`: started at once with `launch.start(null, ...)`, or prepared (--prepare). */
  launch(argv: string[]): Launch {
    const l = new Launch(this.path, argv, (gone) => {
      this.open.delete(gone);
      if (!this.open.size) this.idle?.();
    });
    this.open.add(l);
    return l;
  }

  /** Stops the server once every launcher has exited (finished tearing its run down). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.open.size) await new Promise<void>((r) => (this.idle = r));
      this.proc.stdin?.end();
    })();
    return this.closing;
  }
}

// The worker's side of the launcher's fork server (sandbox-native/serve.c):
// one small process started once, which forks a launcher per run, so that the
// worker's event loop never pays for forking its own large process. A run is
// one Unix-socket connection carrying frames: u8 type, u32 length (LE), data.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import type { Readable, Writable } from "node:stream";

const F = { request: 0, stdin: 1, files: 2, stdout: 11, stderr: 12, report: 13, collect: 14, exit: 20 } as const;
const CHUNK = 65536;

/** The descriptors a served launcher has: fixed by serve.c. */
export const SERVED_FD = { seccomp: 3, firstUserns: 4, report: 100, files: 101, collect: 102 } as const;

export interface ServedRun {
  stdout: Buffer;
  stderr: Buffer;
  report: Buffer;
  collect: Buffer;
  /** the launcher's wait status, or null if the connection broke */
  status: number | null;
}

function frame(type: number, data?: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt8(type, 0);
  h.writeUInt32LE(data?.length ?? 0, 1);
  return data?.length ? Buffer.concat([h, data]) : h;
}

function* chunks(type: number, data: Buffer): Generator<Buffer> {
  for (let o = 0; o < data.length; o += CHUNK) yield frame(type, data.subarray(o, o + CHUNK));
  yield frame(type);
}

export class ForkServer {
  /** connections of runs whose launcher has not exited yet */
  private readonly open = new Set<Socket>();
  private idle?: () => void;

  private constructor(
    private readonly proc: ChildProcess,
    private readonly path: string,
  ) {}

  /** Starts the server with `fds` on its descriptors 3, 4, ... (inherited by every run). */
  static async start(launcher: string, path: string, fds: number[]): Promise<ForkServer> {
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

  /**
   * One run: argv for the launcher, its files stream and stdin (a buffer, or
   * a stream carried as it flows: an interactor's output); its stdout is also
   * written to `stdoutTo` as it comes. Resolves when all four streams have
   * ended with a report: the launcher writes it before it tears the run down
   * (status is then null), and the connection stays open until it exits.
   */
  run(argv: string[], files: Buffer | null, stdin: Buffer | Readable, timeoutMs: number, stdoutTo?: Writable): Promise<ServedRun> {
    return new Promise((resolve) => {
      const sock: Socket = connect(this.path);
      const out = { stdout: [] as Buffer[], stderr: [] as Buffer[], report: [] as Buffer[], collect: [] as Buffer[] };
      let buf: Buffer = Buffer.alloc(0);
      let status: number | null = null;
      let ended = 0;
      const done = () => {
        if (stdoutTo && !stdoutTo.writableEnded) stdoutTo.end();
        const cat = (b: Buffer[]) => Buffer.concat(b);
        resolve({ stdout: cat(out.stdout), stderr: cat(out.stderr), report: cat(out.report), collect: cat(out.collect), status });
      };
      const guard = setTimeout(() => sock.destroy(), timeoutMs); // the mux, then the run, die with it
      this.open.add(sock);
      sock.on("error", () => {});
      sock.on("close", () => {
        clearTimeout(guard);
        this.open.delete(sock);
        if (!this.open.size) this.idle?.();
        done();
      });
      sock.on("data", (d: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        while (buf.length >= 5) {
          const len = buf.readUInt32LE(1);
          if (buf.length < 5 + len) break;
          const type = buf[0]!;
          const data = buf.subarray(5, 5 + len);
          buf = buf.subarray(5 + len);
          if (!len && type >= F.stdout && type <= F.collect && ++ended === 4 && out.report.length) done();
          if (type === F.stdout) {
            if (data.length) out.stdout.push(data);
            if (stdoutTo && !stdoutTo.writableEnded) data.length ? stdoutTo.write(data) : stdoutTo.end();
          }
          else if (type === F.stderr) out.stderr.push(data);
          else if (type === F.report) out.report.push(data);
          else if (type === F.collect) out.collect.push(data);
          else if (type === F.exit) {
            status = data.readUInt32LE(0);
            if (!Buffer.isBuffer(stdin)) stdin.removeAllListeners("data").removeAllListeners("end").resume();
            sock.end(); // the mux waits for this before it goes
          }
        }
      });
      sock.cork(); // the request, files and a buffered stdin go in one writev
      sock.write(frame(F.request, Buffer.from(argv.join("\0"))));
      for (const f of chunks(F.files, files ?? Buffer.alloc(0))) sock.write(f);
      if (Buffer.isBuffer(stdin)) for (const f of chunks(F.stdin, stdin)) sock.write(f);
      sock.uncork();
      if (!Buffer.isBuffer(stdin)) {
        stdin.on("data", (d: Buffer) => {
          for (let o = 0; o < d.length; o += CHUNK) sock.write(frame(F.stdin, d.subarray(o, o + CHUNK)));
        });
        stdin.on("end", () => sock.write(frame(F.stdin)));
      }
    });
  }

  /** Stops the server once every launcher has exited (finished tearing its run down). */
  async close(): Promise<void> {
    if (this.open.size) await new Promise<void>((r) => (this.idle = r));
    this.proc.stdin?.end();
  }
}

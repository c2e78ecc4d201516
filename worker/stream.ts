// The worker's side of a streamed run (core/stream.ts): the program's stdin
// read from the run's list in Redis as the client types it, its stdout and
// stderr published as they come, and the stages announced.
import { Redis } from "ioredis";
import { PassThrough, Writable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import type { Stage } from "../core/schemas.js";
import { redisOptions } from "../core/store.js";
import { STREAM_IN_KEY, STREAM_OUT_CHANNEL, streamInputSchema, type StreamOutput } from "../core/stream.js";

/** What executeRun streams through: the run stage's stdin and output, and the stage announcements. */
export interface RunIo {
  stdin: PassThrough;
  stdoutTo: Writable;
  stderrTo: Writable;
  stage(stage: "compile" | "run", compile?: Stage | null): void;
}

/** How long one pop waits before it looks whether the run is over (a pop holds its connection). */
const POP_SECONDS = 1;

export function openRunIo(redisUrl: string, pub: Redis, id: string): { io: RunIo; close(): void } {
  const channel = STREAM_OUT_CHANNEL(id);
  // A failed publish loses that piece of live output, never the run: the result holds all of it.
  const publish = (m: StreamOutput) => void pub.publish(channel, JSON.stringify(m)).catch(() => {});
  const output = (stream: "stdout" | "stderr") => {
    const decoder = new StringDecoder("utf8");
    return new Writable({
      write(chunk: Buffer, _enc, done) {
        const data = decoder.write(chunk);
        if (data) publish({ t: "out", stream, data });
        done();
      },
      final(done) {
        const data = decoder.end();
        if (data) publish({ t: "out", stream, data });
        done();
      },
    });
  };
  const stdin = new PassThrough();
  // Its own connection: a blocking pop holds the one it is sent on.
  const popper = new Redis({ ...redisOptions(redisUrl), maxRetriesPerRequest: 1 });
  popper.on("error", () => {});
  let open = true;
  void (async () => {
    while (open) {
      const got = await popper.blpop(STREAM_IN_KEY(id), POP_SECONDS).catch(() => null);
      if (!got) continue;
      const m = streamInputSchema.safeParse(JSON.parse(got[1]));
      if (!m.success) continue;
      if ("eof" in m.data) break;
      stdin.write(m.data.data);
    }
    stdin.end();
  })();
  return {
    io: {
      stdin,
      stdoutTo: output("stdout"),
      stderrTo: output("stderr"),
      stage: (stage, compile) => publish({ t: "stage", stage, ...(compile !== undefined ? { compile } : {}) }),
    },
    close() {
      open = false;
      popper.disconnect();
      publish({ t: "end" });
    },
  };
}

// Waiting for runs to complete (POST /v1/runs?wait=true): one subscription
// per API process to the workers' completion notices (store.ts,
// DONE_CHANNEL), and a map of the requests waiting, by run id.
import { Redis } from "ioredis";
import type { Log } from "../core/log.js";
import { DONE_CHANNEL, RESULT_KEY, redisOptions, storedResult } from "../core/store.js";

/** How long the last look for a result may take before the request is answered "queued". */
const LOOKUP_MS = 1000;

export class Completions {
  /** by run id: called with the notice's inline result ("" if none), or null to give up */
  private readonly waiting = new Map<string, (inline: string | null) => void>();

  private constructor(
    private readonly sub: Redis,
    private readonly redis: Redis,
  ) {
    sub.on("message", (_channel: string, notice: string) => {
      const nl = notice.indexOf("\n");
      this.waiting.get(nl < 0 ? notice : notice.slice(0, nl))?.(nl < 0 ? "" : notice.slice(nl + 1));
    });
    // Notices sent while the subscription was down are lost: after a
    // reconnect, every waiter looks for its result once.
    sub.on("ready", () => {
      // "ready" comes when the re-subscription is sent, not done: wait for it.
      void sub
        .subscribe(DONE_CHANNEL)
        .then(() => {
          for (const [id, done] of this.waiting)
            void this.redis.exists(RESULT_KEY(id)).then(
              (n) => n && done(""),
              () => {},
            );
        })
        .catch(() => {});
    });
  }

  static async start(redisUrl: string, redis: Redis, log: Log): Promise<Completions> {
    const sub = new Redis(redisOptions(redisUrl));
    sub.on("error", (e) => log.error(`redis (completions): ${e.message}`));
    await sub.subscribe(DONE_CHANNEL); // ioredis subscribes again after a reconnect
    return new Completions(sub, redis);
  }

  /**
   * Resolves with the run's result (its stored JSON, passed on unparsed)
   * once it is stored, or null if it is not stored within `ms` (or the run
   * failed). Called before the run is queued,
   * so that no notice can come before its waiter. If no notice comes in
   * time, the result is still looked for once at the end.
   */
  wait(id: string, ms: number): { result: Promise<string | null>; cancel(): void } {
    let cancel = () => {};
    const result = new Promise<string | null>((resolve) => {
      const done = (inline: string | null) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(inline ? inline : inline === null ? null : this.lookUp(id));
      };
      const timer = setTimeout(() => done(""), ms);
      this.waiting.set(id, done);
      cancel = () => done(null);
    });
    return { result, cancel };
  }

  /**
   * The stored result, if Redis answers soon: commands wait in the client
   * while Redis is away, and a request must not (it is answered "queued").
   */
  private lookUp(id: string): Promise<string | null> {
    if (this.redis.status !== "ready") return Promise.resolve(null);
    const late = new Promise<null>((r) => setTimeout(() => r(null), LOOKUP_MS).unref());
    return Promise.race([storedResult(this.redis, id), late]).catch(() => null);
  }

  async close(): Promise<void> {
    for (const done of this.waiting.values()) done(null);
    await this.sub.quit();
  }
}

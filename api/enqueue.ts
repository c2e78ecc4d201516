// What every API that queues runs shares, so that a run sent alone and one
// sent in a batch are the same run: a request made a job (its inputs' sizes
// checked, its problem read once and its version fixed), the job's queue
// options, and where a queued run stands.
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { createHash, randomUUID } from "node:crypto";
import type { Config } from "../core/config.js";
import { CONFLICT, claim, claimed, IDEMPOTENCY_HEADER, type Idempotency } from "../core/idempotency.js";
import { toJob } from "../core/job.js";
import { getProblem, type Problem } from "../core/problems.js";
import type { RunJob, RunRequest, RunResult } from "../core/schemas.js";
import { storedResult } from "../core/store.js";
import { hasImages, languageReady } from "../rootfs/manifest.js";
import type { Completions } from "./completions.js";
import type { Issue } from "./reply.js";

/** Why a request cannot be queued: the status, the error, the fields at fault. */
export interface Refusal {
  status: 400 | 413 | 422;
  error: string;
  issues: Issue[];
}

/** The first input (the run's stdin or a test's) over `max` bytes, as an issue naming it. */
function oversizedInput(r: RunRequest, max: number): Issue | null {
  const inputs: [string, string][] = [
    ["stdin", r.stdin],
    ...(r.tests ?? []).map((t, i): [string, string] => [`tests.${i}.stdin`, t.stdin]),
  ];
  for (const [path, text] of inputs) {
    const n = Buffer.byteLength(text);
    if (n > max) return { path, message: `${n} bytes, over ${max}` };
  }
  return null;
}

/**
 * With building on demand off (RUSE_BUILD_ON_DEMAND=0), the first language of
 * a job (its own, its checker's or interactor's) whose images this machine
 * has not built, as an issue naming the fix. An API host without any images
 * (workers elsewhere) has no manifest and refuses none.
 */
function unbuiltLanguage(job: RunJob, cfg: Config): Issue | null {
  if (cfg.images.onDemand || !hasImages()) return null; // on demand: the worker builds it
  const used: [string, string | undefined][] = [
    ["language", job.language],
    ["checker.language", job.checker?.language],
    ["interactor.language", job.interactor?.language],
  ];
  for (const [path, id] of used)
    if (id && !languageReady(id))
      return { path, message: `"${id}" is catalogued but its image is not built here: npm run images -- ${id}` };
  return null;
}

/** Problems named by a set of requests, each read once. */
export async function problemsOf(redis: Redis, rs: RunRequest[]): Promise<Map<string, Problem | null>> {
  const ids = [...new Set(rs.flatMap((r) => (r.problem ? [r.problem] : [])))];
  return new Map(await Promise.all(ids.map(async (id) => [id, await getProblem(redis, id)] as const)));
}

/** The job for a request, or why not; `at` prefixes the issues' paths (a batch's "runs.3."). */
export function jobFor(r: RunRequest, cfg: Config, problems: Map<string, Problem | null>, at = ""): RunJob | Refusal {
  const big = oversizedInput(r, cfg.inputMaxBytes);
  if (big)
    return {
      status: 413,
      error: `an input is larger than ${cfg.inputMaxBytes} bytes (RUSE_INPUT_MAX_BYTES)`,
      issues: [{ ...big, path: at + big.path }],
    };
  // The problem's version is fixed here: a PUT after this does not change what the run is judged against.
  const problem = r.problem ? problems.get(r.problem) : undefined;
  if (problem === null)
    return {
      status: 400,
      error: "invalid request",
      issues: [{ path: `${at}problem`, message: `no problem "${r.problem}"` }],
    };
  const job = toJob(r, cfg, problem);
  const unbuilt = unbuiltLanguage(job, cfg);
  if (unbuilt)
    return { status: 422, error: "a language's image is not built", issues: [{ ...unbuilt, path: at + unbuilt.path }] };
  return job;
}

export const isRefusal = (j: RunJob | Refusal): j is Refusal => "issues" in j;

/**
 * Every run's queue options: retried twice after a failure, its failure kept
 * as long as a result. A run of an Idempotency-Key is deduplicated by its id
 * for as long as its key is remembered (core/idempotency.ts says why).
 */
export const jobOptions = (cfg: Config, id: string, idempotent = false) => ({
  jobId: id,
  removeOnComplete: true,
  removeOnFail: { age: cfg.resultTtlSeconds },
  attempts: 3,
  backoff: { type: "fixed", delay: 1000 },
  ...(idempotent && { deduplication: { id, ttl: cfg.resultTtlSeconds * 1000 } }),
});

/** A run's stored result (its JSON, as the worker wrote it), or its state while it has none; null: unknown or expired. */
export async function runState(
  queue: Queue,
  redis: Redis,
  id: string,
): Promise<{ stored: string } | { state: RunResult } | null> {
  const done = await storedResult(redis, id);
  if (done) return { stored: done };
  const job = await queue.getJob(id);
  if (!job) return null;
  const state = await job.getState();
  const base = { id, createdAt: new Date(job.timestamp).toISOString() };
  if (state === "failed")
    return {
      state: {
        ...base,
        status: "completed",
        verdict: "internal_error",
        compile: null,
        run: null,
        message: job.failedReason,
      },
    };
  return {
    state: {
      ...base,
      status: state === "active" ? "running" : "queued",
      startedAt: job.processedOn ? new Date(job.processedOn).toISOString() : null,
    },
  };
}

/** The refusal of a key reused for another request. */
const conflict: Refusal = {
  status: 422,
  error: `the ${IDEMPOTENCY_HEADER} was used for a different request`,
  issues: [{ path: IDEMPOTENCY_HEADER, message: CONFLICT }],
};

/** What a submission came to: refused (the request's fault), no room in the queue, or queued (and, waited for, its result). */
export type Submitted = { refused: Refusal } | { full: string } | { id: string; result: Promise<string | null> };

/**
 * The one way a single run is queued, whichever API it came in by (v1,
 * Piston, Judge0): made a job, checked against the queue's cap, added, and
 * with `wait` its result awaited (null: not done within RUSE_WAIT_MAX_MS).
 */
export class RunSubmitter {
  // Back-pressure reads the queue's length at most every 100 ms (a Redis
  // round trip per POST is latency on a busy machine), plus the runs this
  // process let in since: those added (in `waiting.n` until the next read)
  // and those on their way (`adding`: a read before they land does not see
  // them, and a flood of requests in flight together would pass the cap).
  private waiting = { n: 0, at: 0 };
  private adding = 0;
  private readonly waits = new Map<string, Promise<string | null>>();

  constructor(
    private readonly cfg: Config,
    private readonly queue: Queue,
    private readonly redis: Redis,
    private readonly completions: Completions,
  ) {}

  /**
   * Whether `n` more runs would pass the queue's cap; if not, they are
   * counted at once, in the same step as the check, so that requests in
   * flight together cannot all pass on one count.
   */
  private async full(n = 1): Promise<boolean> {
    if (n > 1 || Date.now() - this.waiting.at > 100)
      this.waiting = { n: await this.queue.getWaitingCount(), at: Date.now() };
    if (this.waiting.n + this.adding + n > this.cfg.maxQueue) return true;
    this.adding += n;
    return false;
  }

  /** `n` runs that full() let in were added, or will not be. */
  private settle(n: number, added: boolean): void {
    this.adding -= n;
    if (added) this.waiting.n += n;
  }

  /**
   * `stream`: a streamed run (core/stream.ts) under the id given, whose
   * output the caller has subscribed to; it is waited for as long as it may
   * run, besides the wait limit (its client is typing).
   * `idem`: the request's Idempotency-Key (core/idempotency.ts): the run of
   * the key's first request, made once; a retry is answered even when the
   * queue is full (its run was let in when the key was claimed).
   */
  async submit(r: RunRequest, wait: boolean, stream?: { id: string }, idem?: Idempotency): Promise<Submitted> {
    const job = jobFor(r, this.cfg, await problemsOf(this.redis, [r]));
    if (isRefusal(job)) return { refused: job };
    const admitted = await this.admit(1, idem);
    if ("refused" in admitted) return admitted;
    if ("full" in admitted) return { full: `the queue is full (${this.cfg.maxQueue} runs waiting); try again later` };
    const { counted, run } = admitted;
    let added = false; // a new run, as counted (not a retry's)
    try {
      const id = run?.id ?? stream?.id ?? randomUUID();
      const waitMs = this.cfg.waitMaxMs + (stream ? job.limits.wallMs + job.compileLimits.wallMs : 0);
      const waiter = wait ? this.wait(id, waitMs) : null;
      try {
        // A run of a key is announced whenever it ends: a retry may wait for it on any API process.
        await this.queue.add(
          "run",
          { ...job, notify: waiter !== null || idem !== undefined, ...(stream && { stream: true }) },
          jobOptions(this.cfg, id, idem !== undefined),
        );
      } catch (e) {
        waiter?.cancel();
        throw e;
      }
      added = run?.first !== false;
      if (!waiter) return { id, result: Promise.resolve(null) };
      // A retry's run may have ended already: its notice is gone, its result stored (looked for after the waiter is set).
      const result =
        run?.first === false ? storedResult(this.redis, id).then((s) => s ?? waiter.result) : waiter.result;
      return { id, result };
    } finally {
      if (counted) this.settle(1, added);
    }
  }

  /**
   * Lets `n` runs in, as full() counts them (`counted`: to settle), and claims
   * the request's key for a new id (`run`; undefined: no key). A full queue
   * still answers a retry of a key already claimed: its runs were let in
   * when it was.
   */
  private async admit(
    n: number,
    idem?: Idempotency,
  ): Promise<{ counted: boolean; run?: { id: string; first: boolean } } | { full: true } | { refused: Refusal }> {
    const counted = !(await this.full(n));
    let run: { id: string; first: boolean } | null | undefined;
    try {
      if (idem)
        run = counted
          ? await claim(this.redis, idem, randomUUID(), this.cfg.resultTtlSeconds)
          : await claimed(this.redis, idem);
    } catch (e) {
      if (counted) this.settle(n, false);
      throw e;
    }
    if (run === null) {
      if (counted) this.settle(n, false);
      return { refused: conflict };
    }
    if (!counted && !run) return { full: true };
    return { counted, run };
  }

  /**
   * One wait per run in this process: Completions keeps one waiter per id,
   * and two requests for one run (an Idempotency-Key's retries) share it.
   */
  private wait(id: string, ms: number): { result: Promise<string | null>; cancel(): void } {
    const shared = this.waits.get(id);
    if (shared) return { result: shared, cancel() {} };
    const w = this.completions.wait(id, ms);
    this.waits.set(id, w.result);
    void w.result.then(() => this.waits.delete(id));
    return w;
  }

  /**
   * `n` jobs already made (jobFor), queued in one round trip, all or none,
   * under one id (a batch's): that id and the runs' ids, in order, or no room
   * for them all, or the key reused. `jobsOf(id)`: the jobs (a batch's runs
   * carry its id). `beforeAdd` is given the ids before any job can run (a
   * batch stores its list of runs there), on every retry too.
   * `idem`: the request's Idempotency-Key: the id is the key's first
   * request's, and the runs' ids follow from it (runIdOf), so that a retry
   * adds the same runs under BullMQ's deduplication (core/idempotency.ts),
   * which makes them once even when the first request's process died
   * between its claim and its add.
   */
  async submitGroup(
    n: number,
    jobsOf: (id: string) => RunJob[],
    beforeAdd?: (id: string, runs: string[]) => Promise<void>,
    idem?: Idempotency,
  ): Promise<{ id: string; runs: string[] } | { full: true } | { refused: Refusal }> {
    const admitted = await this.admit(n, idem);
    if (!("counted" in admitted)) return admitted;
    const { counted, run } = admitted;
    const id = run?.id ?? randomUUID();
    const ids = Array.from({ length: n }, (_, i) => runIdOf(id, i));
    let added = false;
    try {
      await beforeAdd?.(id, ids);
      await this.queue.addBulk(
        jobsOf(id).map((data, i) => ({ name: "run", data, opts: jobOptions(this.cfg, ids[i]!, idem !== undefined) })),
      );
      added = run?.first !== false;
    } finally {
      if (counted) this.settle(n, added);
    }
    return { id, runs: ids };
  }
}

/**
 * The id of a group's `i`th run: a name-based UUID (RFC 9562's version 5)
 * of the group's id and `i`, so that every retry of a batch names the same runs.
 */
function runIdOf(group: string, i: number): string {
  const h = createHash("sha1")
    .update(Buffer.from(group.replaceAll("-", ""), "hex"))
    .update(String(i))
    .digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

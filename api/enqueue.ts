// What every API that queues runs shares, so that a run sent alone and one
// sent in a batch are the same run: a request made a job (its inputs' sizes
// checked, its problem read once and its version fixed), the job's queue
// options, and where a queued run stands.
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { randomUUID } from "node:crypto";
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
    const counted = !(await this.full());
    let added = false; // a new run, as counted (not a retry's, not refused)
    try {
      let run: { id: string; first: boolean } | null | undefined;
      if (counted) run = idem && (await claim(this.redis, idem, randomUUID(), this.cfg.resultTtlSeconds));
      else {
        run = idem && (await claimed(this.redis, idem));
        if (run === undefined)
          return { full: `the queue is full (${this.cfg.maxQueue} runs waiting); try again later` };
      }
      if (run === null) return { refused: conflict };
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
   * Jobs already made (jobFor), queued in one round trip, all or none: their
   * ids, or null when the queue has no room. `beforeAdd` is given the ids
   * before any job can run (a batch stores its list of runs there).
   */
  async submitAll(jobs: RunJob[], beforeAdd?: (ids: string[]) => Promise<void>): Promise<string[] | null> {
    if (await this.full(jobs.length)) return null;
    const ids = jobs.map(() => randomUUID());
    try {
      await beforeAdd?.(ids);
      await this.queue.addBulk(jobs.map((data, i) => ({ name: "run", data, opts: jobOptions(this.cfg, ids[i]!) })));
    } catch (e) {
      this.settle(jobs.length, false);
      throw e;
    }
    this.settle(jobs.length, true);
    return ids;
  }
}

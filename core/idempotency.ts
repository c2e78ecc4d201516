// Idempotency-Key on POST /v1/runs and POST /v1/batches: a client that
// retries a request (its connection dropped, its API process died) gets the
// run it already made, never a second one.
//
// - The key: 1..255 characters of [A-Za-z0-9._:-], else 422 naming the
//   header. Its scope is the caller's API key (its sha256, as the rate
//   counter's), or the whole server when keys are off.
// - The first request with a key claims it: one SET NX of
//   `ruse:idem:SCOPE:KEY` = "HASH ID", for RUSE_RESULT_TTL seconds, where
//   HASH is the sha256 of the canonical body (parsed, keys sorted, and the
//   route's kind) and ID the run's (or batch's) id chosen before the claim.
//   Whoever loses the SET NX reads the winner's value in the same command
//   (SET NX GET), so concurrent requests on any number of API processes
//   agree on one id.
// - A later request with the same key: a different HASH is a 422 naming the
//   header; the same one answers as the first would have (202 {id}, or with
//   wait=true that run's result; a batch's 202 {id, runs}).
// - The claim and the queue's add cannot be one command (BullMQ's add is its
//   own script), so a process may die between them. Every request with the
//   key therefore adds the job again under the claimed id, with BullMQ's
//   deduplication keyed by that id for the same TTL: the add script sets the
//   dedup key atomically with the job, and it outlives the job (a completed
//   run's job is removed at once), so the run is made at most once whichever
//   request's add lands first. BullMQ's jobId alone would not do: once the
//   completed job is removed, the same jobId makes a new job. A batch's runs'
//   ids follow from its claimed id (api/enqueue.ts runIdOf), so that every
//   retry adds the same runs.
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { IDEMPOTENCY_KEY } from "./store.js";

export const IDEMPOTENCY_HEADER = "Idempotency-Key";
const VALID = /^[A-Za-z0-9._:-]{1,255}$/;

/** A request's idempotency: where its key is remembered and what its body was. */
export interface Idempotency {
  /** the Redis key of the claim (scope and key) */
  record: string;
  /** sha256 of the route's kind and the canonical body */
  hash: string;
}

/** JSON with every object's keys sorted: the same request however its client ordered them. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

/**
 * The request's idempotency from its header (undefined: none sent), or the
 * message of a 422 naming it. `scope`: the caller (its key's hash) or "global";
 * `kind`: the route, so that a key used for a run cannot answer a batch.
 */
export function idempotencyOf(
  header: string | undefined,
  scope: string,
  kind: "run" | "batch",
  body: unknown,
): Idempotency | string | undefined {
  if (header === undefined) return undefined;
  if (!VALID.test(header)) return "must be 1 to 255 characters of A-Z a-z 0-9 . _ : -";
  const hash = createHash("sha256")
    .update(`${kind}\n${canonical(body)}`)
    .digest("base64url");
  return { record: IDEMPOTENCY_KEY(scope, header), hash };
}

export const CONFLICT = "was used for a different request (its body differs); use a new key";

/**
 * Claims the key for `id`, or reads who has it: `{ id }` the run (or batch)
 * of this key (ours when we claimed it, `first` then), or null when the key
 * was claimed for another body.
 */
export async function claim(
  redis: Redis,
  idem: Idempotency,
  id: string,
  ttlSeconds: number,
): Promise<{ id: string; first: boolean } | null> {
  const before = await redis.set(idem.record, `${idem.hash} ${id}`, "EX", ttlSeconds, "NX", "GET");
  if (before === null) return { id, first: true };
  const [hash, theirs] = before.split(" ");
  return hash === idem.hash ? { id: theirs!, first: false } : null;
}

/** The claim of a key, without claiming it (a full queue refuses new runs, not a retry of one). */
export async function claimed(
  redis: Redis,
  idem: Idempotency,
): Promise<{ id: string; first: false } | null | undefined> {
  const v = await redis.get(idem.record);
  if (v === null) return undefined;
  const [hash, id] = v.split(" ");
  return hash === idem.hash ? { id: id!, first: false } : null;
}

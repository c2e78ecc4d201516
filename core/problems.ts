// Problems stored once: a problem's tests (input, and answer where one is
// compared), how they are judged and its default limits, under an id; runs
// name the problem instead of sending its tests. Test data is content
// addressed: each distinct input or answer is one Redis value under its
// sha256, shared by every problem that holds it, counted by references and
// removed with the last; the total is held under a budget
// (RUSE_PROBLEM_STORE_MAX_BYTES). A problem's version changes on every PUT,
// and a run's result names the version it was judged against.
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { Limits } from "./limits.js";
import type { Compare } from "./schemas.js";

export const PROBLEM_KEY = (id: string) => `ruse:problem:${id}`;
const VERSION_KEY = (id: string) => `ruse:problem-version:${id}`;
export const BLOB_KEY = (sha: string) => `ruse:blob:${sha}`;
const BLOB_REFS = "ruse:blob-refs";
const BLOB_BYTES = "ruse:blob-bytes";

/** A judging program as the job carries it: a language and its files, base64. */
export interface JudgeProgram {
  language: string;
  files: { path: string; contentBase64: string }[];
}

/** A stored test: its data by hash, and sizes for whoever lists the problem. */
export interface StoredTest {
  input: string;
  inputBytes: number;
  /** absent where an interactor or checker judges without one */
  answer?: string;
  answerBytes?: number;
}

/** A problem as stored (its version is kept apart: it outlives a DELETE, so it never repeats). */
export interface StoredProblem {
  id: string;
  tests: StoredTest[];
  compare: Compare;
  checker?: JudgeProgram;
  interactor?: JudgeProgram;
  limits?: Partial<Limits>;
  compileLimits?: Partial<Limits>;
  /** every distinct hash the tests name: what this problem holds a reference to */
  blobs: string[];
  updatedAt: string;
}

export type Problem = StoredProblem & { version: number };

export const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

export class StoreFullError extends Error {}

/**
 * Lua: one reference to the blob named by `sha` (a Lua variable) dropped;
 * the last one deletes the blob and takes its bytes off the count. KEYS[3]
 * is the reference counts, KEYS[4] the byte count, in every script here.
 */
const dropRef = (sha: string) => `
  if redis.call('HINCRBY', KEYS[3], ${sha}, -1) <= 0 then
    redis.call('HDEL', KEYS[3], ${sha})
    redis.call('DECRBY', KEYS[4], redis.call('STRLEN', 'ruse:blob:' .. ${sha}))
    redis.call('DEL', 'ruse:blob:' .. ${sha})
  end`;

/**
 * PUT, in one script so that concurrent PUTs and DELETEs keep the counts
 * true: every new blob is stored (SET NX: one copy however many problems
 * hold it) and referenced, the old version's references are dropped and a
 * blob whose last one goes is deleted; the budget is checked first, on the
 * bytes the store would hold after. Blob keys are built in the script:
 * a single Redis, not a cluster.
 * KEYS: record, version, refs, bytes. ARGV: budget, record JSON, then hash
 * and data of each distinct blob. Returns the new version, or an error
 * "FULL <bytes after>".
 */
const PUT_PROBLEM = `
local budget = tonumber(ARGV[1])
local new = {}
for i = 3, #ARGV, 2 do new[ARGV[i]] = ARGV[i + 1] end
local old = {}
local oldJson = redis.call('GET', KEYS[1])
if oldJson then for _, sha in ipairs(cjson.decode(oldJson).blobs) do old[sha] = true end end
local after = tonumber(redis.call('GET', KEYS[4]) or '0')
for sha, data in pairs(new) do
  if redis.call('EXISTS', 'ruse:blob:' .. sha) == 0 then after = after + #data end
end
for sha in pairs(old) do
  if not new[sha] and tonumber(redis.call('HGET', KEYS[3], sha) or '0') <= 1 then
    after = after - redis.call('STRLEN', 'ruse:blob:' .. sha)
  end
end
if after > budget then return redis.error_reply('FULL ' .. after) end
for sha, data in pairs(new) do
  if redis.call('SET', 'ruse:blob:' .. sha, data, 'NX') then redis.call('INCRBY', KEYS[4], #data) end
  redis.call('HINCRBY', KEYS[3], sha, 1)
end
for sha in pairs(old) do ${dropRef("sha")} end
redis.call('SET', KEYS[1], ARGV[2])
return redis.call('INCR', KEYS[2])`;

/** DELETE: the record goes, and each of its blobs loses a reference. KEYS as PUT's. */
const DELETE_PROBLEM = `
local json = redis.call('GET', KEYS[1])
if not json then return 0 end
for _, sha in ipairs(cjson.decode(json).blobs) do ${dropRef("sha")} end
redis.call('DEL', KEYS[1])
return 1`;

/**
 * One test's input or answer replaced by data already streamed into a
 * temporary key (an upload too large to send in a PUT's JSON): the temporary
 * becomes the blob (or is dropped, if the store has that data already), the
 * test names it, the problem's references follow, and the version changes.
 * KEYS: record, version, refs, bytes, temporary. ARGV: budget, test index
 * (from 0), "input" or "answer", hash, size. Errors: "NOPROBLEM", "NOTEST",
 * "FULL <bytes after>".
 */
const SET_TEST_DATA = `
local json = redis.call('GET', KEYS[1])
if not json then redis.call('DEL', KEYS[5]) return redis.error_reply('NOPROBLEM') end
local p = cjson.decode(json)
local t = p.tests[tonumber(ARGV[2]) + 1]
if not t then redis.call('DEL', KEYS[5]) return redis.error_reply('NOTEST') end
local field, sha, size = ARGV[3], ARGV[4], tonumber(ARGV[5])
local blob = 'ruse:blob:' .. sha
local old = t[field]
local function held(h)
  for _, u in ipairs(p.tests) do if u.input == h or u.answer == h then return true end end
  return false
end
local fresh = redis.call('EXISTS', blob) == 0
local after = tonumber(redis.call('GET', KEYS[4]) or '0') + (fresh and size or 0)
t[field] = sha
t[field .. 'Bytes'] = size
local oldFree = old and old ~= sha and not held(old) and tonumber(redis.call('HGET', KEYS[3], old) or '0') <= 1
if oldFree then after = after - redis.call('STRLEN', 'ruse:blob:' .. old) end
if after > tonumber(ARGV[1]) then redis.call('DEL', KEYS[5]) return redis.error_reply('FULL ' .. after) end
if fresh then
  redis.call('RENAME', KEYS[5], blob)
  redis.call('INCRBY', KEYS[4], size)
else
  redis.call('DEL', KEYS[5])
end
local blobs, seen = {}, {}
for _, u in ipairs(p.tests) do
  for _, h in ipairs({u.input, u.answer}) do
    if h and not seen[h] then seen[h] = true; blobs[#blobs + 1] = h end
  end
end
local was = {}
for _, h in ipairs(p.blobs) do was[h] = true end
if not was[sha] then redis.call('HINCRBY', KEYS[3], sha, 1) end
if old and not seen[old] and was[old] then ${dropRef("old")} end
p.blobs = blobs
p.updatedAt = ARGV[6]
redis.call('SET', KEYS[1], cjson.encode(p))
return redis.call('INCR', KEYS[2])`;

/** Where an upload's bytes gather before they are a blob: a key of its own, gone in a day if the upload dies. */
export const UPLOAD_KEY = (upload: string) => `ruse:upload:${upload}`;
export const UPLOAD_TTL_SECONDS = 86_400;

export class NoTestError extends Error {}

/** Makes an uploaded temporary the data of test `index`'s input or answer; the problem's new version. */
export async function setTestData(
  redis: Redis,
  budgetBytes: number,
  id: string,
  index: number,
  field: "input" | "answer",
  upload: { key: string; sha: string; size: number },
): Promise<number> {
  try {
    return (await redis.eval(
      SET_TEST_DATA,
      5,
      PROBLEM_KEY(id),
      VERSION_KEY(id),
      BLOB_REFS,
      BLOB_BYTES,
      upload.key,
      budgetBytes,
      index,
      field,
      upload.sha,
      upload.size,
      new Date().toISOString(),
    )) as number;
  } catch (e) {
    const m = (e as Error).message;
    if (m.includes("NOPROBLEM")) throw new NoTestError(`no problem "${id}"`);
    if (m.includes("NOTEST")) throw new NoTestError(`problem "${id}" has no test ${index}`);
    const full = /FULL (\d+)/.exec(m);
    if (full) throw storeFull(Number(full[1]), budgetBytes);
    throw e;
  }
}

export const storeFullMessage = (after: number, budget: number) =>
  `the problem store would hold ${after} bytes of test data, over its budget of ${budget} (RUSE_PROBLEM_STORE_MAX_BYTES)`;
const storeFull = (after: number, budget: number) => new StoreFullError(storeFullMessage(after, budget));

/** A test's data, before it is stored. */
export interface TestData {
  input: Buffer;
  answer?: Buffer;
}

/** Stores a problem's tests and settings under its id, replacing any; its new version. */
export async function putProblem(
  redis: Redis,
  budgetBytes: number,
  p: Omit<StoredProblem, "tests" | "blobs" | "updatedAt">,
  tests: TestData[],
): Promise<number> {
  const blobs = new Map<string, Buffer>();
  const hashed = (b: Buffer) => {
    const sha = sha256(b);
    blobs.set(sha, b);
    return sha;
  };
  const stored: StoredTest[] = tests.map((t) => ({
    input: hashed(t.input),
    inputBytes: t.input.length,
    ...(t.answer ? { answer: hashed(t.answer), answerBytes: t.answer.length } : {}),
  }));
  const record: StoredProblem = { ...p, tests: stored, blobs: [...blobs.keys()], updatedAt: new Date().toISOString() };
  const args = [...blobs].flat();
  try {
    return (await redis.eval(
      PUT_PROBLEM,
      4,
      PROBLEM_KEY(p.id),
      VERSION_KEY(p.id),
      BLOB_REFS,
      BLOB_BYTES,
      budgetBytes,
      JSON.stringify(record),
      ...args,
    )) as number;
  } catch (e) {
    const full = /FULL (\d+)/.exec((e as Error).message);
    if (full) throw storeFull(Number(full[1]), budgetBytes);
    throw e;
  }
}

/** The problem and its current version, or null. */
export async function getProblem(redis: Redis, id: string): Promise<Problem | null> {
  const [json, version] = await redis.mget(PROBLEM_KEY(id), VERSION_KEY(id));
  return json ? { ...(JSON.parse(json) as StoredProblem), version: Number(version) } : null;
}

/** Deletes the problem; false when there was none. */
export async function deleteProblem(redis: Redis, id: string): Promise<boolean> {
  return (await redis.eval(DELETE_PROBLEM, 4, PROBLEM_KEY(id), VERSION_KEY(id), BLOB_REFS, BLOB_BYTES)) === 1;
}

/** Bytes of test data the store holds, each distinct blob once. */
export async function storedBytes(redis: Redis): Promise<number> {
  return Number((await redis.get(BLOB_BYTES)) ?? 0);
}

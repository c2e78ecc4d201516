// A worker's cache of stored test data, on a real Redis: fetched once and
// checked against its hash, kept by hash in the worker's private directory,
// the least recently used evicted past the budget, and a clear error for
// data the store no longer has or that does not match its name.
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BLOB_KEY, sha256 } from "../../core/problems.js";
import { startEmbeddedRedis, type EmbeddedRedis } from "../../core/redis-embedded.js";
import { redisOptions } from "../../core/store.js";
import { TestDataCache } from "../../worker/test-data.js";

describe("the worker's cache of test data", () => {
  let state: string;
  let embedded: EmbeddedRedis;
  let redis: Redis;
  const store = async (text: string) => {
    const data = Buffer.from(text);
    await redis.set(BLOB_KEY(sha256(data)), data);
    return sha256(data);
  };

  beforeAll(async () => {
    state = mkdtempSync(join(tmpdir(), "ruse-test-data-"));
    embedded = await startEmbeddedRedis(state);
    redis = new Redis(redisOptions(embedded.url));
  });
  afterAll(async () => {
    await redis?.quit();
    await embedded?.stop();
    rmSync(state, { recursive: true, force: true });
  });

  it("fetches a hash once, then reads it from its private directory", async () => {
    const dir = join(state, "cache-a");
    const cache = new TestDataCache(redis, dir, 1 << 20);
    const a = await store("alpha\n");
    expect((await cache.get(a)).toString()).toBe("alpha\n");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir)).toEqual([a]);
    await redis.del(BLOB_KEY(a)); // gone from the store: the cached copy still serves
    expect((await cache.get(a)).toString()).toBe("alpha\n");
    const [x, y] = await Promise.all([cache.get(await store("twice")), cache.get(sha256(Buffer.from("twice")))]);
    expect([x.toString(), y.toString()]).toEqual(["twice", "twice"]);
  });

  it("evicts the least recently used past its budget, never the one just fetched", async () => {
    const dir = join(state, "cache-b");
    const cache = new TestDataCache(redis, dir, 25);
    const [one, two, three] = [await store("1".repeat(10)), await store("2".repeat(10)), await store("3".repeat(10))];
    await cache.get(one);
    await new Promise((r) => setTimeout(r, 20));
    await cache.get(two);
    await new Promise((r) => setTimeout(r, 20));
    await cache.get(one); // used again: now two is the oldest
    await new Promise((r) => setTimeout(r, 20));
    await cache.get(three);
    expect(readdirSync(dir).sort()).toEqual([one, three].sort());
  });

  it("refuses data that is gone or does not match its hash, naming it", async () => {
    const cache = new TestDataCache(redis, join(state, "cache-c"), 1 << 20);
    const missing = sha256(Buffer.from("never stored"));
    await expect(cache.get(missing)).rejects.toThrow(`test data ${missing.slice(0, 12)} is gone from the store`);
    const h = sha256(Buffer.from("real"));
    await redis.set(BLOB_KEY(h), "forged");
    await expect(cache.get(h)).rejects.toThrow(`test data ${h.slice(0, 12)} does not match its hash`);
    expect(readdirSync(join(state, "cache-c"))).toEqual([]);
    await expect(cache.get("../../etc/passwd")).rejects.toThrow(/is not a test data hash/);
  });
});

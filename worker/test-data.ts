// A stored problem's test data on a worker: fetched from Redis by hash the
// first time a run needs it, checked against that hash, and kept in a local
// directory of the worker user's (0700) for the runs after, up to a size
// budget (RUSE_TEST_CACHE_MAX_BYTES) past which the least recently used
// files go. A file's name is its hash, so what is read is what was stored.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { BLOB_KEY, sha256 } from "../core/problems.js";

export class TestDataCache {
  private bytes = 0;
  /** fetches in flight, so that tests of one run (or two runs) needing one hash fetch it once */
  private readonly fetching = new Map<string, Promise<Buffer>>();

  constructor(
    private readonly redis: Redis,
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const f of readdirSync(dir)) this.bytes += statSync(join(dir, f)).size;
  }

  /** The data stored under `sha`; throws, naming it, when the store no longer has it. */
  async get(sha: string): Promise<Buffer> {
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new Error(`"${sha}" is not a test data hash`);
    const file = join(this.dir, sha);
    try {
      const data = readFileSync(file);
      const now = new Date();
      utimesSync(file, now, now); // recently used: evicted last
      return data;
    } catch {
      // not cached yet
    }
    let f = this.fetching.get(sha);
    if (!f) {
      f = this.fetch(sha, file).finally(() => this.fetching.delete(sha));
      this.fetching.set(sha, f);
    }
    return f;
  }

  private async fetch(sha: string, file: string): Promise<Buffer> {
    const data = await this.redis.getBuffer(BLOB_KEY(sha));
    if (!data)
      throw new Error(`test data ${sha.slice(0, 12)} is gone from the store (its problem was replaced or deleted)`);
    if (sha256(data) !== sha) throw new Error(`test data ${sha.slice(0, 12)} does not match its hash`);
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, data, { mode: 0o600 });
    renameSync(tmp, file);
    this.bytes += data.length;
    this.evict(sha);
    return data;
  }

  /** Oldest first, until the cache fits its budget again (never the file just added). */
  private evict(keep: string): void {
    if (this.bytes <= this.maxBytes) return;
    const files = readdirSync(this.dir)
      .filter((f) => f !== keep)
      .map((f) => ({ f, st: statSync(join(this.dir, f)) }))
      .sort((a, b) => a.st.mtimeMs - b.st.mtimeMs);
    for (const { f, st } of files) {
      if (this.bytes <= this.maxBytes) break;
      rmSync(join(this.dir, f), { force: true });
      this.bytes -= st.size;
    }
  }
}

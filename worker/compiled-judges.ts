// Checkers and interactors compiled once per worker: a stored problem's
// checker is the same program for every submission, and compiling a testlib
// checker costs seconds. Keyed by the program's content (language and files),
// so two problems with the same checker share it and a changed one is a new
// entry; its artifacts stay in the worker's private directory, shown
// read-only to each run, until the entry is evicted or the worker closes.
// Only successful compiles are kept: a failure may be the sandbox's, not the
// program's.
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";

export interface CompiledEntry<T> {
  value: T;
  /** directories the entry owns, removed with it */
  dirs: string[];
  /** false for a failed compile: given to the runs that waited for it, then dropped */
  keep: boolean;
}

export class CompiledJudges<T> {
  private readonly entries = new Map<string, Promise<CompiledEntry<T>>>();

  constructor(
    /** told each compile, with the program's key: the worker logs it */
    private readonly onCompile: (key: string) => void = () => {},
    private readonly max = 32,
  ) {}

  static key(p: { language: string; files: { path: string; contentBase64: string }[] }): string {
    return createHash("sha256")
      .update(JSON.stringify([p.language, p.files]))
      .digest("hex");
  }

  /**
   * The cached program under `key`, or `compile`'s, kept if it succeeded.
   * Runs asking for one program at once share one compile.
   */
  async get(key: string, compile: () => Promise<CompiledEntry<T>>): Promise<T> {
    let e = this.entries.get(key);
    if (e) {
      this.entries.delete(key); // most recently used last
      this.entries.set(key, e);
      return (await e).value;
    }
    this.onCompile(key);
    e = compile().then((r) => {
      if (!r.keep) {
        this.entries.delete(key);
        this.remove(r);
      }
      return r;
    });
    this.entries.set(key, e);
    if (this.entries.size > this.max) {
      const [oldest, entry] = this.entries.entries().next().value!;
      this.entries.delete(oldest);
      void entry.then((r) => this.remove(r));
    }
    return (await e).value;
  }

  /** Removes every entry's directories (the worker is closing). */
  async close(): Promise<void> {
    const all = await Promise.all(this.entries.values());
    this.entries.clear();
    for (const r of all) this.remove(r);
  }

  private remove(r: CompiledEntry<T>): void {
    for (const d of r.dirs) rmSync(d, { recursive: true, force: true });
  }
}

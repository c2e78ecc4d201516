// Images on demand: a run for a catalogued language whose images this machine
// has not built waits while its worker builds them (RUSE_BUILD_ON_DEMAND,
// on by default), instead of failing. The worker runs the same command an
// operator would (`rootfs/images.ts LANG`) as its own unprivileged user,
// into its own cache (rootfs/manifest.ts onDemandSource: never the machine's,
// which root loop-mounts), under that cache's lock: another worker of the
// machine wanting the same language waits on the lock and then finds it
// built. The build's progress goes to the worker's log. The images are then
// mounted with squashfuse and, since a build without root cannot run the
// build check in a chroot, the worker runs that check (rootfs/check.ts)
// through its own sandbox before the first run may use them.
// The build's user namespace maps the worker's subordinate ids, as the
// slots' runs do (the same /etc/subuid range): a run cannot name the build's
// processes (its own PID namespace) nor reach its files (its own root), and
// the build runs only Debian's packages.

import { spawn } from "node:child_process";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";
import { checkLanguage, type Runner } from "../rootfs/check.js";
import { getLanguage, languageEnv, type Language } from "../rootfs/languages.js";
import { onDemandSource, resolveLayers } from "../rootfs/manifest.js";
import { mountFuse } from "../rootfs/mounts.js";
import type { Sandbox } from "./sandbox/sandbox.js";
import { cliDefaults } from "./cli-defaults.js";

const REPO = fileURLToPath(new URL("../", import.meta.url));

export class ImagesOnDemand {
  /** per language: its images made usable (built, mounted, checked), once per worker process */
  private readonly ready = new Map<string, Promise<void>>();

  constructor(
    private readonly sb: Sandbox,
    private readonly enabled: boolean,
    private readonly log: (msg: string) => void,
  ) {}

  /**
   * Resolves once each language's images are usable here; throws why one is
   * not (naming the fix). After a language's first run this is a map lookup:
   * a run's path reads no manifest (as worker/stage.ts's layersOf).
   */
  async ensure(languageIds: readonly string[]): Promise<void> {
    for (const id of new Set(languageIds)) {
      let p = this.ready.get(id);
      if (!p) {
        p = this.usable(id);
        this.ready.set(id, p);
        p.catch(() => this.ready.delete(id)); // tried again by the next run
      }
      await p;
    }
  }

  /** At once for the machine's own images (checked when they were built); else built, mounted and checked. */
  private async usable(id: string): Promise<void> {
    let found: ReturnType<typeof resolveLayers> | undefined;
    try {
      found = resolveLayers(id);
    } catch (e) {
      if (!this.enabled) throw e;
    }
    if (found && !found.onDemand) return;
    await this.prepare(getLanguage(id)!, !found);
  }

  private async prepare(lang: Language, build: boolean): Promise<void> {
    const own = onDemandSource();
    if (build) {
      this.log(`worker: language ${lang.id} is not built on this machine: building it (npm run images -- ${lang.id})`);
      await this.build(lang.id, own.cacheDir);
    }
    mountFuse(own.mountRoot, own.cacheDir);
    const { layers } = resolveLayers(lang.id);
    const problems = await checkLanguage(lang, this.runner(lang, layers));
    if (problems.length)
      throw new Error(`the image of ${lang.id} built on demand fails its check: ${problems.join("; ")}`);
    this.log(`worker: language ${lang.id} built on demand, mounted and checked`);
  }

  /** `rootfs/images.ts --cache DIR LANG` as a child process, its lines in the worker's log. */
  private build(id: string, cacheDir: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", "rootfs/images.ts", "--cache", cacheDir, id], {
        cwd: REPO,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let tail = "";
      const lines = (d: Buffer) => {
        for (const line of d.toString().split("\n").filter(Boolean)) {
          this.log(`worker: image ${id}: ${line}`);
          tail = `${tail}\n${line}`.slice(-2000);
        }
      };
      child.stdout.on("data", lines);
      child.stderr.on("data", lines);
      child.on("error", reject);
      child.on("exit", (code) =>
        code === 0 ? resolve() : reject(new Error(`building the image of ${id} failed (exit ${code}):${tail}`)),
      );
    });
  }

  /**
   * The build check's runner: the worker's own sandbox. The programs are the
   * catalogue's examples, not a user's: their limits only need to let the
   * slowest compiler (tsc, kotlinc: seconds of start-up) finish, with room.
   */
  private runner(lang: Language, layers: string[]): Runner {
    return async ({ argv, files, stdin }) => {
      const r = await this.sb.run({
        layers,
        argv: [...argv],
        env: languageEnv(lang),
        stdin,
        files: Object.entries(files).map(([path, content]) => ({ path, content: Buffer.from(content) })),
        limits: { ...cliDefaults, cpuMs: 60_000, wallMs: 120_000, memoryBytes: 2 * 1024 ** 3, processes: 128 },
      });
      return {
        exitCode: r.exitCode,
        signal: r.signal === null ? null : (signalName(r.signal) ?? String(r.signal)),
        stdout: r.stdout.toString(),
        stderr: r.verdict === "internal_error" ? `sandbox: ${r.error ?? "internal error"}` : r.stderr.toString(),
      };
    };
  }
}

const signalName = (n: number): string | undefined => Object.entries(constants.signals).find(([, v]) => v === n)?.[0];

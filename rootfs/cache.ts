// The image cache's housekeeping: one build at a time in a cache directory,
// and what dead builds and replaced images leave there swept away.
import fs from "node:fs";
import path from "node:path";
import { indexFileName, MANIFEST_FILE, type Manifest } from "./manifest.js";

const LOCK_FILE = ".build.lock";

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** Takes the cache directory for this process until it exits; a lock left by a dead build is taken over. */
export function lockCache(cacheDir: string): void {
  const file = path.join(cacheDir, LOCK_FILE);
  for (let i = 0; i < 2; i++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: "wx" });
      process.on("exit", () => fs.rmSync(file, { force: true }));
      return;
    } catch {
      const pid = Number(fs.readFileSync(file, "utf8"));
      if (pid && pidAlive(pid)) throw new Error(`another build (pid ${pid}) is using ${cacheDir}`);
      fs.rmSync(file, { force: true });
    }
  }
  throw new Error(`cannot lock ${cacheDir}`);
}

/** Removes work dirs and temp files of dead builds, and images no longer in the manifest. */
export function sweepCache(cacheDir: string, manifest: Manifest): void {
  const current = new Set<string>([MANIFEST_FILE, LOCK_FILE]);
  for (const [name, rec] of Object.entries(manifest.images)) {
    current.add(rec.file);
    current.add(indexFileName(name, rec.hash));
  }
  for (const f of fs.readdirSync(cacheDir)) {
    const pid = /(?:^\.work-|\.tmp-)(\d+)/.exec(f)?.[1];
    if (pid !== undefined ? !pidAlive(Number(pid)) : !current.has(f) && /\.(sqfs|index\.json\.gz)$/.test(f)) {
      fs.rmSync(path.join(cacheDir, f), { recursive: true, force: true });
    }
  }
}

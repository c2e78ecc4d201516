// The image cache's housekeeping: one build at a time in a cache directory,
// and what dead builds and replaced images leave there swept away.
import fs from "node:fs";
import path from "node:path";
import { imageFileName, indexFileName, MANIFEST_FILE, type Manifest } from "./manifest.js";

const LOCK_FILE = ".build.lock";

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/**
 * Takes the cache directory for this process until it exits, waiting while
 * a live build holds it (`waiting` is told its pid once); a lock left by a
 * dead build is taken over.
 */
export async function lockCache(cacheDir: string, waiting?: (pid: number) => void): Promise<void> {
  const file = path.join(cacheDir, LOCK_FILE);
  let told = false;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: "wx" });
      process.on("exit", () => fs.rmSync(file, { force: true }));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST")
        throw new Error(`cannot lock ${cacheDir}: ${(e as Error).message}`);
      const text = fs.readFileSync(file, "utf8");
      const pid = Number(text);
      if (text !== "" && (!pid || !pidAlive(pid))) {
        fs.rmSync(file, { force: true });
        continue;
      }
      if (!told && pid) waiting?.(pid); // (empty: its writer is between create and write)
      told = true;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * Removes work dirs and temp files of dead builds, images no longer in the
 * manifest, and images kept aside after a failed check (`*.rejected*`) that
 * the current recipe (`hashes`: image name -> key) would no longer build.
 */
export function sweepCache(cacheDir: string, manifest: Manifest, hashes: Record<string, string> = {}): void {
  const current = new Set<string>([MANIFEST_FILE, LOCK_FILE]);
  for (const [name, rec] of Object.entries(manifest.images)) {
    current.add(rec.file);
    current.add(indexFileName(name, rec.hash));
  }
  const heldAside = new Set(Object.entries(hashes).map(([name, hash]) => imageFileName(name, hash)));
  for (const f of fs.readdirSync(cacheDir)) {
    const pid = /(?:^\.work-|\.tmp-)(\d+)/.exec(f)?.[1];
    const rejected = /^(.*\.sqfs)\.rejected(\.json)?$/.exec(f)?.[1];
    const stale =
      pid !== undefined
        ? !pidAlive(Number(pid))
        : rejected !== undefined
          ? !heldAside.has(rejected)
          : !current.has(f) && /\.(sqfs|index\.json\.gz)$/.test(f);
    if (stale) fs.rmSync(path.join(cacheDir, f), { recursive: true, force: true });
  }
}

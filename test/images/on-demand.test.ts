// Images on demand (worker/images.ts), for real: a machine whose images are
// only base gets a run in awk. Its worker, as the unprivileged user, builds
// awk's image (and a base of its own, since a layer is a diff against the
// image under it in the same cache) into its own cache with mmdebstrap
// --mode=unshare, mounts both with squashfuse, checks the language through
// its sandbox and runs the program; the next run uses the image at once.
// The machine's cache is untouched. About two minutes (two mmdebstrap
// runs), hence its own lane: npm run test:images.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { imageCacheDir, readManifest, type Manifest } from "../../rootfs/manifest.js";
import { mountTable, unmountFuse } from "../../rootfs/mounts.js";
import { startStack, type Stack } from "../helpers/service.js";

const dir = mkdtempSync(join(tmpdir(), "ruse-on-demand-"));
const machine = join(dir, "machine"); // the machine's cache, as if only base were built
const own = join(dir, "xdg", "ruse"); // the worker user's: images/ and mounts/
let s: Stack;
const saved = { ...process.env };

beforeAll(async () => {
  const real = imageCacheDir();
  const m = readManifest(real);
  const base = m.images.base!;
  mkdirSync(machine);
  for (const f of [base.file, base.file.replace(/\.sqfs$/, ".index.json.gz")])
    symlinkSync(join(real, f), join(machine, f));
  const only: Manifest = { ...m, images: { base } };
  writeFileSync(join(machine, "manifest.json"), JSON.stringify(only));
  // The in-process worker reads these through rootfs/manifest.ts, as a worker process would.
  process.env.RUSE_IMAGE_CACHE = machine;
  process.env.XDG_CACHE_HOME = join(dir, "xdg");
  s = await startStack({ worker: "inprocess", env: { RUSE_LANGUAGES: "bash", RUSE_IMAGE_CACHE: machine } });
});

afterAll(async () => {
  await s?.stop();
  unmountFuse(join(own, "mounts"));
  process.env = saved;
  rmSync(dir, { recursive: true, force: true });
});

it("builds, mounts and checks a language's image on its first run, then runs it", { timeout: 900_000 }, async () => {
  const t0 = Date.now();
  const r = await s.run({ language: "awk", source: 'BEGIN { print "hello, world" }\n' }, 900_000);
  const firstMs = Date.now() - t0;
  expect(r.verdict, JSON.stringify(r)).toBe("ok");
  expect(r.run!.stdout).toBe("hello, world\n");
  console.log(`on-demand: the first awk run, with the image built, mounted and checked, took ${firstMs} ms`);

  const built = JSON.parse(readFileSync(join(own, "images", "manifest.json"), "utf8")) as Manifest;
  expect(Object.keys(built.images).sort()).toEqual(["awk", "base"]);
  const fuse = mountTable().filter((e) => e.mountPoint.startsWith(join(own, "mounts")));
  expect(fuse.map((e) => e.fsType)).toEqual(["fuse.squashfuse", "fuse.squashfuse"]);
  expect(Object.keys(readManifest(machine).images)).toEqual(["base"]); // the machine's cache untouched

  const t1 = Date.now();
  const again = await s.run({ language: "awk", source: "{ print $1 + $2 }\n", stdin: "40 2\n" });
  expect(again.verdict).toBe("ok");
  expect(again.run!.stdout).toBe("42\n");
  expect(Date.now() - t1).toBeLessThan(firstMs / 5);
  expect(existsSync(join(own, "images", ".build.lock"))).toBe(false); // the build's lock went with it
});

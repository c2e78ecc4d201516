// checkImages at worker start: a missing or unmounted image is refused with
// the image's name and the command that fixes it.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_LANGUAGES } from "../../core/config.js";
import { expandLanguages } from "../../rootfs/languages.js";
import { checkImages, imageCacheDir, readManifest } from "../../rootfs/manifest.js";

describe("checkImages", () => {
  it("passes on this machine's built and mounted images (npm test builds them all)", () => {
    expect(() => checkImages(expandLanguages(["all"]))).not.toThrow();
  });
  it("names the image that is not mounted and how to mount it", () => {
    const empty = mkdtempSync(join(tmpdir(), "ruse-mnt-"));
    for (const name of Object.keys(readManifest(imageCacheDir()).images)) mkdirSync(join(empty, name));
    expect(() => checkImages(DEFAULT_LANGUAGES, empty)).toThrow(/image "\w+" is not mounted at .*rootfs\/mounts\.ts/);
  });
  it("names the missing image and the command that builds it", () => {
    const cache = mkdtempSync(join(tmpdir(), "ruse-cache-"));
    writeFileSync(join(cache, "manifest.json"), JSON.stringify({ format: 1, suite: "bookworm", images: {} }));
    expect(() => checkImages(["kotlin"], undefined, cache)).toThrow(
      /image "kotlin" is not built \(needed by language "kotlin"\); rebuild it with: npm run images -- kotlin --cache /,
    );
  });
});

// The code's rooms: core/ imports neither api/ nor worker/, and neither of
// those imports the other, and cli/ reaches the API over HTTP only (README: Code).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const REPO = new URL("../../", import.meta.url).pathname;
const sources = (dir: string): string[] =>
  readdirSync(join(REPO, dir)).flatMap((f) => {
    const p = join(dir, f);
    return statSync(join(REPO, p)).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
/** The top-level folders a file imports from, resolved from its own place. */
const importedRooms = (file: string): string[] =>
  [...readFileSync(join(REPO, file), "utf8").matchAll(/^import [^;]*? from "(\.[^"]+)";/gms)].map(
    (m) => join(file, "..", m[1]!).split("/")[0]!,
  );
const crossings = (from: string, forbidden: string[]) =>
  sources(from).flatMap((f) =>
    importedRooms(f)
      .filter((r) => forbidden.includes(r))
      .map((r) => `${f} -> ${r}/`),
  );

describe("the code's rooms", () => {
  it("finds the imports it checks", () => {
    expect(importedRooms("worker/service.ts")).toEqual(expect.arrayContaining(["core", "worker", "rootfs"]));
  });

  it("core/ imports neither api/ nor worker/", () => {
    expect(crossings("core", ["api", "worker"])).toEqual([]);
  });

  it("api/ does not import worker/, nor worker/ api/", () => {
    expect(crossings("api", ["worker"])).toEqual([]);
    expect(crossings("worker", ["api"])).toEqual([]);
  });

  it("cli/ is a client of the API over HTTP: it imports no api/", () => {
    expect(crossings("cli", ["api"])).toEqual([]);
  });
});

// rootfs/tar.ts against GNU tar: scanTar reads what `tar -c` writes (gnu,
// ustar and pax formats) with identities that depend on content, mode, owner
// and link target but not on mtime or format; writeTar's copies list and
// extract with GNU tar as the members they came from; damage is refused.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scanTar, writeTar, type TarEntry } from "../../rootfs/tar.js";

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ruse-tar-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const gtar = (...args: string[]): string => {
  const r = spawnSync("tar", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tar ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

// Over 100 bytes (the ustar name field) but splittable at a "/" into ustar's
// 155-byte prefix and 100-byte name.
const LONG_DIR = `deep/${"d".repeat(60)}/${"e".repeat(60)}`;
const LONG_FILE = `${LONG_DIR}/${"f".repeat(80)}.txt`;
const MTIME = new Date("2024-03-01T12:00:00Z");

/** A tree with every member type build.ts meets in mmdebstrap's output (devices aside). */
function makeTree(name: string, edit: (root: string) => void = () => {}): string {
  const root = path.join(tmp, name);
  fs.mkdirSync(path.join(root, "bin"), { recursive: true });
  fs.mkdirSync(path.join(root, LONG_DIR), { recursive: true });
  fs.mkdirSync(path.join(root, "tmp"));
  fs.writeFileSync(path.join(root, "bin/tool"), "#!/bin/sh\necho tool\n");
  fs.chmodSync(path.join(root, "bin/tool"), 0o4755);
  fs.writeFileSync(path.join(root, "empty"), "");
  fs.writeFileSync(path.join(root, LONG_FILE), "long name\n");
  fs.writeFileSync(path.join(root, "big"), Buffer.alloc(3 * 512 + 7, 0x61)); // data not a multiple of 512
  fs.symlinkSync("bin/tool", path.join(root, "link"));
  fs.linkSync(path.join(root, "bin/tool"), path.join(root, "bin/tool2")); // sorts after bin/tool
  spawnSync("mkfifo", [path.join(root, "fifo")]);
  // Modes explicitly: the suites may run under another umask.
  for (const p of ["", "bin", "deep", `deep/${"d".repeat(60)}`, LONG_DIR]) fs.chmodSync(path.join(root, p), 0o755);
  for (const p of ["empty", LONG_FILE, "big", "fifo"]) fs.chmodSync(path.join(root, p), 0o644);
  fs.chmodSync(path.join(root, "tmp"), 0o1777);
  edit(root);
  return root;
}

/** `tar -c` of a tree, in a fixed order, as root:root unless told otherwise. */
function archive(root: string, format: "gnu" | "ustar" | "pax", ...extra: string[]): string {
  const out = path.join(tmp, `${path.basename(root)}-${format}-${extra.join("").replace(/\W/g, "")}.tar`);
  spawnSync("find", [root, "-exec", "touch", "-h", "-d", MTIME.toISOString(), "{}", "+"]);
  gtar(`--format=${format}`, "--sort=name", "--owner=0", "--group=0", ...extra, "-C", root, "-cf", out, ".");
  return out;
}

const byPath = (entries: TarEntry[]): Record<string, TarEntry> => Object.fromEntries(entries.map((e) => [e.path, e]));

describe("scanTar reads GNU tar's archives", () => {
  it.each(["gnu", "ustar", "pax"] as const)(
    "lists every member of a %s archive with its type, link and identity",
    (format) => {
      const entries = scanTar(archive(makeTree(`t-${format}`), format));
      const m = byPath(entries);
      // "./x" and "./" come out as "x" and "" (the root), directories without the trailing "/".
      expect(entries.map((e) => e.path).sort()).toEqual(
        [
          "",
          "big",
          "bin",
          "bin/tool2",
          "bin/tool",
          "deep",
          `deep/${"d".repeat(60)}`,
          LONG_DIR,
          LONG_FILE,
          "empty",
          "fifo",
          "link",
          "tmp",
        ].sort(),
      );
      expect(m["bin/tool"]).toMatchObject({ type: "0", link: "" });
      expect(m["bin/tool"]!.id).toMatch(/^f 4755 0 0 20 [0-9a-f]{64} $/);
      expect(m.big!.id).toMatch(/^f 644 0 0 1543 /);
      expect(m.empty!.id).toMatch(/^f 644 0 0 0 e3b0c442/); // sha256 of nothing
      expect(m.tmp).toMatchObject({ type: "5", id: "d 1777 0 0 " });
      expect(m.link).toMatchObject({ type: "2", link: "bin/tool", id: "l 0 0 bin/tool" });
      // GNU tar stores the second name of a hard link as a link to the first it met.
      expect(m["bin/tool2"]).toMatchObject({ type: "1", link: "bin/tool", id: `h bin/tool ${m["bin/tool"]!.id}` });
      expect(m.fifo).toMatchObject({ type: "6", id: "6 644 0 0 0:0" });
      expect(m[LONG_FILE]!.id).toMatch(/^f 644 0 0 10 /);
      // Members tile the archive: each starts where the previous one ended.
      for (let i = 1; i < entries.length; i++) expect(entries[i]!.start).toBe(entries[i - 1]!.end);
      expect(entries[0]!.start).toBe(0);
    },
  );

  it("gives the same identities whatever the format", () => {
    const root = makeTree("formats");
    const ids = (["gnu", "ustar", "pax"] as const).map((f) =>
      scanTar(archive(root, f)).map((e) => `${e.path} ${e.type} ${e.id}`),
    );
    expect(ids[1]).toEqual(ids[0]);
    expect(ids[2]).toEqual(ids[0]);
  });

  it("reads long link targets (GNU longlink, pax linkpath) and owners too big for octal (base-256, pax uid)", () => {
    const target = `${"t".repeat(120)}/x`;
    const root = makeTree("longlink", (r) => fs.symlinkSync(target, path.join(r, "far")));
    for (const format of ["gnu", "pax"] as const) {
      const m = byPath(scanTar(archive(root, format)));
      expect(m.far).toMatchObject({ type: "2", link: target, id: `l 0 0 ${target}` });
      const big = byPath(scanTar(archive(root, format, "--owner=3000000", "--group=4000000")));
      expect(big["bin/tool"]!.id).toMatch(/^f 4755 3000000 4000000 20 /);
      expect(big.far!.id).toBe(`l 3000000 4000000 ${target}`);
    }
  });

  it("ignores mtimes but not content, mode, owner, link target or xattrs", () => {
    const ids = (name: string, edit?: (r: string) => void, ...extra: string[]) =>
      Object.fromEntries(scanTar(archive(makeTree(name, edit), "pax", ...extra)).map((e) => [e.path, e.id]));
    const ref = ids("ref");
    const later = makeTree("later");
    const laterTar = path.join(tmp, "later.tar");
    gtar("--format=pax", "--sort=name", "--owner=0", "--group=0", "-C", later, "-cf", laterTar, "."); // mtime: now
    expect(Object.fromEntries(scanTar(laterTar).map((e) => [e.path, e.id]))).toEqual(ref);

    const content = ids("content", (r) => fs.writeFileSync(path.join(r, "bin/tool"), "#!/bin/sh\necho TOOL\n"));
    expect(content["bin/tool"]).not.toBe(ref["bin/tool"]);
    expect(content["bin/tool2"]).not.toBe(ref["bin/tool2"]); // a hard link follows its target
    expect(content.empty).toBe(ref.empty);
    expect(ids("mode", (r) => fs.chmodSync(path.join(r, "empty"), 0o600)).empty).toBe(
      ref.empty!.replace(" 644 ", " 600 "),
    );
    expect(ids("owner", undefined, "--owner=1000").tmp).toBe("d 1777 1000 0 ");
    const relinked = ids("relink", (r) => {
      fs.rmSync(path.join(r, "link"));
      fs.symlinkSync("bin/tool2", path.join(r, "link"));
    });
    expect(relinked.link).toBe("l 0 0 bin/tool2");
    const xattr = ids("xattr", undefined, "--pax-option=SCHILY.xattr.user.k:=v");
    expect(xattr.empty).toMatch(/ SCHILY\.xattr\.user\.k=[0-9a-f]{64}$/);
    expect(xattr.empty).not.toBe(ref.empty);
  });
});

describe("writeTar copies members GNU tar reads back", () => {
  it("round trip: copying every member gives the same members, byte for byte", () => {
    for (const format of ["gnu", "pax"] as const) {
      const src = archive(makeTree(`rt-${format}`), format);
      const entries = scanTar(src);
      const out = path.join(tmp, `rt-${format}-copy.tar`);
      const { members, bytes } = writeTar(src, entries, () => true, out);
      expect(members).toBe(entries.length);
      const end = entries.at(-1)!.end;
      expect(bytes).toBe(end);
      const copy = fs.readFileSync(out);
      expect(copy.subarray(0, end).equals(fs.readFileSync(src).subarray(0, end))).toBe(true);
      expect(copy.length).toBe(end + 1024); // plus the two zero blocks that end an archive
      expect(copy.subarray(end).every((b) => b === 0)).toBe(true);
      expect(scanTar(out)).toEqual(entries);
    }
  });

  it("keeps only the chosen members, with their names, modes, mtimes, links and content", () => {
    const src = archive(makeTree("subset"), "pax");
    const entries = scanTar(src);
    const keep = new Set(["bin", "bin/tool", "bin/tool2", "link", LONG_FILE, "tmp"]);
    const out = path.join(tmp, "subset-copy.tar");
    expect(writeTar(src, entries, (e) => keep.has(e.path), out).members).toBe(keep.size);
    // tar -t: exactly those, in archive order (GNU tar prints "./" and dirs with "/").
    const listed = gtar("-tf", out)
      .split("\n")
      .filter(Boolean)
      .map((p) => p.replace(/^\.\//, "").replace(/\/$/, ""));
    expect(listed).toEqual(entries.filter((e) => keep.has(e.path)).map((e) => e.path));

    const dest = path.join(tmp, "subset-x");
    fs.mkdirSync(dest);
    gtar("-C", dest, "-xpf", out);
    const tool = fs.statSync(path.join(dest, "bin/tool"));
    expect(tool.mode & 0o777).toBe(0o755); // (set-uid: whether tar restores it depends on who extracts)
    expect(tool.mtimeMs).toBe(MTIME.getTime());
    expect(fs.statSync(path.join(dest, "bin/tool2")).ino).toBe(tool.ino);
    expect(fs.readlinkSync(path.join(dest, "link"))).toBe("bin/tool");
    expect(fs.readFileSync(path.join(dest, LONG_FILE), "utf8")).toBe("long name\n");
    expect(fs.statSync(path.join(dest, "tmp")).mode & 0o7777).toBe(0o1777);
    expect(fs.existsSync(path.join(dest, "big"))).toBe(false);
  });

  it("drops a member's pax header with it (the next member keeps its own name)", () => {
    const root = path.join(tmp, "pax-names");
    fs.mkdirSync(root);
    const a = `${"a".repeat(150)}`; // too long for ustar without a "/": needs a pax path record
    const b = `${"b".repeat(150)}`;
    fs.writeFileSync(path.join(root, a), "A");
    fs.writeFileSync(path.join(root, b), "B");
    const src = path.join(tmp, "pax-names.tar");
    gtar("--format=pax", "--sort=name", "-C", root, "-cf", src, a, b);
    const entries = scanTar(src);
    expect(entries.map((e) => e.path)).toEqual([a, b]);
    const out = path.join(tmp, "pax-names-b.tar");
    writeTar(src, entries, (e) => e.path === b, out);
    expect(gtar("-tf", out)).toBe(`${b}\n`);
    expect(scanTar(out).map((e) => e.path)).toEqual([b]);
  });
});

describe("damaged archives", () => {
  const tree = () => archive(makeTree(`bad-${Math.random().toString(36).slice(2)}`), "gnu");

  it("refuses a header whose checksum does not match", () => {
    const src = tree();
    const buf = fs.readFileSync(src);
    const second = scanTar(src)[1]!.start;
    buf[second + 1] = buf[second + 1]! ^ 0xff; // a byte of the second member's name
    fs.writeFileSync(src, buf);
    expect(() => scanTar(src)).toThrow(`tar: bad header checksum at ${second} in ${src}`);
  });

  it("refuses an archive cut inside a member's data", () => {
    const src = tree();
    const big = scanTar(src).find((e) => e.path === "big")!;
    fs.truncateSync(src, big.start + 512 + 100);
    expect(() => scanTar(src)).toThrow("tar: unexpected end of archive");
  });

  it("refuses an archive cut inside a long-name record", () => {
    const src = tree();
    const long = scanTar(src).find((e) => e.path === LONG_FILE)!;
    fs.truncateSync(src, long.start + 512 + 10); // the GNU 'L' header's data
    expect(() => scanTar(src)).toThrow("tar: unexpected end of archive");
  });

  it("refuses an archive cut inside a header, or between members", () => {
    const src = tree();
    const second = scanTar(src)[1]!;
    fs.truncateSync(src, second.start + 100);
    expect(() => scanTar(src)).toThrow("tar: unexpected end of archive");
    fs.truncateSync(src, second.start);
    expect(() => scanTar(src)).toThrow("tar: unexpected end of archive (no end marker)");
  });

  it("refuses member types it cannot compare (here a global pax header)", () => {
    const root = makeTree("global");
    const src = path.join(tmp, "global.tar");
    gtar("--format=pax", "--pax-option=comment=x", "-C", root, "-cf", src, "empty");
    expect(() => scanTar(src)).toThrow("tar: global pax headers are not supported");
  });
});

// Tar reading and copying for rootfs/build.ts: lists an mmdebstrap tar
// (pax/ustar/GNU) with a content identity per member, and copies chosen
// members, byte for byte, to a new tar for mksquashfs -tar.  Working on the
// stream (not an extracted tree) keeps owners right without being root.  Part
// of every image's hash key (rootfs/manifest.ts): editing it rebuilds everything.

import { createHash } from "node:crypto";
import fs from "node:fs";

/** One archive member: [start, end) spans its pax/GNU headers, header and data. */
export interface TarEntry {
  path: string;
  type: string;
  link: string;
  /** Everything that makes two members equal: type, mode, owner, content hash, link target, xattrs. */
  id: string;
  start: number;
  end: number;
}

const sha256 = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");

const cstr = (b: Buffer, off: number, len: number): string => {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? len : z).toString("utf8");
};

const tarNum = (b: Buffer, off: number, len: number): number => {
  if (b[off]! & 0x80) {
    // GNU base-256
    let n = 0;
    for (let i = off + 1; i < off + len; i++) n = n * 256 + b[i]!;
    return n;
  }
  return parseInt(cstr(b, off, len).trim() || "0", 8);
};

const normPath = (p: string): string =>
  p
    .replace(/^\.?\/+/, "")
    .replace(/^\.$/, "")
    .replace(/\/+$/, "");

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let got = 0; got < len; ) {
    const n = fs.readSync(fd, b, got, len - got, pos + got);
    if (n === 0) throw new Error("tar: unexpected end of archive");
    got += n;
  }
  return b;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < data.length; ) {
    const sp = data.indexOf(0x20, i);
    const len = parseInt(data.subarray(i, sp).toString(), 10);
    if (!(len > 0) || sp < 0) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString("utf8");
    const eq = rec.indexOf("=");
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** Lists a tar file (pax/ustar/GNU) with a content identity per member. */
export function scanTar(file: string): TarEntry[] {
  const fd = fs.openSync(file, "r");
  const size = fs.fstatSync(fd).size;
  const entries: TarEntry[] = [];
  const idByPath = new Map<string, string>();
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  let start = 0;
  const buf = Buffer.alloc(1 << 20);
  try {
    for (let pos = 0; ; ) {
      // A tar ends with zero blocks: an archive without them was cut short.
      if (pos + 512 > size) throw new Error(`tar: unexpected end of archive (no end marker) in ${file}`);
      const h = readAt(fd, pos, 512);
      if (h.every((x) => x === 0)) break;
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
      if (sum !== tarNum(h, 148, 8)) throw new Error(`tar: bad header checksum at ${pos} in ${file}`);
      const type = h[156] === 0 ? "0" : String.fromCharCode(h[156]!);
      const own = tarNum(h, 124, 12);
      const dataStart = pos + 512;
      if (type === "x" || type === "L" || type === "K") {
        const data = readAt(fd, dataStart, own);
        if (type === "x") pax = { ...pax, ...parsePax(data) };
        else if (type === "L") longName = cstr(data, 0, own);
        else longLink = cstr(data, 0, own);
        pos = dataStart + Math.ceil(own / 512) * 512;
        continue;
      }
      if (type === "g") throw new Error("tar: global pax headers are not supported");
      const dataSize = pax.size !== undefined ? Number(pax.size) : own;
      const prefix = cstr(h, 345, 155);
      const p = normPath(pax.path ?? longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100)));
      const link = pax.linkpath ?? longLink ?? cstr(h, 157, 100);
      const mode = (tarNum(h, 100, 8) & 0o7777).toString(8);
      const uid = pax.uid ?? String(tarNum(h, 108, 8));
      const gid = pax.gid ?? String(tarNum(h, 116, 8));
      const xattrs = Object.keys(pax)
        .filter((k) => k.startsWith("SCHILY.xattr."))
        .sort()
        .map((k) => `${k}=${sha256(pax[k]!)}`)
        .join(",");
      let id: string;
      if (type === "0" || type === "7") {
        const hash = createHash("sha256");
        for (let off = 0; off < dataSize; ) {
          const n = fs.readSync(fd, buf, 0, Math.min(buf.length, dataSize - off), dataStart + off);
          if (n === 0) throw new Error("tar: unexpected end of archive");
          hash.update(buf.subarray(0, n));
          off += n;
        }
        id = `f ${mode} ${uid} ${gid} ${dataSize} ${hash.digest("hex")} ${xattrs}`;
      } else if (type === "1") {
        // A hard link is only equal if what it points to is equal too.
        id = `h ${normPath(link)} ${idByPath.get(normPath(link)) ?? "?"}`;
      } else if (type === "2") {
        id = `l ${uid} ${gid} ${link}`;
      } else if (type === "5") {
        id = `d ${mode} ${uid} ${gid} ${xattrs}`;
      } else if ("346".includes(type)) {
        id = `${type} ${mode} ${uid} ${gid} ${tarNum(h, 329, 8)}:${tarNum(h, 337, 8)}`;
      } else {
        throw new Error(`tar: unsupported member type ${JSON.stringify(type)} (${p})`);
      }
      const end = dataStart + Math.ceil(dataSize / 512) * 512;
      entries.push({ path: p, type, link: normPath(link), id, start, end });
      idByPath.set(p, id);
      pos = start = end;
      pax = {};
      longName = longLink = undefined;
    }
  } finally {
    fs.closeSync(fd);
  }
  return entries;
}

/** Copies the members `keep` (in archive order) of `src` to a new tar `out`. */
export function writeTar(
  src: string,
  entries: readonly TarEntry[],
  keep: (e: TarEntry) => boolean,
  out: string,
): { members: number; bytes: number } {
  const inFd = fs.openSync(src, "r");
  const outFd = fs.openSync(out, "w");
  const buf = Buffer.alloc(1 << 20);
  let members = 0;
  let bytes = 0;
  for (const e of entries) {
    if (!keep(e)) continue;
    for (let pos = e.start; pos < e.end; ) {
      const n = fs.readSync(inFd, buf, 0, Math.min(buf.length, e.end - pos), pos);
      fs.writeSync(outFd, buf, 0, n);
      pos += n;
    }
    members++;
    bytes += e.end - e.start;
  }
  fs.writeSync(outFd, Buffer.alloc(1024)); // end-of-archive marker
  fs.closeSync(inFd);
  fs.closeSync(outFd);
  return { members, bytes };
}

// The launcher's file streams (sandbox-native/files.c): files go in before
// the program starts, and named files come out after every process of the
// run is dead, read without following any symlink.
//   in:  u32 path_len, u32 mode, u64 size, path, content; path_len 0 ends
//   out: u32 path_len, i32 errno, u64 size, path, content; path_len 0 ends

export interface SandboxFile {
  /** relative to /box; no "..", no absolute path */
  path: string;
  content: Buffer | string;
  executable?: boolean;
}

export type CollectedFile = { path: string; content: Buffer } | { path: string; error: string };

export function encodeFiles(files: readonly SandboxFile[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const path = Buffer.from(f.path);
    const content = typeof f.content === "string" ? Buffer.from(f.content) : f.content;
    const h = Buffer.alloc(16);
    h.writeUInt32LE(path.length, 0);
    h.writeUInt32LE(f.executable ? 0o755 : 0o644, 4);
    h.writeBigUInt64LE(BigInt(content.length), 8);
    parts.push(h, path, content);
  }
  parts.push(Buffer.alloc(16));
  return Buffer.concat(parts);
}

const REFUSALS: Record<number, string> = {
  2: "no such file",
  40: "refused: a symbolic link is on the path",
  22: "refused: not a regular file (or a bad path)",
  27: "refused: over the collect size cap",
  18: "refused: crosses a mount",
  13: "permission denied",
  20: "refused: not a directory (or a symbolic link to one)",
};

export function decodeCollected(buf: Buffer): CollectedFile[] {
  const out: CollectedFile[] = [];
  let o = 0;
  while (o + 16 <= buf.length) {
    const len = buf.readUInt32LE(o);
    const err = buf.readInt32LE(o + 4);
    const size = Number(buf.readBigUInt64LE(o + 8));
    o += 16;
    if (len === 0) return out;
    const path = buf.subarray(o, o + len).toString();
    o += len;
    if (err !== 0) {
      out.push({ path, error: REFUSALS[err] ?? `error ${err}` });
      continue;
    }
    out.push({ path, content: Buffer.from(buf.subarray(o, o + size)) });
    o += size;
  }
  throw new Error("collect stream ended early");
}

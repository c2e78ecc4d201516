// Mounts every built image read-only, once per boot, where the worker finds
// them (`layersFor`): as root with the kernel's squashfs (loop, read-only),
// as any other user with squashfuse_ll (FUSE, allow_other).
//   npx tsx rootfs/mount.ts
import { defaultMountRoot, mountFuse, mountKernel } from "./images.js";

const root = defaultMountRoot();
const results = process.getuid?.() === 0 ? mountKernel(root) : mountFuse(root);
const changed = results.filter((r) => r.action !== "unchanged");
for (const r of changed) console.error(`images: ${r.action} ${r.name} at ${r.dir}`);

// Shared fixtures for the suites that run real sandboxes: one Sandbox per
// test file, the image layers, default limits, and the static C probe.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { layersFor } from "../../rootfs/manifest.js";
import { Sandbox, type SandboxLimits, type SandboxSpec, type SandboxResult } from "../../worker/sandbox/sandbox.js";
import type { Host } from "../../worker/sandbox/host.js";
import { LauncherArgs } from "../../worker/sandbox/launcher-args.js";
import type { Slot } from "../../worker/sandbox/slots.js";

/** The suites must prove the product rootless: refuse to run them as root. */
export function assertNotRoot(): void {
  if (process.getuid?.() === 0) throw new Error("sandbox suites run as the unprivileged worker user: use `npm test`");
}

export const limits: SandboxLimits = {
  cpuMs: 2000,
  wallMs: 5000,
  memoryBytes: 256 << 20,
  processes: 64,
  outputBytes: 1 << 20,
  scratchBytes: 64 << 20,
  fileSizeBytes: 64 << 20,
  openFiles: 256,
  stackBytes: 64 << 20,
};

/** The base image alone (coreutils, bash): enough for the static probe. */
export const baseLayers = (): string[] => layersFor("bash");

let probe: Buffer | null = null;
/** test/fixtures/probe.c, built static on the host so it runs on any image. */
export function probeBinary(): Buffer {
  if (!probe) {
    const src = fileURLToPath(new URL("../fixtures/probe.c", import.meta.url));
    const out = join(mkdtempSync(join(tmpdir(), "ruse-probe-")), "probe");
    execFileSync("cc", ["-O1", "-static", "-pthread", "-o", out, src]);
    probe = readFileSync(out);
  }
  return probe;
}

/** Runs the probe with `args` in a sandbox of the base image. */
export type ProbeSpec = Omit<Partial<SandboxSpec>, "limits"> & { limits?: Partial<SandboxLimits> };

export function runProbe(sb: Sandbox, args: string[], spec: ProbeSpec = {}): Promise<SandboxResult> {
  return sb.run({
    layers: baseLayers(),
    argv: ["./probe", ...args],
    env: { PATH: "/usr/bin:/bin" },
    ...spec,
    files: [{ path: "probe", content: probeBinary(), executable: true }, ...(spec.files ?? [])],
    limits: { ...limits, ...spec.limits },
  });
}

/** The probe's output, line by line. */
export const lines = (out: string | Buffer): string[] => out.toString().split("\n").filter(Boolean);

/** The probe's key=value lines as a record (the last of a key wins). */
export function kv(out: string | Buffer): Record<string, string> {
  const o: Record<string, string> = {};
  for (const l of lines(out)) {
    const i = l.indexOf("=");
    if (i > 0) o[l.slice(0, i)] = l.slice(i + 1);
  }
  return o;
}

export async function openSandbox(concurrency = 2): Promise<Sandbox> {
  assertNotRoot();
  return Sandbox.create({ concurrency, images: [baseLayers()] });
}

/** A slot's shape over the base image, as the worker writes it (launcher-args.ts), with the given descriptors. */
export function baseShape(
  host: Host,
  slot: Slot,
  fd: { userns: number; netns?: number; report: number; seccomp: number },
): string[] {
  const a = new LauncherArgs<"shape">();
  for (const l of baseLayers()) a.add("layer", l);
  a.add("uid-host", slot.uidHost!).add("gid-host", slot.gidHost!).add("userns-fd", fd.userns);
  if (fd.netns !== undefined) a.add("netns-fd", fd.netns);
  if (host.cgroups.version === 2) a.add("cgroup-v2", host.cgroups.parent);
  else for (const p of host.cgroups.parents) a.add("cgroup-v1", p);
  return a.add("report-fd", fd.report).add("seccomp-fd", fd.seccomp).argv;
}

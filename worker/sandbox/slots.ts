// Slots: one per concurrent run. Each has its own host uid and gid (from the
// worker's subordinate range, never the worker's own) and a user namespace
// mapping runner (1000) to them, made once at start by `ruse-launch
// --hold-userns` and kept open as a descriptor that every run of the slot
// enters. The descriptor keeps the namespace alive, so the holder process is
// let go as soon as it is open.
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { once } from "node:events";
import type { Host } from "./host.js";

export interface Slot {
  index: number;
  /** null in weak same-uid mode */
  uidHost: number | null;
  gidHost: number | null;
  usernsFd: number;
}

async function holdNamespace(launcher: string, uid: number | null, gid: number | null): Promise<number> {
  const ids = uid === null || gid === null ? ["--weak-same-uid"] : ["--uid-host", String(uid), "--gid-host", String(gid)];
  const holder = spawn(launcher, ["--hold-userns", ...ids], { stdio: ["pipe", "pipe", "pipe"], env: {} });
  let out = "";
  let err = "";
  holder.stdout.on("data", (d: Buffer) => (out += d));
  holder.stderr.on("data", (d: Buffer) => (err += d));
  const exited = once(holder, "exit");
  while (!out.includes("\n")) {
    const more = once(holder.stdout, "data");
    const r = await Promise.race([more.then(() => "data"), exited.then(() => "exit")]);
    if (r === "exit") throw new Error(`cannot make a user namespace for uid ${uid ?? "self"}: ${err.trim() || "holder exited"}`);
  }
  const pid = Number(out.trim());
  const fd = openSync(`/proc/${pid}/ns/user`, "r");
  holder.stdin.end(); // the fd holds the namespace now; the holder may go
  await exited;
  return fd;
}

export class SlotPool {
  private free: Slot[] = [];
  private waiters: ((s: Slot) => void)[] = [];
  private constructor(private readonly all: Slot[]) {
    this.free = [...all];
  }

  static async create(launcher: string, host: Host, count: number): Promise<SlotPool> {
    if (host.uids && count > host.uids.count) throw new Error(`${count} slots need ${count} subordinate uids; the range has ${host.uids.count}`);
    if (host.gids && count > host.gids.count) throw new Error(`${count} slots need ${count} subordinate gids; the range has ${host.gids.count}`);
    const slots: Slot[] = [];
    for (let index = 0; index < count; index++) {
      const uidHost = host.uids ? host.uids.start + index : null;
      const gidHost = host.gids ? host.gids.start + index : null;
      slots.push({ index, uidHost, gidHost, usernsFd: await holdNamespace(launcher, uidHost, gidHost) });
    }
    return new SlotPool(slots);
  }

  get size(): number {
    return this.all.length;
  }

  acquire(): Promise<Slot> {
    const s = this.free.pop();
    if (s) return Promise.resolve(s);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(slot: Slot): void {
    const next = this.waiters.shift();
    if (next) next(slot);
    else this.free.push(slot);
  }

  close(): void {
    for (const s of this.all) closeSync(s.usernsFd);
    this.all.length = 0;
    this.free = [];
  }
}

// Slots: one per concurrent run. Each has its own host uid and gid (from the
// worker user's subordinate range, never the worker's own uid), a user
// namespace mapping runner (1000) to them and a network namespace in it
// (loopback down), made once at start by `ruse-launch --hold-userns` and kept
// open as descriptors that every run of the slot enters (a run that asks for
// loopback gets a network namespace of its own). The holder process stays alive holding the slot's lock
// file, so that every worker process on the machine takes different uids.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import type { Host } from "./host.js";

export interface Slot {
  index: number;
  /** null in weak same-uid mode */
  uidHost: number | null;
  gidHost: number | null;
  usernsFd: number;
  netnsFd: number;
}

/** The launcher's exit status when another worker holds that slot. */
const SLOT_BUSY = 75;

interface Held {
  usernsFd: number;
  netnsFd: number;
  holder: ChildProcess;
}

async function holdNamespace(launcher: string, uid: number | null, gid: number | null, lockDir: string): Promise<Held | null> {
  const ids =
    uid === null || gid === null
      ? ["--weak-same-uid"]
      : ["--uid-host", String(uid), "--gid-host", String(gid), "--slot-lock", join(lockDir, `${uid}.lock`)];
  const holder = spawn(launcher, ["--hold-userns", ...ids], { stdio: ["pipe", "pipe", "pipe"], env: {} });
  let out = "";
  let err = "";
  holder.stdout.on("data", (d: Buffer) => (out += d));
  holder.stderr.on("data", (d: Buffer) => (err += d));
  const exited = once(holder, "exit") as Promise<[number | null]>;
  while (!out.includes("\n")) {
    const r = await Promise.race([once(holder.stdout, "data").then(() => null), exited]);
    if (r === null) continue;
    if (r[0] === SLOT_BUSY) return null;
    throw new Error(`cannot make a user namespace for uid ${uid ?? "self"}: ${err.trim() || `holder exited ${r[0]}`}`);
  }
  const ns = `/proc/${Number(out.trim())}/ns`;
  const usernsFd = openSync(`${ns}/user`, "r");
  const netnsFd = openSync(`${ns}/net`, "r");
  holder.unref();
  return { usernsFd, netnsFd, holder };
}

export class SlotPool {
  private free: Slot[];
  private waiters: { n: number; take: (s: Slot[]) => void }[] = [];
  private constructor(
    private readonly all: Slot[],
    private readonly holders: ChildProcess[],
  ) {
    this.free = [...all];
  }

  /** Takes `count` slots that no other worker on this machine holds. */
  static async create(launcher: string, host: Host, count: number, lockDir: string): Promise<SlotPool> {
    mkdirSync(lockDir, { recursive: true, mode: 0o700 });
    const slots: Slot[] = [];
    const holders: ChildProcess[] = [];
    const tries = host.uids ? Math.min(host.uids.count, host.gids!.count) : count;
    for (let i = 0; i < tries && slots.length < count; i++) {
      const uidHost = host.uids ? host.uids.start + i : null;
      const gidHost = host.gids ? host.gids.start + i : null;
      const held = await holdNamespace(launcher, uidHost, gidHost, lockDir);
      if (!held) continue;
      slots.push({ index: slots.length, uidHost, gidHost, usernsFd: held.usernsFd, netnsFd: held.netnsFd });
      holders.push(held.holder);
    }
    if (slots.length < count) {
      for (const h of holders) h.stdin?.end();
      throw new Error(`${count} slots wanted, ${slots.length} free: the subordinate id range is used up by other workers`);
    }
    return new SlotPool(slots, holders);
  }

  /** The slots' namespace descriptors, in slot order: user, then network, of each. */
  namespaceFds(): number[] {
    return this.all.flatMap((s) => [s.usernsFd, s.netnsFd]);
  }

  uids(): number[] {
    return this.all.flatMap((s) => (s.uidHost === null ? [] : [s.uidHost]));
  }

  get idle(): number {
    return this.free.length;
  }

  get size(): number {
    return this.all.length;
  }

  /** `n` slots at once, first come first served. */
  acquire(n: number): Promise<Slot[]> {
    if (n > this.all.length) return Promise.reject(new Error(`${n} slots wanted, the pool has ${this.all.length}`));
    if (this.waiters.length === 0 && this.free.length >= n) return Promise.resolve(this.free.splice(-n, n));
    return new Promise((take) => this.waiters.push({ n, take }));
  }

  release(slot: Slot): void {
    this.free.push(slot);
    while (this.waiters.length && this.free.length >= this.waiters[0]!.n) {
      const w = this.waiters.shift()!;
      w.take(this.free.splice(-w.n, w.n));
    }
  }

  /** Gives the slots back: the holders end when their stdin closes. */
  close(): void {
    for (const s of this.all) for (const fd of [s.usernsFd, s.netnsFd]) closeSync(fd);
    for (const h of this.holders) h.stdin?.end();
    this.all.length = 0;
    this.free = [];
  }
}

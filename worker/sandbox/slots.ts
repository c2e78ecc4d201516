// Slots: one per concurrent run. Each has its own host uid and gid (from the
// worker user's subordinate range, never the worker's own uid), a user
// namespace mapping runner (1000) to them, a network namespace in it
// (loopback down) and a mount namespace per image whose root is that image,
// made once at start by `ruse-launch --hold-userns` and kept open as
// descriptors that every run of the slot enters (a run that asks for
// loopback gets a network namespace of its own; one of another image, or
// with box-lower, builds its root itself). The descriptors keep the
// namespaces; of the processes that made them, only the holder stays, with
// the slot's lock file, so that every worker process on the machine takes
// different uids.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import type { Host } from "./host.js";
import { LauncherArgs } from "./launcher-args.js";

export interface Slot {
  index: number;
  /** null in weak same-uid mode */
  uidHost: number | null;
  gidHost: number | null;
  usernsFd: number;
  netnsFd: number;
  /** per image (SlotPool's images, in order) */
  imageNsFds: number[];
}

/** The launcher's exit status when another worker holds that slot. */
const SLOT_BUSY = 75;

interface Held {
  usernsFd: number;
  netnsFd: number;
  imageNsFds: number[];
  holder: ChildProcess;
}

/** An image's layers (top first) as one key, the launcher's --image form. */
export const imageKey = (layers: readonly string[]): string => layers.join(":");

async function holdNamespace(
  launcher: string,
  uid: number | null,
  gid: number | null,
  lockDir: string,
  images: string[],
): Promise<Held | null> {
  const a = new LauncherArgs<"shape">().add("hold-userns");
  if (uid === null || gid === null) a.add("weak-same-uid");
  else
    a.add("uid-host", uid)
      .add("gid-host", gid)
      .add("slot-lock", join(lockDir, `${uid}.lock`));
  for (const i of images) a.add("image", i);
  const holder = spawn(launcher, a.argv, { stdio: ["pipe", "pipe", "pipe"], env: {} });
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
  // The pid holding the user and network namespaces, then one per image.
  const [held, ...builders] = out
    .trim()
    .split(" ")
    .map((p) => `/proc/${Number(p)}/ns`);
  const usernsFd = openSync(`${held}/user`, "r");
  const netnsFd = openSync(`${held}/net`, "r");
  const imageNsFds = builders.map((ns) => openSync(`${ns}/mnt`, "r"));
  holder.stdin.write("held\n"); // our descriptors keep the namespaces: their processes may go (hold.c)
  holder.unref();
  return { usernsFd, netnsFd, imageNsFds, holder };
}

export class SlotPool {
  private free: Slot[];
  private waiters: { n: number; take: (s: Slot[]) => void }[] = [];
  private constructor(
    private readonly all: Slot[],
    private readonly holders: ChildProcess[],
    private readonly images: string[],
  ) {
    this.free = [...all];
  }

  /** Takes `count` slots that no other worker on this machine holds, each holding `images` (layers, top first) built. */
  static async create(
    launcher: string,
    host: Host,
    count: number,
    lockDir: string,
    images: readonly (readonly string[])[] = [],
  ): Promise<SlotPool> {
    const keys = [...new Set(images.map(imageKey))];
    if (keys.some((k) => k.split(":").some((l) => !l)))
      throw new Error("an image's layers cannot be empty nor contain ':'");
    mkdirSync(lockDir, { recursive: true, mode: 0o700 });
    const slots: Slot[] = [];
    const holders: ChildProcess[] = [];
    const tries = host.uids ? Math.min(host.uids.count, host.gids!.count) : count;
    try {
      for (let i = 0; i < tries && slots.length < count; i++) {
        const uidHost = host.uids ? host.uids.start + i : null;
        const gidHost = host.gids ? host.gids.start + i : null;
        const held = await holdNamespace(launcher, uidHost, gidHost, lockDir, keys);
        if (!held) continue;
        slots.push({
          index: slots.length,
          uidHost,
          gidHost,
          usernsFd: held.usernsFd,
          netnsFd: held.netnsFd,
          imageNsFds: held.imageNsFds,
        });
        holders.push(held.holder);
      }
      if (slots.length < count)
        throw new Error(
          `${count} slots wanted, ${slots.length} free: the subordinate id range is used up by other workers`,
        );
    } catch (e) {
      new SlotPool(slots, holders, keys).close(); // the slots taken so far go back
      throw e;
    }
    return new SlotPool(slots, holders, keys);
  }

  /** The slots' namespace descriptors, in slot order: user, network, then each image's. */
  namespaceFds(): number[] {
    return this.all.flatMap((s) => [s.usernsFd, s.netnsFd, ...s.imageNsFds]);
  }

  /**
   * Where a slot's namespaces land when namespaceFds() are handed on as
   * descriptors `first`, `first + 1`, ...; `image` is undefined for an image
   * (`layers`) the slots do not hold.
   */
  served(
    slot: Slot,
    first: number,
    layers: readonly string[],
  ): { userns: number; netns: number; image: number | undefined } {
    const base = first + slot.index * (2 + this.images.length);
    const i = this.images.indexOf(imageKey(layers));
    return { userns: base, netns: base + 1, image: i < 0 ? undefined : base + 2 + i };
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
    for (const s of this.all) for (const fd of [s.usernsFd, s.netnsFd, ...s.imageNsFds]) closeSync(fd);
    for (const h of this.holders) h.stdin?.end();
    this.all.length = 0;
    this.free = [];
  }
}

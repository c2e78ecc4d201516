// The cgroup2 lane's VM runs under qemu's emulator (TCG) where /dev/kvm
// cannot boot a stock kernel (scripts/vm/lane.sh sets RUSE_EMULATED=1).
// Code runs there about 20x slower: the few assertions calibrated for a real
// CPU are skipped (or given room) there, saying so; the host's npm test
// asserts them as written.
import { it } from "vitest";

export const EMULATED = process.env.RUSE_EMULATED === "1";

/** Under emulation a kill takes longer to land: time margins are this many times wider. */
export const SLACK = EMULATED ? 4 : 1;

/** `it` for a check calibrated for a real CPU: skipped under emulation, its name saying why. */
export function itCalibrated(name: string, fn: () => Promise<void> | void): void {
  it.skipIf(EMULATED)(EMULATED ? `${name} [skipped under emulation: calibrated for a real CPU]` : name, fn);
}

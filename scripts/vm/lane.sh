#!/usr/bin/env bash
# npm run test:cgroup2: proves the cgroup v2 path for real, in a VM.
#
# Boots a Debian bookworm VM (scripts/vm/image.sh: Debian's packages, a
# Debian kernel, cached under /var/cache/ruse/vm) with qemu-system-x86_64,
# the project shared read-only over 9p and the host's images read-only, no
# network (-nic none), and runs there, as the unprivileged worker user:
#   1. systemd, cgroup v2 only (bookworm's default): set-up as root, then the
#      sandbox and service suites in a transient service with Delegate=yes,
#      then test/cgroup2 in the user's own systemd instance, whose default
#      delegation has no cpu controller;
#   2. the same VM with a shell as PID 1 (no systemd): set-up makes the
#      delegated directory /sys/fs/cgroup/ruse; test/cgroup2 and the sandbox
#      suites.
# (cgroup v1 is the host's own `npm test`.) Without /dev/kvm it runs under
# qemu's emulator, loudly (below).
#
# Acceleration: KVM when it can run a stock kernel (Intel VT-x or AMD-V:
# kvm_intel or kvm_amd). A /dev/kvm that cannot (kvm_pvm, the page-table
# based nested hypervisor of some cloud sandboxes, which boots only kernels
# built as PVM guests, and Debian's are not) makes the lane fall back to
# qemu's emulator (TCG), about 20x slower for Node, loudly, with
# RUSE_EMULATED=1 for the suites (test/helpers/emulated.ts).
# RUSE_VM_ACCEL=kvm|tcg forces a choice.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT_DIR=$PWD
T0=$(date +%s)
say() { printf 'cgroup2-lane: %s\n' "$*"; }
loud() {
  printf '\n%s\n' "################################################################################"
  printf '## cgroup2-lane: %s\n' "$@"
  printf '%s\n\n' "################################################################################"
}
elapsed() { echo $(($(date +%s) - $1)); }

if [ "$(id -u)" != 0 ]; then
  say "needs root: it builds the VM image (mmdebstrap, mkfs.ext4) and runs set-up inside; run it with sudo"
  exit 1
fi

ACCEL=${RUSE_VM_ACCEL:-}
if [ -z "$ACCEL" ] && [ ! -e /dev/kvm ]; then
  ACCEL=tcg
  loud "/dev/kvm is missing: FALLING BACK to qemu's emulator (TCG), about 20x slower" \
    "for Node. The suites run with RUSE_EMULATED=1 (see below); cgroup v2 is still" \
    "proven, on a real kernel in the VM. On a machine with KVM nothing is skipped."
fi
if [ -z "$ACCEL" ]; then
  if [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; then
    ACCEL=kvm
  elif [ -d /sys/module/kvm_pvm ]; then
    ACCEL=tcg
    loud "/dev/kvm here is kvm_pvm (nested page-table based virtualization): it boots" \
      "only kernels built as PVM guests, and Debian's is not one (it hangs before its" \
      "first message). FALLING BACK to qemu's emulator (TCG), about 20x slower for" \
      "Node. The suites run with RUSE_EMULATED=1: the assertions calibrated for a real" \
      "CPU (CPU-time accuracy within 10%, a 1 s wall limit around a 150 MB write, limit" \
      "overshoot margins, JavaScript and Java within the default 2 s of CPU) are skipped" \
      "or given room, each saying so (test/helpers/emulated.ts), and api-faults (BullMQ's" \
      "and Redis's fault handling, not the cgroups') is left out; all of them hold on the" \
      "host's own npm test. With VT-x/AMD-V (KVM) nothing is skipped."
  else
    ACCEL=kvm
  fi
fi
if [ "$ACCEL" = kvm ] && { ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; }; then
  say "/dev/kvm is missing or not usable: load kvm_intel or kvm_amd (or RUSE_VM_ACCEL=tcg)"
  exit 1
fi
case $ACCEL in
  kvm) QEMU_ACCEL=(-accel kvm -cpu host) TIMEOUT=900 ;;
  # pku=off: no memory protection keys for V8 to use under emulation.
  tcg) QEMU_ACCEL=(-accel tcg,thread=multi -cpu max,pku=off) TIMEOUT=1500 ;;
  *) say "RUSE_VM_ACCEL must be kvm or tcg"; exit 1 ;;
esac

# What each boot runs (scripts/vm/in-vm.sh). The VM tests the same suites as
# the host's npm test, minus those that are about the host (rootfs builds,
# seccomp unit tests: kernel- and cgroup-independent).
CG2="test/cgroup2 test/unit/host.test.ts"
ESCAPE="test/adversarial/sandbox-escape.test.ts"
SANDBOX="test/integration/sandbox.test.ts"
SERVICE="test/integration/api.test.ts test/integration/languages.test.ts"
# A worker killed mid-run and a Redis restart test BullMQ and Redis, not the
# cgroups: emulated, they would take the cached lane past 10 minutes.
FAULTS="test/integration/api-faults.test.ts"
[ "$ACCEL" = kvm ] && SERVICE="$SERVICE $FAULTS"
SUITES_SYSTEMD="$CG2 $ESCAPE $SANDBOX $SERVICE"
# The delegated directory differs from systemd's delegation only in how the
# worker finds its cgroup (worker/sandbox/host.ts); under emulation the
# launcher's own suite runs once, in the systemd boot, to save 90 s.
if [ "$ACCEL" = kvm ]; then SUITES_NOSYSTEMD="$CG2 $ESCAPE $SANDBOX"; else SUITES_NOSYSTEMD="$CG2 $ESCAPE"; fi
SUITES_USER="test/cgroup2"
SUITES_SYSTEMD=${RUSE_LANE_SUITES_SYSTEMD:-$SUITES_SYSTEMD}
SUITES_NOSYSTEMD=${RUSE_LANE_SUITES_NOSYSTEMD:-$SUITES_NOSYSTEMD}

# The host side first: packages (qemu), the launcher, the images (cached).
t=$(date +%s)
bash scripts/setup.sh || { say "host set-up failed"; exit 1; }
say "host set-up: $(elapsed "$t") s"

t=$(date +%s)
cached=$(ls -d /var/cache/ruse/vm/bookworm-* 2>/dev/null || true)
DIR=$(bash scripts/vm/image.sh) || { say "the VM image could not be built"; exit 1; }
if [ "$DIR" = "$cached" ]; then IMAGE_STATE=cached; else IMAGE_STATE=built; fi
IMAGE_TIME=$(elapsed "$t")
say "VM image $DIR: $IMAGE_STATE in $IMAGE_TIME s"

OUT=$(mktemp -d /tmp/ruse-cgroup2-lane.XXXXXX)
cat >"$OUT/config" <<EOF
SUITES_SYSTEMD="$SUITES_SYSTEMD"
SUITES_USER="$SUITES_USER"
SUITES_NOSYSTEMD="$SUITES_NOSYSTEMD"
EMULATED=$([ "$ACCEL" = tcg ] && echo 1 || echo 0)
DEBUG_CMD=$(printf '%q' "${RUSE_LANE_DEBUG_CMD:-}")
EOF
CPUS=$(nproc)
[ "$CPUS" -le 4 ] || CPUS=4
MEM=4096

boot() { # MODE, extra kernel arguments
  local mode=$1 t
  shift
  t=$(date +%s)
  say "booting the VM ($mode, $ACCEL, $CPUS CPUs, $MEM MB); console log $OUT/console-$mode.log"
  rm -f "$OUT/status.$mode" "$OUT/results.$mode"
  # The console, streamed, without the terminal resets of firmware and qemu.
  timeout --signal=KILL "$TIMEOUT" qemu-system-x86_64 -machine q35 "${QEMU_ACCEL[@]}" -smp "$CPUS" -m "$MEM" \
    -nographic -no-reboot -nic none \
    -kernel "$DIR/vmlinuz" -initrd "$DIR/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 panic=1 quiet loglevel=3 systemd.show_status=false $*" \
    -drive "file=$DIR/disk.img,format=raw,if=virtio,snapshot=on" \
    -virtfs "local,path=$ROOT_DIR,mount_tag=project,security_model=none,readonly=on,multidevs=remap" \
    -virtfs "local,path=/var/cache/ruse/images,mount_tag=images,security_model=none,readonly=on,multidevs=remap" \
    -virtfs "local,path=$OUT,mount_tag=out,security_model=none,multidevs=remap" \
    </dev/null 2>&1 | sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[c78]//g' -e 's/\r$//' | tee "$OUT/console-$mode.log"
  local status
  status=$(cat "$OUT/status.$mode" 2>/dev/null || echo "none (the VM died or timed out after ${TIMEOUT} s)")
  say "$mode boot: status $status in $(elapsed "$t") s"
  eval "TIME_$mode=$(elapsed "$t")"
  [ "$status" = 0 ]
}

rc=0
boot systemd || rc=1
[ -n "${RUSE_LANE_DEBUG_CMD:-}" ] && [ -n "${RUSE_LANE_DEBUG_SYSTEMD_ONLY:-}" ] && { say "debug run: systemd boot only"; exit $rc; }
boot nosystemd init=/usr/local/sbin/nosystemd-init || rc=1

results=()
for mode in systemd nosystemd; do
  results+=("$mode boot, $(eval echo "\$TIME_$mode") s:")
  while IFS= read -r l; do results+=("  $l"); done < <(cat "$OUT/results.$mode" 2>/dev/null || echo "no results")
done
loud "cgroup v2 lane: $([ $rc = 0 ] && echo PASSED || echo FAILED) in $(elapsed "$T0") s (VM image $IMAGE_STATE in ${IMAGE_TIME} s; $ACCEL)" \
  "${results[@]}" "logs: $OUT"
exit $rc

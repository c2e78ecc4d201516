#!/usr/bin/env bash
# The cgroup2 lane's VM image, built from Debian's packages with mmdebstrap
# (like rootfs/) and cached outside the checkout, keyed by a hash of its
# inputs:  bash scripts/vm/image.sh   -> prints the image's directory.
#
# A Debian bookworm system with systemd (cgroup v2 only, the unified
# hierarchy, bookworm's default), a Debian kernel, every package
# scripts/setup.sh installs (so that set-up inside the VM, which has no
# network, finds them all), the host's Node (the files of its nodejs
# package: bookworm's own nodejs is 18) and the host's apt sources (the
# images' hash keys include them). The directory holds:
#   disk.img     raw ext4, made with mkfs.ext4 -d from the tree; booted
#                read-only (qemu snapshot=on: writes go to a throw-away file)
#   vmlinuz, initrd.img   from the tree's /boot, for qemu -kernel/-initrd
#   inputs.txt   what the key was computed from
# Needs root (mmdebstrap --mode=root, device nodes, file ownership).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT_DIR=$PWD
CACHE=${RUSE_VM_CACHE:-/var/cache/ruse/vm}
log() { printf 'vm-image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap --mode=root, mkfs.ext4 -d): run it with sudo"

# What the guest needs besides scripts/setup.sh's PACKAGES: a kernel and an
# initramfs (ext4 and virtio are modules), systemd as PID 1 and user
# sessions (logind, the user bus: systemd-run --user --wait needs it),
# loopback (ip).
GUEST_PACKAGES=(linux-image-amd64 initramfs-tools zstd systemd systemd-sysv udev dbus dbus-user-session libpam-systemd kmod iproute2 procps libstdc++6)
read -r -a SETUP_PACKAGES <<<"$(sed -n 's/^PACKAGES=(\(.*\))$/\1/p' scripts/setup.sh)"
[ ${#SETUP_PACKAGES[@]} -gt 0 ] || die "cannot read PACKAGES from scripts/setup.sh"
PACKAGES=$(printf '%s\n' "${GUEST_PACKAGES[@]}" "${SETUP_PACKAGES[@]}" | sort -u | paste -sd,)
mapfile -t MIRRORS < <(npx tsx -e 'import { hostMirrors } from "./rootfs/recipe.ts"; console.log(hostMirrors().join("\n"))')
[ ${#MIRRORS[@]} -gt 0 ] || die "no Debian bookworm source in /etc/apt/sources.list{,.d/*}"
# The files of the host's nodejs package that exist (npm may have been
# upgraded in place since: its directories are taken whole, as they are).
NODE_FILES=$(dpkg -L nodejs | grep -Ev '^/(\.|usr/include|usr/share/(doc|man))(/|$)' | while read -r f; do
  [ -e "$f" ] || [ -L "$f" ] && printf '%s\n' "$f"; done || true)
[ -n "$NODE_FILES" ] || die "the host's nodejs package is not installed"
NODE_DIRS=$(cd / && ls -d usr/lib/node_modules/npm usr/lib/node_modules/corepack 2>/dev/null || true)

inputs() {
  echo "format 1"
  echo "packages $PACKAGES"
  printf 'mirror %s\n' "${MIRRORS[@]}"
  echo "nodejs $(dpkg-query -W -f='${Version}' nodejs) $(sha256sum /usr/bin/node | cut -c1-64)"
  for d in $NODE_DIRS; do echo "$d $(sha256sum "/$d/package.json" | cut -c1-64)"; done
  sha256sum scripts/vm/image.sh scripts/vm/guest/*
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*; do [ -f "$f" ] && sha256sum "$f"; done
  return 0
}
KEY=$(inputs | sha256sum | cut -c1-16)
DIR=$CACHE/bookworm-$KEY
if [ -f "$DIR/disk.img" ] && [ -f "$DIR/vmlinuz" ] && [ -f "$DIR/initrd.img" ]; then
  echo "$DIR"
  exit 0
fi
# Only the directory goes to stdout; everything else to stderr.
exec 3>&1 1>&2

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ -f "$DIR/disk.img" ]; then echo "$DIR" >&3; exit 0; fi # built while we waited
t0=$(date +%s)
WORK=$(mktemp -d "$CACHE/.work-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
TREE=$WORK/root

log "mmdebstrap bookworm with ${PACKAGES//,/ } ..."
mmdebstrap --quiet --variant=minbase --mode=root --format=directory \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --include="$PACKAGES" \
  --aptopt='Acquire::Languages "none"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --essential-hook='mkdir -p "$1/usr/share/man/man1"' \
  bookworm "$TREE" "${MIRRORS[@]}" >"$WORK/mmdebstrap.log" 2>&1 || { tail -40 "$WORK/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
log "  mmdebstrap done in $(($(date +%s) - t0)) s"

# The host's Node: the files of its nodejs package (node, npm, npx).
printf '%s\n' "$NODE_FILES" | sed 's|^/||' | tar -C / --no-recursion -cf - -T - | tar -C "$TREE" -xf -
[ -z "$NODE_DIRS" ] || tar -C / -cf - $NODE_DIRS | tar -C "$TREE" -xf -
chroot "$TREE" node --version >/dev/null || die "the host's node does not run in the guest"

# The host's apt sources, exactly: rootfs/recipe.ts hashes them into the
# images' keys, and the guest must find the host's images current.
rm -rf "$TREE/etc/apt/sources.list" "$TREE/etc/apt/sources.list.d"
mkdir -p "$TREE/etc/apt/sources.list.d"
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$TREE/etc/apt/"
for f in /etc/apt/sources.list.d/*; do [ -f "$f" ] && cp "$f" "$TREE/etc/apt/sources.list.d/"; done

# The lane's entry points; a quiet boot (nothing the lane does not need).
install -m 0755 scripts/vm/guest/ruse-lane scripts/vm/guest/nosystemd-init "$TREE/usr/local/sbin/"
install -m 0644 scripts/vm/guest/ruse-lane.service "$TREE/etc/systemd/system/"
ln -sf /etc/systemd/system/ruse-lane.service "$TREE/etc/systemd/system/multi-user.target.wants/ruse-lane.service"
for u in serial-getty@ttyS0.service getty@tty1.service apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_all.timer fstrim.timer redis-server.service systemd-timesyncd.service; do
  ln -sf /dev/null "$TREE/etc/systemd/system/$u"
done
echo ruse-vm >"$TREE/etc/hostname"
printf '127.0.0.1\tlocalhost ruse-vm\n::1\tlocalhost\n' >"$TREE/etc/hosts"
echo '/dev/vda / ext4 rw,relatime 0 1' >"$TREE/etc/fstab"
: >"$TREE/etc/machine-id"
rm -rf "$TREE"/var/cache/apt/*.bin "$TREE"/var/lib/apt/lists/* "$TREE"/tmp/*

kver=$(ls "$TREE/lib/modules" | sort -V | tail -1)
cp "$TREE/boot/vmlinuz-$kver" "$WORK/vmlinuz"
cp "$TREE/boot/initrd.img-$kver" "$WORK/initrd.img"
used=$(du -sm "$TREE" | cut -f1)
size=$((used + used / 4 + 1024)) # room for the lane's writes (they go to a snapshot file anyway)
mkfs.ext4 -q -L ruse-vm -m 0 -E root_owner=0:0 -d "$TREE" "$WORK/disk.img" "${size}M"
inputs >"$WORK/inputs.txt"
rm -rf "$TREE"
mkdir -p "$DIR"
mv "$WORK/vmlinuz" "$WORK/initrd.img" "$WORK/inputs.txt" "$DIR/"
mv "$WORK/disk.img" "$DIR/disk.img" # last: its presence marks the image complete
# Older images (other keys) are not needed any more.
for d in "$CACHE"/bookworm-*; do [ "$d" = "$DIR" ] || rm -rf "$d"; done
log "built $DIR in $(($(date +%s) - t0)) s (tree ${used} MB, disk ${size} MB)"
echo "$DIR" >&3

#!/usr/bin/env bash
# The one set-up step that both `npm start` and `npm test` call. Idempotent:
# each step checks before it acts, so a second call takes about a second.
#
# As root it also does the one-time privileged steps, and only these:
#   - Debian packages the project needs (below)
#   - the worker user (RUSE_USER, default "ruse") with a subordinate uid/gid
#     range in /etc/subuid and /etc/subgid: one host uid per sandbox slot
#   - cgroup delegation (README "Cgroups"): v1, a cgroup the worker user owns
#     per controller; v2 without systemd, /sys/fs/cgroup/ruse with its leaf
#     ruse/worker; v2 under systemd nothing here: the worker runs in a unit
#     with Delegate=yes (scripts/as-worker.sh, scripts/systemd/)
#   - favordynmods on the cgroup2 mount (cheap cgroup migrations)
#   - /dev/fuse 0666 and user_allow_other, for rootless squashfuse mounts
#   - read access for the worker user to this checkout
#   - the images, built from Debian packages and loop-mounted read-only:
#     those of the languages given as arguments (all: every one), else of
#     $RUSE_LANGUAGES (default: the first eight)
# As any other user it checks that these were done and says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR=$PWD
RUSE_USER=${RUSE_USER:-ruse}
PACKAGES=(gcc libc6-dev make uidmap squashfs-tools squashfuse fuse3 mmdebstrap redis-server bubblewrap hyperfine libseccomp2 qemu-system-x86 e2fsprogs clang-format chromium)
log() { printf 'setup: %s\n' "$*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }

ensure_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return
  if ! is_root; then log "missing Debian packages: ${missing[*]} (run: sudo bash scripts/setup.sh)"; exit 1; fi
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_node_modules() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm ci"
    npm ci --no-audit --no-fund >/dev/null
  fi
}

ensure_launcher() { make -s -C sandbox-native >/dev/null; }

# The playground's browser bundle (api/playground/dist/, served at /), made
# again when a source under api/playground is newer than it. A user who
# cannot write the checkout (the worker user in root's) keeps what is there.
ensure_playground() {
  local dir=api/playground bundle=api/playground/dist/playground.js
  [ -f "$bundle" ] && [ -z "$(find "$dir" -path "$dir/dist" -prune -o -newer "$bundle" -print -quit)" ] && return
  if [ -w "$dir" ] && { [ ! -e "$dir/dist" ] || [ -w "$dir/dist" ]; }; then
    log "bundling the playground"
    node --import tsx "$dir/build.ts" >/dev/null
  elif [ -f "$bundle" ]; then
    log "warning: the playground bundle is older than its sources, and $(id -un) cannot write $dir (run: sudo bash scripts/setup.sh)"
  else
    log "the playground is not built, and $(id -un) cannot write $dir: GET / answers 503 (run: sudo bash scripts/setup.sh)"
  fi
}

# A range of 65536 ids after every range already handed out (min 200000).
next_free_range() {
  awk -F: 'BEGIN{m=200000} {e=$2+$3; if (e>m) m=e} END{print m}' /etc/subuid /etc/subgid 2>/dev/null
}

ensure_user() {
  if ! id "$RUSE_USER" >/dev/null 2>&1; then
    log "creating user $RUSE_USER"
    useradd --system --create-home --home-dir /var/lib/ruse --shell /usr/sbin/nologin "$RUSE_USER"
  fi
  if ! grep -q "^$RUSE_USER:" /etc/subuid 2>/dev/null || ! grep -q "^$RUSE_USER:" /etc/subgid 2>/dev/null; then
    local start; start=$(next_free_range)
    log "giving $RUSE_USER the subordinate ids $start-$((start + 65535))"
    grep -q "^$RUSE_USER:" /etc/subuid 2>/dev/null || echo "$RUSE_USER:$start:65536" >>/etc/subuid
    grep -q "^$RUSE_USER:" /etc/subgid 2>/dev/null || echo "$RUSE_USER:$start:65536" >>/etc/subgid
  fi
}

# cgroup v2 when /sys/fs/cgroup is the unified tree; else v1 controllers.
ensure_cgroups() {
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    local c
    for c in memory pids; do
      grep -qw $c /sys/fs/cgroup/cgroup.controllers || { log "cgroup v2: the kernel offers no $c controller (booted with cgroup_disable=$c?)"; exit 1; }
    done
    if [ -d /run/systemd/system ]; then ensure_cgroups_v2_systemd; else ensure_cgroups_v2_directory; fi
  else
    for c in memory pids cpu cpuacct; do
      local d=/sys/fs/cgroup/$c/ruse
      [ -d /sys/fs/cgroup/$c ] || { log "no cgroup v1 $c controller mounted"; exit 1; }
      [ -d "$d" ] || mkdir "$d"
      chown "$RUSE_USER": "$d" "$d/cgroup.procs" "$d/tasks"
    done
  fi
}

# systemd owns the tree (one writer per cgroup): nothing is made here. The
# worker runs in a unit with Delegate=yes, whose cgroup systemd hands to the
# worker user with every controller; the worker moves itself into the leaf
# <unit>/worker and enables memory, pids and cpu for its runs.
# scripts/as-worker.sh (as root) starts it with systemd-run; a service uses
# scripts/systemd/ruse-worker.service.
ensure_cgroups_v2_systemd() {
  command -v systemd-run >/dev/null || { log "cgroup v2 under systemd needs systemd-run (package systemd)"; exit 1; }
}

# No systemd: /sys/fs/cgroup/ruse, owned by the worker user, with memory, pids
# (and cpu when the kernel has it) enabled for its children, and the leaf
# ruse/worker where scripts/as-worker.sh puts the worker (cgroup v2's "no
# internal processes" rule: ruse itself holds no process, only the worker's
# leaf and one cgroup per run). A writer moving a process needs write access
# to the common ancestor's cgroup.procs: ruse's, for worker <-> run-PID.
ensure_cgroups_v2_directory() {
  local root=/sys/fs/cgroup d=/sys/fs/cgroup/ruse c
  for c in memory pids cpu; do
    grep -qw $c $root/cgroup.controllers || continue
    grep -qw $c $root/cgroup.subtree_control || echo "+$c" >$root/cgroup.subtree_control || {
      [ $c = cpu ] || { log "cannot enable the $c controller in $root/cgroup.subtree_control"; exit 1; }
      log "warning: cannot enable the cpu controller (real-time processes outside the root cgroup?): runs get no cpu.max throttling"
    }
  done
  mkdir -p $d/worker
  for c in memory pids cpu; do
    grep -qw $c $d/cgroup.controllers || continue
    grep -qw $c $d/cgroup.subtree_control || echo "+$c" >$d/cgroup.subtree_control || {
      [ $c = cpu ] || { log "cannot enable the $c controller in $d/cgroup.subtree_control (are there processes in $d itself?)"; exit 1; }
    }
  done
  chown "$RUSE_USER": $d $d/cgroup.procs $d/cgroup.subtree_control $d/cgroup.threads \
    $d/worker $d/worker/cgroup.procs $d/worker/cgroup.subtree_control $d/worker/cgroup.threads
}

# Moving a task into a cgroup waits for an RCU grace period (10-30 ms here)
# unless the cgroup2 mount has favordynmods, which makes migrations cheap
# (0.03 ms) for a little more cost per fork and exit. The flag is global, so
# the cgroup2 mount serves on a v1 host too. A remount replaces the mount's
# cgroup2 options (nsdelegate, memory_recursiveprot, ... as systemd sets
# them): all of them are given again.
ensure_favordynmods() {
  local m opts
  m=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
  [ -n "$m" ] || return 0
  opts=$(awk -v m="$m" '$2 == m && $3 == "cgroup2" {print $4; exit}' /proc/mounts)
  case ",$opts," in *,favordynmods,*) return 0 ;; esac
  mount -o "remount,$opts,favordynmods" "$m" || log "warning: cannot set favordynmods on $m; each run pays ~10 ms to enter its cgroup"
}

ensure_fuse() {
  [ -e /dev/fuse ] && [ "$(stat -c %a /dev/fuse)" != 666 ] && chmod 0666 /dev/fuse
  grep -q '^user_allow_other' /etc/fuse.conf 2>/dev/null || echo user_allow_other >>/etc/fuse.conf
}

# The worker user must read the checkout; grant traversal where it lacks it.
ensure_checkout_readable() {
  setpriv --reuid "$RUSE_USER" --regid "$RUSE_USER" --clear-groups test -r "$ROOT_DIR/package.json" && return
  local d=$ROOT_DIR
  while [ "$d" != / ]; do
    setpriv --reuid "$RUSE_USER" --regid "$RUSE_USER" --clear-groups test -x "$d" || chmod o+x "$d"
    d=$(dirname "$d")
  done
  log "granted $RUSE_USER traversal to $ROOT_DIR"
}

# Built from Debian packages, cached by content hash outside the checkout
# (a no-op when nothing changed), then mounted read-only: kernel squashfs as
# root, squashfuse otherwise.
# The images of the languages named (npm run images -- LANG ...; npm test: all), else of $RUSE_LANGUAGES.
ensure_images() {
  # node --import tsx, not npx tsx: one node process instead of three (npx,
  # tsx's CLI, node), which also counts under the lane's emulator, where a
  # starting node dies now and then.
  node --import tsx rootfs/images.ts "$@"
  node --import tsx rootfs/mounts.ts
}

ensure_packages
ensure_node_modules
ensure_launcher
ensure_playground
if is_root; then
  ensure_user
  ensure_cgroups
  ensure_favordynmods
  ensure_fuse
  ensure_checkout_readable
  ensure_images "$@"
else
  ensure_images "$@"
  grep -q "^$(id -un):" /etc/subuid || log "warning: $(id -un) has no /etc/subuid range; runs need --weak-same-uid (see README)"
fi

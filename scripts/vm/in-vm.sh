#!/usr/bin/env bash
# Inside the cgroup2 lane's VM (booted by scripts/vm/lane.sh; started by the
# image's ruse-lane). The project is this read-only 9p share; the host's
# images come read-only at /mnt/ruse-images; /mnt/out is where the verdict
# goes (out/status.MODE, read by the host). $1, the boot:
#   systemd    a Debian host as installed: systemd, cgroup v2 only. Set-up as
#              root, then the suites as the worker user in a transient
#              service with Delegate=yes (scripts/as-worker.sh: systemd-run
#              --uid=ruse -p Delegate=yes), then test/cgroup2 again in the
#              user's own systemd instance with its default delegation
#              (memory and pids, no cpu): systemd-run --user -p Delegate=yes.
#   nosystemd  the same kernel and disk with a shell as PID 1: no one manages
#              the cgroup2 tree; set-up makes /sys/fs/cgroup/ruse, and
#              scripts/as-worker.sh puts the worker in its leaf.
# The files each step runs come from /mnt/out/config (written by lane.sh).
set -uo pipefail
MODE=${1:?mode}
cd "$(dirname "$0")/../.."
ROOT_DIR=$PWD
T0=$(date +%s)
say() { printf '[lane %s +%3ds] %s\n' "$MODE" "$(($(date +%s) - T0))" "$*"; }
nine() { mkdir -p "$2" && mount -t 9p -o "trans=virtio,version=9p2000.L,msize=262144,$3" "$1" "$2"; }

nine out /mnt/out rw,cache=none || { echo "in-vm: no out share" >&2; exit 1; }
finish() {
  echo "$1" >"/mnt/out/status.$MODE"
  say "done: $([ "$1" = 0 ] && echo PASSED || echo "FAILED ($1)")"
  exit "$1"
}
# shellcheck disable=SC1091
. /mnt/out/config
# Under qemu's emulator: the suites skip or widen their CPU-calibrated checks.
export RUSE_EMULATED=${EMULATED:-0}
nine images /mnt/ruse-images ro,cache=loose || finish 90

say "kernel $(uname -r), $(systemctl --version 2>/dev/null | head -1 || echo 'no systemd'), $(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024) " MB"}' /proc/meminfo)"
say "cgroup mounts: $(awk '$3 ~ /^cgroup/ {print $2 " " $3 " " $4}' /proc/mounts | paste -sd';')"
[ -f /sys/fs/cgroup/cgroup.controllers ] && ! awk '$3 == "cgroup" {f=1} END {exit !f}' /proc/mounts || { say "not a cgroup-v2-only host"; finish 91; }

# The host's images, read-only: the cache directory is links to them (so
# that build.ts, which takes a lock file there, finds them all current).
mkdir -p /var/cache/ruse/images
for f in /mnt/ruse-images/*; do ln -sf "$f" /var/cache/ruse/images/; done

say "scripts/setup.sh (as root)"
# Under the emulator a node dies now and then on start (SIGILL, SIGSEGV, a
# wasm "memory access out of bounds" in tsx's lexer; three set-ups failed so
# in a row once, and the next passed): the set-up, which is idempotent, is
# tried up to three times more there before the lane fails.
setup_ok=0
for try in 1 2 3 4; do
  bash scripts/setup.sh && { setup_ok=1; break; }
  [ "$RUSE_EMULATED" = 1 ] && [ $try -lt 4 ] || break
  say "set-up failed under the emulator (try $try): again"
done
[ $setup_ok = 1 ] || finish 92
say "cgroup2 mount after set-up: $(awk '$3 == "cgroup2" {print $4}' /proc/mounts); root subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
[ "$MODE" = nosystemd ] && say "/sys/fs/cgroup/ruse: $(stat -c %U /sys/fs/cgroup/ruse), subtree_control: $(cat /sys/fs/cgroup/ruse/cgroup.subtree_control)"

if [ -n "${DEBUG_CMD:-}" ]; then # RUSE_LANE_DEBUG_CMD: a command instead of the suites
  say "debug: $DEBUG_CMD"
  bash -c "$DEBUG_CMD" 2>&1 | tee /tmp/lane-step.log
  finish "${PIPESTATUS[0]}"
fi

VITEST=(node node_modules/vitest/vitest.mjs run --configLoader runner)
rc=0
step() { # NAME, command... (its output through a pipe: vitest's plain reporter, not its TTY one)
  local name=$1 t=$SECONDS r sum
  shift
  say "$name: $*"
  "$@" 2>&1 | tee /tmp/lane-step.log
  r=${PIPESTATUS[0]}
  sum=$(grep -aE '^([0-9]+ passed, [0-9]+ failed, [0-9]+ skipped|unit: .*)$' /tmp/lane-step.log | tail -1)
  say "$name: ${sum:-no test summary}; exit $r in $((SECONDS - t)) s"
  echo "$name: ${sum:-no test summary}; exit $r in $((SECONDS - t)) s" >>"/mnt/out/results.$MODE"
  [ $r = 0 ] || rc=1
}

# The shipped unit, as an administrator installs it: the worker starts as a
# service with Delegate=yes, says its mode, and drains and stops on TERM.
unit_smoke() {
  local sock=/run/ruse-lane-redis.sock line i
  redis-server --port 0 --unixsocket $sock --unixsocketperm 777 --save '' --appendonly no --daemonize yes >/dev/null || return 1
  install -m 0644 scripts/systemd/ruse-worker.service /etc/systemd/system/
  mkdir -p /etc/systemd/system/ruse-worker.service.d
  printf '[Service]\nWorkingDirectory=%s\nEnvironment=REDIS_URL=unix://%s RUSE_CONCURRENCY=1\n' "$ROOT_DIR" "$sock" \
    >/etc/systemd/system/ruse-worker.service.d/lane.conf
  systemctl daemon-reload
  systemctl start ruse-worker.service || return 1
  for i in $(seq 180); do
    # The worker logs JSON lines (pino): its first says its cgroup mode, in "msg".
    line=$(journalctl -q -u ruse-worker.service -o cat | grep -m1 '"component":"worker".*"msg":"cgroup' |
      sed -n 's/.*"msg":"\([^"]*\)".*/\1/p')
    [ -z "$line" ] || break
    ! systemctl -q is-failed ruse-worker.service || break
    sleep 1
  done
  journalctl -q -u ruse-worker.service -o cat | tail -5
  systemctl stop ruse-worker.service
  local result status
  result=$(systemctl show -P Result ruse-worker.service)
  status=$(systemctl show -P ExecMainStatus ruse-worker.service)
  redis-cli -s $sock shutdown nosave >/dev/null 2>&1
  if [[ $line == "cgroup v2 (memory, pids, cpu; delegated by systemd: runs in /sys/fs/cgroup/system.slice/ruse-worker.service/run-*"* ]] &&
    [ "$result" = success ] && [ "$status" = 0 ]; then
    echo "unit: scripts/systemd/ruse-worker.service started in v2 mode and stopped cleanly (Result=$result, status $status)"
  else
    echo "unit: FAILED: start-up line [${line:-none}], Result=$result, status $status"
    return 1
  fi
}

if [ "$MODE" = systemd ]; then
  step "the shipped unit scripts/systemd/ruse-worker.service" unit_smoke
  # A system service of the worker user with Delegate=yes: what as-worker.sh does as root.
  # shellcheck disable=SC2086
  step "suites, systemd service with Delegate=yes" bash scripts/as-worker.sh "${VITEST[@]}" $SUITES_SYSTEMD
  if [ -n "${SUITES_USER:-}" ]; then
    uid=$(id -u ruse)
    user_session() { # NAME: SUITES_USER in a transient service of the user's own systemd instance
      systemctl start "user@$uid.service" || rc=1
      say "user@$uid.service delegates: $(systemctl show -P DelegateControllers "user@$uid.service"); its cgroup has: $(cat "/sys/fs/cgroup/user.slice/user-$uid.slice/user@$uid.service/cgroup.controllers")"
      # shellcheck disable=SC2086
      step "$1" runuser -u ruse -- env XDG_RUNTIME_DIR="/run/user/$uid" \
        systemd-run --user --quiet --collect --wait --pipe --same-dir -p Delegate=yes --setenv=RUSE_EMULATED="$RUSE_EMULATED" -- "${VITEST[@]}" $SUITES_USER
      systemctl stop "user@$uid.service"
    }
    # Debian 12's systemd (252) delegates cpu, memory and pids to user sessions.
    user_session "user session (systemd-run --user -p Delegate=yes), Debian 12's delegation"
    # Before 252 (Debian 11, Ubuntu 22.04) user@.service delegated memory and
    # pids only: the worker says so at start, and still measures and enforces CPU time.
    mkdir -p /run/systemd/system/user@.service.d
    printf '[Service]\nDelegate=\nDelegate=pids memory\n' >/run/systemd/system/user@.service.d/ruse-lane.conf
    systemctl daemon-reload
    user_session "user session, the delegation of systemd < 252 (memory and pids, no cpu)"
  fi
else
  # shellcheck disable=SC2086
  step "suites, delegated directory /sys/fs/cgroup/ruse" bash scripts/as-worker.sh "${VITEST[@]}" $SUITES_NOSYSTEMD
fi
finish $rc

#!/usr/bin/env bash
# npm run test:cluster: several hosts on one machine, each in its own network
# namespace, one Redis, and faults (test/cluster/cluster.test.ts).
#
# As root it makes a private bridge (ruse-cl0, 10.231.0.1/24 on the machine's
# side, so that the test can reach the hosts) and the namespaces ruse-redis,
# ruse-api1, ruse-api2, ruse-w1..ruse-w3, each with a veth pair to the bridge
# (the machine's end named rcl-NAME, which the test sets down to cut a host
# off) and an address on 10.231.0.0/24. Nothing routes off that /24: no
# default route in any namespace, no NAT, no forwarding. It starts
# redis-server in ruse-redis as the worker user (TCP on 10.231.0.2:6379,
# requirepass, append-only as core/redis-embedded.ts), then the suite.
#
# The suite runs as root, for two things only: entering the namespaces to
# start the hosts (nsenter --net, then scripts/as-worker.sh drops to the
# worker user, as npm start does) and setting a host's link down and up.
# Every API, worker and Redis process runs as the worker user; the test
# checks each one's uids in /proc.
#
# Idempotent: whatever a lane that died left (namespaces, bridge) is removed
# first; everything it makes is removed on exit, failure included.
set -uo pipefail
cd "$(dirname "$0")/../.."
RUSE_USER=${RUSE_USER:-ruse}
say() { printf 'cluster-lane: %s\n' "$*"; }
die() {
  say "$*"
  exit 1
}

[ "$(id -u)" = 0 ] || die "needs root: it makes network namespaces and a bridge; run it with sudo"
for tool in ip nsenter setpriv redis-server flock; do
  command -v "$tool" >/dev/null || die "needs $tool (iproute2, util-linux, redis-server), which is missing"
done
# The hosts are started by nsenter --net then scripts/as-worker.sh; under
# systemd on cgroup v2 that script starts the command as a systemd unit,
# outside the namespace.
if [ -f /sys/fs/cgroup/cgroup.controllers ] && [ -d /run/systemd/system ]; then
  die "cgroup v2 under systemd: scripts/as-worker.sh would start each host in a systemd unit outside its network namespace; this lane runs on cgroup v1 or v2 without systemd"
fi

exec 9>/run/ruse-cluster-lane.lock
flock -n 9 || die "another cluster lane is running (/run/ruse-cluster-lane.lock)"

BRIDGE=ruse-cl0
NET=10.231.0
HOSTS=(redis:2 api1:11 api2:12 w1:21 w2:22 w3:23)
DIR=

SUITE=
cleanup() {
  local h name
  if [ -n "$SUITE" ]; then
    kill -TERM "$SUITE" 2>/dev/null
    wait "$SUITE" 2>/dev/null
  fi
  for h in "${HOSTS[@]}"; do
    name=ruse-${h%%:*}
    [ -e "/run/netns/$name" ] || continue
    # Every process left in the namespace (the Redis, a host a failed test left), by pid.
    for pid in $(ip netns pids "$name" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$name" 2>/dev/null
  done
  for h in "${HOSTS[@]}"; do ip link del "rcl-${h%%:*}" 2>/dev/null; done
  ip link del "$BRIDGE" 2>/dev/null
  [ -n "$DIR" ] && rm -rf "$DIR"
  return 0
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT
cleanup # what a lane killed before its trap ran left

ip netns add ruse-probe-$$ 2>/dev/null && ip netns del ruse-probe-$$ ||
  die "cannot make network namespaces (ip netns add failed: no CAP_SYS_ADMIN, or no netns support in this kernel)"

bash scripts/setup.sh || die "set-up failed"

ip link add "$BRIDGE" type bridge || die "cannot make the bridge $BRIDGE"
ip addr add "$NET.1/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
for h in "${HOSTS[@]}"; do
  name=${h%%:*} addr=$NET.${h##*:}
  ns=ruse-$name
  ip netns add "$ns" || die "cannot make namespace $ns"
  ip link add "rcl-$name" type veth peer name eth0 netns "$ns" || die "cannot make the veth pair of $ns"
  ip link set "rcl-$name" master "$BRIDGE" up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
done
say "bridge $BRIDGE ($NET.1/24), namespaces: ${HOSTS[*]/#/ruse-}"

DIR=$(mktemp -d /tmp/ruse-cluster.XXXXXX)
chmod 755 "$DIR"
mkdir -p "$DIR/redis"
PASS=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
# The test starts Redis again from this file (its restart fault): one definition.
cat >"$DIR/redis/redis.conf" <<EOF
bind $NET.2
port 6379
requirepass $PASS
dir $DIR/redis
appendonly yes
appendfsync everysec
save ""
daemonize no
loglevel warning
logfile $DIR/redis/redis.log
EOF
chown -R "$RUSE_USER:" "$DIR/redis"
chmod 700 "$DIR/redis"
chmod 600 "$DIR/redis/redis.conf"
nsenter --net=/run/netns/ruse-redis setpriv --reuid "$RUSE_USER" --regid "$RUSE_USER" --init-groups \
  redis-server "$DIR/redis/redis.conf" &
disown # cleanup kills it by pid, from the namespace's list: no job notice for that
for _ in $(seq 100); do
  REDISCLI_AUTH=$PASS redis-cli -h "$NET.2" ping 2>/dev/null | grep -q PONG && break
  sleep 0.1
done
REDISCLI_AUTH=$PASS redis-cli -h "$NET.2" ping 2>/dev/null | grep -q PONG || die "redis-server did not start in ruse-redis"

t=$(date +%s)
# In the background, so that a TERM for this script runs its trap at once (bash runs traps only
# between foreground commands); the trap ends the suite first.
RUSE_CLUSTER_DIR=$DIR RUSE_CLUSTER_NET=$NET RUSE_CLUSTER_REDIS_PASS=$PASS RUSE_USER=$RUSE_USER \
  npx vitest run --configLoader runner --config test/vitest.cluster.config.ts "$@" &
SUITE=$!
rc=0
wait "$SUITE" || rc=$?
SUITE=
[ $rc = 0 ] || { say "Redis's log:"; cat "$DIR/redis/redis.log"; }
say "$([ $rc = 0 ] && echo PASSED || echo FAILED) in $(($(date +%s) - t)) s"
exit $rc

#!/usr/bin/env bash
# Runs a command as the unprivileged worker user when called as root, as is
# when called as anyone else: the service and the tests never run as root.
#
# On cgroup v2 the worker must also run in a cgroup delegated to it (README:
# Cgroups). Under systemd the command becomes a transient service with
# Delegate=yes, as the worker user, in the foreground (its output, exit
# status and environment are the caller's); without systemd it is put in
# the leaf /sys/fs/cgroup/ruse/worker that scripts/setup.sh made.
set -euo pipefail
RUSE_USER=${RUSE_USER:-ruse}
if [ "$(id -u)" != 0 ]; then exec "$@"; fi
home=$(getent passwd "$RUSE_USER" | cut -d: -f6)

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  if [ -d /run/systemd/system ]; then
    # The caller's environment, but for what systemd sets for the user and
    # the unit itself, in a file only root reads (EnvironmentFile=): given
    # as --setenv it would be the unit's Environment=, which any local user
    # can read with systemctl show, and it holds keys and Redis passwords.
    envfile=/run/ruse-as-worker-$$.env
    trap 'rm -f "$envfile"' EXIT
    (umask 077 && : >"$envfile")
    while IFS= read -r -d '' kv; do
      name=${kv%%=*}
      case $name in
        HOME | USER | LOGNAME | SHELL | PWD | OLDPWD | SHLVL | _ | MAIL | INVOCATION_ID | JOURNAL_STREAM | \
          SYSTEMD_EXEC_PID | NOTIFY_SOCKET | MAINPID | MANAGERPID | LISTEN_* | WATCHDOG_* | XDG_RUNTIME_DIR | \
          XDG_SESSION_* | DBUS_SESSION_BUS_ADDRESS | SUDO_* | CREDENTIALS_DIRECTORY) continue ;;
      esac
      [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
      v=${kv#*=}
      [[ $v != *$'\n'* ]] || continue
      # Double-quoted, with the four characters systemd unescapes there.
      v=${v//\\/\\\\}; v=${v//\"/\\\"}; v=${v//\`/\\\`}; v=${v//\$/\\\$}
      printf '%s="%s"\n' "$name" "$v" >>"$envfile"
    done < <(env -0)
    # systemd expands $VAR in a service's command line: $$ keeps a $ as is.
    args=("${@//\$/\$\$}")
    # systemd-run --wait does not pass signals on: a TERM, INT or HUP for
    # us goes to the unit's main process (a worker drains on TERM).
    unit=ruse-as-worker-$$-$RANDOM
    forward() { systemctl kill --kill-who=main --signal="$1" "$unit.service" 2>/dev/null || true; }
    trap 'forward TERM' TERM
    trap 'forward INT' INT
    trap 'forward HUP' HUP
    exec 3<&0 # a background job's stdin would be /dev/null
    systemd-run --quiet --collect --wait --pipe --same-dir --unit="$unit" \
      --uid="$RUSE_USER" --gid="$RUSE_USER" -p Delegate=yes -p EnvironmentFile="$envfile" \
      --description="ruse worker user: $1" -- "${args[@]}" <&3 3<&- &
    child=$!
    while :; do
      # A trapped signal interrupts wait (status > 128): wait again, unless
      # the unit is gone. (|| keeps set -e from ending us there.)
      rc=0
      wait "$child" || rc=$?
      kill -0 "$child" 2>/dev/null || break
    done
    if [ $rc -gt 128 ]; then
      r=0
      wait "$child" 2>/dev/null || r=$?
      [ $r = 127 ] || rc=$r
    fi
    exit $rc
  elif [ -d /sys/fs/cgroup/ruse/worker ]; then
    echo $$ >/sys/fs/cgroup/ruse/worker/cgroup.procs
  fi
fi

exec setpriv --reuid "$RUSE_USER" --regid "$RUSE_USER" --init-groups \
  env HOME="$home" USER="$RUSE_USER" LOGNAME="$RUSE_USER" "$@"

#!/usr/bin/env bash
# Runs a command as the unprivileged worker user when called as root, as is
# when called as anyone else: the service and the tests never run as root.
set -euo pipefail
RUSE_USER=${RUSE_USER:-ruse}
if [ "$(id -u)" != 0 ]; then exec "$@"; fi
home=$(getent passwd "$RUSE_USER" | cut -d: -f6)
exec setpriv --reuid "$RUSE_USER" --regid "$RUSE_USER" --init-groups \
  env HOME="$home" USER="$RUSE_USER" LOGNAME="$RUSE_USER" "$@"

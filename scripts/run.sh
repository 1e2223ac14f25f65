#!/bin/sh
# run.sh - install what mxguard needs, build it, and run it in the foreground
# with the shipped default config (conf/mxguard.conf): it listens on
# unix:/run/mxguard/mxguard.sock and logs decisions to syslog and stderr.
# Stop it with Ctrl-C.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" run
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO mkdir -p /run/mxguard
"$top/build/run/mxguard" -n -c "$top/conf/mxguard.conf"
echo "run.sh: starting mxguard in the foreground (Ctrl-C stops it)"
exec $SUDO "$top/build/run/mxguard" -f -c "$top/conf/mxguard.conf"

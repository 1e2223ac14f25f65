#!/bin/sh
# run.sh - install what mxguard needs, build it, and run it in the foreground
# with the shipped default config (conf/mxguard.conf): it listens on
# unix:/run/mxguard/mxguard.sock and logs decisions to syslog and stderr.
# Stop it with Ctrl-C.
#
# mxguard refuses to run as root without a user to change to, so this
# creates the system user "mxguard" (as mxguard(8) INSTALLATION does) when
# it is missing, and runs build/run/mxguard.conf: the shipped config plus
# user = "mxguard" and, when Postfix is installed, socket_group = "postfix"
# (so that Postfix's smtpd can connect to the socket).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" run
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! getent passwd mxguard > /dev/null; then
    echo "run.sh: creating the system user mxguard"
    $SUDO adduser --quiet --system --group --home /nonexistent --no-create-home mxguard
fi
conf="$top/build/run/mxguard.conf"
set_in_shipped() { grep -qE "^[[:space:]]*$1[[:space:]]*=" "$top/conf/mxguard.conf"; }
{
    cat "$top/conf/mxguard.conf"
    echo
    echo "# added by scripts/run.sh"
    set_in_shipped user || echo 'user = "mxguard";'
    if ! set_in_shipped socket_group && getent group postfix > /dev/null; then
        echo 'socket_group = "postfix";'
    fi
} > "$conf"
$SUDO mkdir -p /run/mxguard
"$top/build/run/mxguard" -n -c "$conf"
echo "run.sh: starting mxguard in the foreground with $conf (Ctrl-C stops it)"
exec $SUDO "$top/build/run/mxguard" -f -c "$conf"

#!/bin/sh
# sendmail-ns.sh - run a command (the private Sendmail of tests/lib/sendmail.sh)
# in the namespaces unshare(1) gave it, so that nothing on the host changes:
#   unshare --uts --mount sh sendmail-ns.sh DIR SYSLOG COMMAND...
# - host name mta.rig.example (UTS namespace): Sendmail sleeps 60 s at start
#   when it cannot qualify the machine's own name;
# - DIR/etc/hosts, DIR/etc/nsswitch.conf ("hosts: files") and
#   DIR/etc/resolv.conf bound over /etc's (mount namespace): that name
#   resolves to 127.0.0.1 and no name lookup leaves the machine;
# - /dev replaced by DIR/dev holding the host's null, zero, random and
#   urandom and, when SYSLOG is 1, a private /dev/log socket served by
#   syslog-sink.py (Sendmail logs only through syslog(3)) writing
#   DIR/maillog, its pid in DIR/syslog.pid.
# The mounts live as long as the namespace, i.e. until COMMAND and its
# children end.  Then COMMAND is exec'd (same pid as unshare's).
set -eu
dir=$1 syslog=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
hostname mta.rig.example
for f in hosts nsswitch.conf resolv.conf; do
    mount --bind "$dir/etc/$f" "/etc/$f"
done
mkdir -p "$dir/dev"
for n in null zero random urandom; do
    : > "$dir/dev/$n"
    mount --bind "/dev/$n" "$dir/dev/$n"
done
mount --rbind "$dir/dev" /dev
if [ "$syslog" = 1 ]; then
    rm -f /dev/log
    /usr/bin/python3 "$here/syslog-sink.py" /dev/log "$dir/maillog" > "$dir/syslog.err" 2>&1 &
    echo $! > "$dir/syslog.pid"
    i=0
    while [ ! -S /dev/log ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    [ -S /dev/log ] || { echo "sendmail-ns: the private /dev/log did not appear" >&2; exit 1; }
fi
exec "$@"

#!/bin/sh
# install-peers.sh - install the peer milters of the benchmark (make bench,
# tests/bench/run.sh): OpenDKIM + OpenDMARC (column b) and rspamd (column c),
# Debian 12 packages.  Bench only: never part of the test dependencies or of
# CI's test command; run.sh skips a column whose binaries are missing.
#
# The packages' system services are not wanted (run.sh starts private
# instances with their own configs, on sockets in its temporary directory):
# no service is started during the install (a policy-rc.d that refuses, put
# in place only for the install when none exists), then the services are
# disabled where an init system knows them, and any instance that runs anyway
# (pid files of the Debian packages) is stopped by its pid.
# Usage: tests/bench/install-peers.sh       (as root, or through sudo)
set -eu

PEER_PKGS="opendkim opendmarc rspamd"

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

missing=""
for p in $PEER_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "install-peers: installing:$missing"
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# install-peers.sh: no service starts during the install\nexit 101\n' |
            $SUDO tee /usr/sbin/policy-rc.d > /dev/null
        $SUDO chmod 0755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    # opendmarc's package offers a MySQL history database: not wanted.
    echo "opendmarc opendmarc/dbconfig-install boolean false" | $SUDO debconf-set-selections || true
    rc=0
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
    # shellcheck disable=SC2086 # a list of package names
    [ "$rc" -eq 0 ] && { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        -o DPkg::Lock::Timeout=600 --no-install-recommends $missing || rc=$?; }
    [ -n "$made_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d
    [ "$rc" -eq 0 ] || exit "$rc"
else
    echo "install-peers: all peer packages present"
fi

# No system instance: disable the units (systemd need not be the running
# init: "disable" only edits links), stop what runs by its pid file.
for svc in opendkim opendmarc rspamd; do
    if command -v systemctl > /dev/null 2>&1; then
        $SUDO systemctl disable "$svc" > /dev/null 2>&1 || true
        [ -d /run/systemd/system ] && { $SUDO systemctl stop "$svc" > /dev/null 2>&1 || true; }
    fi
    command -v update-rc.d > /dev/null 2>&1 && { $SUDO update-rc.d "$svc" disable > /dev/null 2>&1 || true; }
    for pidfile in "/run/$svc/$svc.pid" "/run/$svc.pid"; do
        [ -r "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        case $pid in ''|*[!0-9]*) continue ;; esac
        if kill -0 "$pid" 2> /dev/null; then
            echo "install-peers: stopping the system $svc (pid $pid)"
            $SUDO kill -TERM "$pid" || true
        fi
    done
done
echo "install-peers: opendkim $(dpkg-query -W -f='${Version}' opendkim)," \
    "opendmarc $(dpkg-query -W -f='${Version}' opendmarc), rspamd $(dpkg-query -W -f='${Version}' rspamd)"

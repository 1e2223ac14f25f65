#!/bin/bash
# background.sh - mxguard as a real daemon (no -f): it detaches, writes its
# pidfile, resolves through its DNS layer after detaching (the resolver
# thread must be started after the fork), and reloads on SIGHUP even when
# started with a relative -c path (daemon() changes to "/").  Checked from
# the outside with miltertest and the test DNS server.
TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
rig_init background
HERE="$TESTS_SRCDIR/integration"

rig_need_exec miltertest "${MILTERTEST:-}"
rig_need_exec mxguard "${MXGUARD:-}"
rig_start_dns "$HERE/zone.conf"
SOCKET="$RIG_TMP/mxguard.sock"
# The pidfile's directory belongs to the user mxguard changes to (as
# /run/mxguard does to mxguard), so that it can remove the file at exit.
RUNDIR="$RIG_TMP/run"
mkdir -p "$RUNDIR"
[ -n "$RIG_MX_PRIVS" ] && chown nobody "$RUNDIR"

write_conf() { # authserv-id
    cat > "$RIG_TMP/mxguard.conf" <<EOC
socket = "unix:$SOCKET";
$RIG_MX_PRIVS
pidfile = "$RUNDIR/mxguard.pid";
syslog_facility = "local5";
authserv_id = "$1";
dns = { upstream = "127.0.0.1@$RIG_DNS_PORT"; timeout_ms = 2000; };
EOC
}

# accept_with AR: one message from an SPF-pass sender, expecting this A-R.
accept_with() {
    timeout 15 "$MILTERTEST" -D TESTDIR="$HERE" -D SOCK="unix:$SOCKET" -D IP=192.0.2.10 \
        -D HOST=mx.client.example -D HELO=mx.client.example -D QID=QBG \
        -D FROM="<user@pass.example>" -D AR_WANT="$1" -s "$HERE/accept.lua" \
        > "$RIG_TMP/mt.out" 2>&1 && grep -qx PASS "$RIG_TMP/mt.out"
}
mx_pid() { cat "$RUNDIR/mxguard.pid" 2>/dev/null; }
mx_alive() { local p; p=$(mx_pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

write_conf mx.one.example
# Started from the temp dir with a relative path; it must detach.
(cd "$RIG_TMP" && timeout 20 "$MXGUARD" -c mxguard.conf) > "$RIG_TMP/start.out" 2>&1
rig_eq "mxguard detaches with status 0" 0 "$?"
rig_check "pidfile written" rig_wait_for 10 mx_alive
pid=$(mx_pid)
[ -n "$pid" ] && rig_bg mxguard "$pid"
rig_check "socket created" rig_wait_for 10 test -S "$SOCKET"
chmod 0666 "$SOCKET" 2>/dev/null

WANT="spf=pass smtp.mailfrom=user@pass.example; spf=pass smtp.helo=mx.client.example"
rig_check "detached daemon resolves: A-R has spf=pass" accept_with "mx.one.example; $WANT"

# Reload: the new authserv-id shows in the next message's header.
write_conf mx.two.example
kill -HUP "$pid"
reloaded() { # at most 10 tries, each bounded by accept_with's timeout
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        accept_with "mx.two.example; $WANT" && return 0
        sleep 0.5
    done
    return 1
}
rig_check "SIGHUP reloads the relative config path" reloaded
rig_check "still the same process after reload" test "$(mx_pid)" = "$pid"

# SIGTERM: exits and removes its pidfile.
kill -TERM "$pid"
gone() { ! kill -0 "$pid" 2>/dev/null; }
rig_check "SIGTERM stops the daemon within 15 s" rig_wait_for 15 gone
rig_check "pidfile removed" test ! -e "$RUNDIR/mxguard.pid"
if [ "$RIG_FAILS" -ne 0 ]; then sed 's/^/#   /' "$RIG_TMP/mt.out"; fi
rig_finish
